package fed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Typing notifications are ephemeral: not stored, queued or retried. A
// user's are limited to typingRate a second (burst typingBurst); the rest
// are dropped, as a network drops them under load.
const (
	typingRate  = 2
	typingBurst = 5
	// ephemeralTimeout bounds the one attempt at a peer's endpoint.
	ephemeralTimeout = 5 * time.Second
)

var (
	_ core.TypingSender     = (*bridge)(nil)
	_ core.ReadMarkerSender = (*bridge)(nil)
)

// SendTyping passes the user's chat state in a direct conversation on:
// in-process to a user of this domain, and by one best-effort request to
// another's server.
func (b *bridge) SendTyping(ctx context.Context, e core.TypingEvent) error {
	if e.Peer.Kind != core.Direct {
		return nil
	}
	to, err := ParseAddress(e.Peer.Remote)
	if err != nil {
		return core.Permanent(err)
	}
	ev := Event{ID: randomEventID(), Type: TypeTyping, From: b.self.String(), To: to.String(),
		Time: b.svc.now().UTC(), State: string(e.State)}
	if err := ev.checkTyping(); err != nil {
		return core.Permanent(err)
	}
	if !b.typing.Allow() {
		metricOutEvents.WithLabelValues("typing_dropped").Inc()
		return nil
	}
	return b.svc.sendEphemeral(ctx, ev, to)
}

// randomEventID names an event nobody refers to later.
func randomEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sendEphemeral delivers an event once, without queueing it: a peer that
// is busy with another ephemeral event, down or slow loses it.
func (s *Service) sendEphemeral(ctx context.Context, ev Event, to Address) error {
	if to.Domain == s.domain {
		_, err := s.receive(ctx, s.domain, []Event{ev})
		return err
	}
	if s.queue == nil {
		return nil // no federation with other domains
	}
	p, err := s.peer(to.Domain)
	if err != nil {
		return core.Permanent(err)
	}
	s.mu.Lock()
	runCtx := s.runCtx
	s.mu.Unlock()
	if runCtx == nil || runCtx.Err() != nil || !p.ephemeral.CompareAndSwap(false, true) {
		metricOutEvents.WithLabelValues("typing_dropped").Inc()
		return nil
	}
	body, err := json.Marshal(Batch{Events: []Event{ev}})
	if err != nil {
		p.ephemeral.Store(false)
		return core.Permanent(err)
	}
	// The runner that called must not wait for the network.
	go func() {
		defer p.ephemeral.Store(false)
		ctx, cancel := context.WithTimeout(runCtx, ephemeralTimeout)
		defer cancel()
		status, answer, _, err := p.post(ctx, "events", body)
		if err != nil || status != 200 {
			s.log.Debug("an ephemeral federation event was lost", "peer", p.domain, "type", ev.Type, "status", status,
				"answer", string(answer[:min(len(answer), 200)]), "err", err)
			return
		}
		metricOutEvents.WithLabelValues("ephemeral").Inc()
	}()
	return nil
}

// readIDPrefix begins the ids of read events.
const readIDPrefix = "read:"

// SendReadMarker tells the peer of a direct conversation that the user
// read it up to a message the peer sent. Read events travel like messages
// (queued, retried, in order after the messages before them), under an id
// derived from the position, so one position is queued once.
func (b *bridge) SendReadMarker(ctx context.Context, rm core.ReadMarker) error {
	mr, ok := b.env.History.(core.MessageReader)
	if !ok || rm.Device != "" {
		return nil
	}
	m, err := mr.Message(ctx, b.env.User.ID, rm.Upto)
	if err != nil {
		return err
	}
	if m.Network != b.env.Network.ID || m.Peer.Kind != core.Direct || m.Direction != core.Incoming {
		return nil // another network's, or a position on the user's own message
	}
	to, err := ParseAddress(m.Peer.Remote)
	upto := b.eventIDOf(m)
	if err != nil || upto == "" {
		return nil
	}
	at := rm.At
	if at.IsZero() {
		at = b.svc.now()
	}
	ev := Event{ID: readIDPrefix + eventID(b.self, rm.Upto), Type: TypeRead, From: b.self.String(), To: to.String(),
		Time: at.UTC(), Upto: upto}
	if to.Domain == b.svc.domain {
		_, err := b.svc.receive(ctx, b.svc.domain, []Event{ev})
		return err
	}
	q, err := b.svc.queued(b.env.User.ID, 0, ev, to.Domain)
	if err != nil {
		return err
	}
	return b.svc.enqueueAll(ctx, []core.FedQueued{q})
}
