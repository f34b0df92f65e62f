package fed

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/core"
)

// Kind registers the fed bridge; every user's fed network is served by
// svc. A nil svc registers the kind for validating settings only.
func Kind(svc *Service) core.BridgeKind {
	return core.BridgeKind{
		Kind: core.KindFed,
		New: func(env core.BridgeEnv) (core.Bridge, error) {
			if svc == nil {
				return nil, errors.New("the federation service is not running")
			}
			self := Address{Local: env.User.Name, Domain: svc.domain}
			return newBridge(svc, env, self), nil
		},
		ValidateSettings: func(s core.Settings) error {
			for k := range s {
				return fmt.Errorf("setting %q: a fed network takes no settings", k)
			}
			return nil
		},
		ParsePeer: parsePeer,
	}
}

func newBridge(svc *Service, env core.BridgeEnv, self Address) *bridge {
	return &bridge{svc: svc, env: env, self: self, typing: rate.NewLimiter(typingRate, typingBurst)}
}

// bridge is one user's fed network.
type bridge struct {
	svc  *Service
	env  core.BridgeEnv
	self Address
	pres presenceState // presence.go
	// typing limits the user's typing notifications (ephemeral.go).
	typing *rate.Limiter
}

// Run makes the user reachable for as long as the network runs.
func (b *bridge) Run(ctx context.Context) error {
	b.svc.register(b)
	defer b.svc.unregister(b)
	err := b.env.Inbound.Receive(ctx, core.NetworkStateEvent{State: core.StateConnected})
	if err != nil && ctx.Err() == nil {
		b.env.Log.Warn("reporting the fed network connected", "err", err)
	}
	b.started(ctx)
	go b.rejoinRooms(ctx) // rooms.go
	<-ctx.Done()
	b.stopped()
	return nil
}

// Send turns m into an event and hands it to the Service. The event id is
// derived from the message's server id, so a retry after a crash sends
// the same id and the receiver drops the second copy.
func (b *bridge) Send(ctx context.Context, m *core.Message) (string, error) {
	ev, err := b.event(ctx, m)
	if err != nil {
		return "", core.Permanent(err)
	}
	return networkID(m, ev), b.svc.send(ctx, m, ev)
}

// networkID is the id the Hub records as a sent message's origin id: the
// event id for a room message, whose home fans it back out (the store
// drops that copy by it), and none for a direct one. A direct message's
// event id is computed when needed (refs.go); recorded, a peer that knows
// it could name the user's own message in the store's origin ids: send
// a message under that id to have it dropped as a duplicate, and correct
// it.
func networkID(m *core.Message, ev Event) string {
	if m.Peer.Kind == core.Room {
		return ev.ID
	}
	return ""
}

// SendBatch is Send for a run of queued messages: events for other
// domains go into their peers' queues in one transaction, events for
// this domain to their recipients. Any refusal fails the whole batch, and
// the Hub then sends one at a time (receivers drop what arrives twice).
func (b *bridge) SendBatch(ctx context.Context, msgs []*core.Message) ([]string, error) {
	ids := make([]string, len(msgs))
	var local []Event
	var remote []core.FedQueued
	for i, m := range msgs {
		ev, err := b.event(ctx, m)
		if err != nil {
			return nil, err
		}
		ids[i] = networkID(m, ev)
		to, _ := ParseAddress(ev.To)
		if to.Domain == b.svc.domain {
			local = append(local, ev)
			continue
		}
		q, err := b.svc.queued(m.User, m.ID, ev, to.Domain)
		if err != nil {
			return nil, err
		}
		remote = append(remote, q)
	}
	if len(local) > 0 {
		results, err := b.svc.receive(ctx, b.svc.domain, local)
		if err != nil {
			return nil, err
		}
		for _, r := range results {
			if r.Status == StatusRejected {
				return nil, fmt.Errorf("event %s rejected: %s", r.ID, r.Error)
			}
		}
	}
	if len(remote) > 0 {
		if err := b.svc.enqueueAll(ctx, remote); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (b *bridge) event(ctx context.Context, m *core.Message) (Event, error) {
	to, err := ParseAddress(m.Peer.Remote)
	if err != nil {
		return Event{}, err
	}
	if to.IsRoom() != (m.Peer.Kind == core.Room) {
		return Event{}, fmt.Errorf("%s: rooms are #name@domain, users name@domain", to)
	}
	switch m.Kind {
	case core.KindChat, core.KindAction, core.KindNotice:
	case core.KindReaction:
		return b.reactionEvent(ctx, m, to)
	default:
		return Event{}, fmt.Errorf("message kind %q cannot be sent to %s", m.Kind, to)
	}
	ev := Event{
		ID:   eventID(b.self, m.ID),
		Type: TypeMessage,
		From: b.self.String(),
		To:   to.String(),
		Time: m.Time.UTC(),
		Kind: string(m.Kind),
		Body: m.Body,
		// A reference the peer cannot know (a message of another
		// network) is left out: the message still goes, as a new one.
		ReplyTo:      b.wireRef(ctx, m.ReplyTo),
		CorrectionOf: b.wireRef(ctx, m.CorrectionOf),
	}
	for _, a := range m.Attachments {
		ev.Attachments = append(ev.Attachments, Attachment{URL: a.URL, Name: a.Name, MediaType: a.MediaType, Size: a.Size})
	}
	if err := ev.checkMessage(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// reactionEvent is the event of a reaction message: the sender's whole
// set for the message it names, which the peer must know.
func (b *bridge) reactionEvent(ctx context.Context, m *core.Message, to Address) (Event, error) {
	if to.IsRoom() {
		return Event{}, errors.New("reactions in rooms are not carried")
	}
	ev := Event{
		ID:        eventID(b.self, m.ID),
		Type:      TypeReaction,
		From:      b.self.String(),
		To:        to.String(),
		Time:      m.Time.UTC(),
		ReactsTo:  b.wireRef(ctx, m.ReplyTo),
		Reactions: m.Reactions(),
	}
	if ev.ReactsTo == "" {
		return Event{}, fmt.Errorf("%s cannot know the message reacted to", to)
	}
	if err := ev.checkReaction(); err != nil {
		return Event{}, err
	}
	return ev, nil
}

// eventID names the event of a stored message: stable across retries,
// unique per sender, and revealing nothing of the server's ids.
func eventID(sender Address, id core.MessageID) string {
	sum := sha256.Sum256([]byte(sender.String() + "\x00" + strconv.FormatInt(int64(id), 10)))
	return hex.EncodeToString(sum[:16])
}
