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

// refResolver resolves the references of one batch's events for one
// recipient. The latest refScan messages of a conversation are read once
// per batch, not once per reference: a batch of 256 references must not
// cost 256 reads of the history.
type refResolver struct {
	b *bridge
	// index maps a peer's address to the event ids of the conversation's
	// latest messages.
	index map[string]map[string]*core.Message
	// sent holds peer address + NUL + event id of the messages and
	// reactions earlier in the batch: the store resolves references to
	// them in the same transaction.
	sent map[string]bool
}

func newRefResolver(b *bridge) *refResolver {
	return &refResolver{b: b, index: make(map[string]map[string]*core.Message), sent: make(map[string]bool)}
}

// stored notes a message of peer's in the batch.
func (r *refResolver) stored(peer Address, id string) { r.sent[peer.String()+"\x00"+id] = true }

// local finds the user's stored message that the peer's event id names in
// their conversation: one the user sent (whose event id is computed, not
// stored) or one the peer sent; nil when it is not among the latest
// refScan messages or the bridge has no history to read.
func (r *refResolver) local(ctx context.Context, peer Address, id string) *core.Message {
	idx, ok := r.index[peer.String()]
	if !ok {
		idx = r.b.latestByEventID(ctx, peer)
		r.index[peer.String()] = idx
	}
	return idx[id]
}

// latestByEventID maps the event ids of the latest refScan messages of the
// conversation with peer to the messages.
func (b *bridge) latestByEventID(ctx context.Context, peer Address) map[string]*core.Message {
	h := b.env.History
	if h == nil {
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
	idx := make(map[string]*core.Message)
	q := core.PageQuery{User: b.env.User.ID, Conversation: conv, Order: core.NewestFirst, Limit: core.MaxPageLimit}
	for scanned := 0; scanned < refScan; {
		page, err := h.Messages(ctx, q)
		if err != nil {
			b.env.Log.Warn("reading messages to resolve a reference", "err", err)
			return idx
		}
		for _, m := range page {
			if id := b.eventIDOf(m); id != "" {
				if _, newer := idx[id]; !newer {
					idx[id] = m
				}
			}
		}
		if len(page) < q.Limit {
			break
		}
		scanned += len(page)
		q.Before = page[len(page)-1].ID
	}
	return idx
}

// ref is a received reference: resolved here when it names a recent
// message of the conversation, else left to the store, which finds the
// peer's messages by origin id. A correction must name one of the peer's
// own messages, among those searched or earlier in the batch: a peer does
// not get to rewrite the user's words.
func (r *refResolver) ref(ctx context.Context, from Address, id string, correction bool) core.MessageRef {
	if id == "" || reservedID(id) {
		return core.MessageRef{}
	}
	m := r.local(ctx, from, id)
	switch {
	case m == nil && r.sent[from.String()+"\x00"+id]:
		return core.MessageRef{OriginID: id}
	case correction && (m == nil || m.Direction != core.Incoming):
		// Beyond the messages searched the store could resolve the id to
		// one of the user's own (their event ids are origin ids too).
		return core.MessageRef{}
	case m == nil:
		return core.MessageRef{OriginID: id}
	}
	return core.MessageRef{ID: m.ID, OriginID: id}
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
