package fed

import (
	"context"
	"strings"

	"github.com/switchboard/switchboard/core"
)

// Events name earlier events by event id (reply_to, correction_of,
// reacts_to, upto). A stored message's event id is, for one the user
// sent, eventID of the user and the message's server id, and for one the
// peer sent, the origin id it was stored under.

// wireRef is the event id by which the peer knows the message r points
// at, "" when there is none: the message is unknown, of another network,
// or arrived with an id that is not an event id.
func (b *bridge) wireRef(ctx context.Context, r core.MessageRef) string {
	if r.ID == 0 {
		return ""
	}
	mr, ok := b.env.History.(core.MessageReader)
	if !ok {
		return ""
	}
	m, err := mr.Message(ctx, b.env.User.ID, r.ID)
	if err != nil || m.Network != b.env.Network.ID {
		return ""
	}
	return b.eventIDOf(m)
}

// eventIDOf is the event id of a stored message of this network.
func (b *bridge) eventIDOf(m *core.Message) string {
	if m.Direction == core.Outgoing {
		return eventID(b.self, m.ID)
	}
	if checkID(m.OriginID) != nil {
		return ""
	}
	return m.OriginID
}

// refScan bounds how many of a conversation's latest messages are searched
// for an event id: references point at recent messages, and a peer must
// not make the receiver read a whole history.
const refScan = 1000

// localRef finds the user's stored message that the peer's event id names
// in their conversation with peer: one the user sent (whose event id is
// computed, not stored) or one the peer sent. Zero when it is not among
// the latest refScan messages or the bridge has no history to read.
func (b *bridge) localRef(ctx context.Context, peer Address, id string) core.MessageID {
	if m := b.localMessage(ctx, peer, id); m != nil {
		return m.ID
	}
	return 0
}

// localMessage is localRef's message, nil when not found.
func (b *bridge) localMessage(ctx context.Context, peer Address, id string) *core.Message {
	h := b.env.History
	if h == nil || id == "" {
		return nil
	}
	convs, err := h.Conversations(ctx, b.env.User.ID)
	if err != nil {
		b.env.Log.Warn("listing conversations to resolve a reference", "err", err)
		return nil
	}
	var conv core.ConversationID
	for _, c := range convs {
		if c.Network == b.env.Network.ID && c.Kind == core.Direct && c.Remote == peer.String() {
			conv = c.ID
			break
		}
	}
	if conv == 0 {
		return nil
	}
	q := core.PageQuery{User: b.env.User.ID, Conversation: conv, Order: core.NewestFirst, Limit: core.MaxPageLimit}
	for scanned := 0; scanned < refScan; {
		page, err := h.Messages(ctx, q)
		if err != nil {
			b.env.Log.Warn("reading messages to resolve a reference", "err", err)
			return nil
		}
		for _, m := range page {
			if b.eventIDOf(m) == id {
				return m
			}
		}
		if len(page) < q.Limit {
			return nil
		}
		scanned += len(page)
		q.Before = page[len(page)-1].ID
	}
	return nil
}

// reservedPrefixes begin the origin ids this server's own ports give its
// users' messages (clientapi/xmpp, clientapi/http, history's import,
// bridges/irc). A peer's event id, or a reference it sends, with one of
// them could name one of those messages: make the user's next message
// count as a duplicate, or "correct" the user's own words. Switchboard's
// event ids are hex (and "read:" + hex); others have no use for these.
var reservedPrefixes = []string{"xmpp-origin:", "http-idem:", "switchboard-export:", "irc-h:"}

// reservedID reports whether id begins with a reserved prefix.
func reservedID(id string) bool {
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}
