package core

import (
	"context"
	"errors"
	"fmt"
)

type opKind uint8

const (
	opEvents opKind = iota // from a bridge, or typing from a session
	opSend                 // a session's outgoing message
	opAttach
	opDetach
	opStatus
	opMarker
)

// op is one unit of work for a user's dispatcher. done is nil for ops
// nobody waits for.
type op struct {
	kind    opKind
	session *Session
	events  []Event
	writes  []Write
	status  Status
	marker  ReadMarker
	done    chan error
}

// maxBatchOps bounds how many queued ops one store transaction takes, so a
// flood from one network cannot starve the user's other work for long.
const maxBatchOps = 256

// userState is one user's mutable state, owned by its dispatcher goroutine
// (apart from status, which runners read under Hub.mu when they start).
type userState struct {
	id       UserID
	inbox    chan *op
	sessions map[SessionID]*Session
	statuses map[SessionID]Status
	status   Status // the applied, aggregated status; guarded by Hub.mu
	rooms    rooms
	contacts contacts
}

// userLocked returns the user's state, starting its dispatcher on first use.
// h.mu must be held.
func (h *Hub) userLocked(id UserID) *userState {
	u, ok := h.users[id]
	if !ok {
		u = &userState{
			id:       id,
			inbox:    make(chan *op, maxBatchOps),
			sessions: make(map[SessionID]*Session),
			statuses: make(map[SessionID]Status),
		}
		u.status = h.detachedStatus()
		h.users[id] = u
		h.wg.Add(1)
		go h.dispatch(u)
	}
	return u
}

// post hands o to the user's dispatcher and waits until it is done.
func (h *Hub) post(ctx context.Context, user UserID, o *op) error {
	o.done = make(chan error, 1)
	if err := h.enqueue(ctx, user, o); err != nil {
		return err
	}
	select {
	case err := <-o.done:
		return err
	case <-ctx.Done():
		// The op may still complete; the caller learns only that it
		// stopped waiting.
		return ctx.Err()
	case <-h.done:
		return ErrHubClosed
	}
}

// enqueue hands o to the user's dispatcher without waiting for it.
func (h *Hub) enqueue(ctx context.Context, user UserID, o *op) error {
	h.mu.Lock()
	if h.closing() {
		h.mu.Unlock()
		return ErrHubClosed
	}
	u := h.userLocked(user)
	h.mu.Unlock()
	select {
	case u.inbox <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.done:
		return ErrHubClosed
	}
}

// dispatch is the user's goroutine: it takes ops in arrival order, stores
// the messages of a batch of them in one transaction, then applies each op
// in order.
func (h *Hub) dispatch(u *userState) {
	defer h.wg.Done()
	defer func() {
		for _, s := range u.sessions {
			s.close(ErrHubClosed)
		}
	}()
	batch := make([]*op, 0, maxBatchOps)
	for {
		select {
		case o := <-u.inbox:
			batch = append(batch[:0], o)
		case <-h.ctx.Done():
			return
		}
	drain:
		for len(batch) < maxBatchOps {
			select {
			case o := <-u.inbox:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		storeErrs := h.storeBatch(batch)
		for i, o := range batch {
			err := storeErrs[i]
			if err == nil {
				err = h.apply(u, o)
			}
			if o.done != nil {
				o.done <- err
			}
		}
	}
}

// storeBatch appends the messages of every op in one transaction and
// returns each op's error. If the transaction fails, each op is tried on
// its own, so one bad op (a session naming a conversation it does not own)
// cannot lose a bridge's messages.
func (h *Hub) storeBatch(batch []*op) []error {
	errs := make([]error, len(batch))
	var writes []Write
	for _, o := range batch {
		writes = append(writes, o.writes...)
	}
	if len(writes) == 0 {
		return errs
	}
	if err := h.cfg.Store.Append(h.ctx, writes); err == nil {
		// Copy the results back: Append filled IDs and Duplicate flags.
		i := 0
		for _, o := range batch {
			i += copy(o.writes, writes[i:i+len(o.writes)])
		}
		return errs
	}
	for i, o := range batch {
		if len(o.writes) == 0 {
			continue
		}
		if errs[i] = h.cfg.Store.Append(h.ctx, o.writes); errs[i] != nil {
			h.log.Error("storing messages", "user", o.writes[0].Message.User, "count", len(o.writes), "err", errs[i])
		}
	}
	return errs
}

// apply performs one op after its messages are durable.
func (h *Hub) apply(u *userState, o *op) error {
	switch o.kind {
	case opAttach:
		u.sessions[o.session.ID] = o.session
		h.updateStatus(u)
		return nil
	case opDetach:
		if _, ok := u.sessions[o.session.ID]; ok {
			delete(u.sessions, o.session.ID)
			delete(u.statuses, o.session.ID)
			o.session.close(ErrDetached)
			h.updateStatus(u)
		}
		return nil
	case opStatus:
		if _, ok := u.sessions[o.session.ID]; !ok {
			return errors.New("session is not attached")
		}
		u.statuses[o.session.ID] = o.status
		h.updateStatus(u)
		return nil
	case opMarker:
		advanced, err := h.cfg.Store.SetReadMarker(h.ctx, o.marker)
		if err != nil || !advanced {
			return err
		}
		h.fanout(u, ReadMarkerEvent{ReadMarker: o.marker, From: o.session.ID})
		if o.marker.Device == "" {
			h.sendReadMarker(o.marker)
		}
		return nil
	case opSend:
		w := o.writes[0]
		if !w.Duplicate {
			h.fanout(u, MessageEvent{Message: w.Message, From: o.session.ID})
			h.kickOutbound(w.Message.Network)
		}
		return nil
	}
	for _, e := range o.events {
		switch e := e.(type) {
		case MessageEvent:
			if w := findWrite(o.writes, e.Message); w != nil && w.Duplicate {
				continue // already stored and delivered once
			}
		case TypingEvent:
			if e.Direction == Outgoing && e.From != 0 { // from a session, not a bridge's echo
				h.sendTyping(e)
			}
		case unsupportedEvent:
			h.log.Warn("bridge sent an event only the hub may send; dropped", "type", fmt.Sprintf("%T", e.inner))
			continue
		case RoomMembersEvent, MembershipEvent, TopicEvent:
			for _, before := range u.rooms.track(e) {
				h.fanout(u, before)
			}
		case ContactsEvent, ContactEvent, SubscriptionEvent, PresenceEvent:
			u.contacts.track(e)
		case NetworkStateEvent:
			if e.State != StateConnected {
				// Its contacts' presence is no longer known: devices
				// must not show them online while the network is down.
				// The bridge sends it afresh when it connects again.
				for _, off := range u.contacts.present(e.User, e.Network) {
					u.contacts.track(off)
					h.fanout(u, off)
				}
			}
		}
		h.fanout(u, e)
	}
	return nil
}

func findWrite(ws []Write, m *Message) *Write {
	for i := range ws {
		if ws[i].Message == m {
			return &ws[i]
		}
	}
	return nil
}

// fanout queues e on every session of u without ever blocking: a session
// whose queue is full is dropped and catches up from history later.
func (h *Hub) fanout(u *userState, e Event) {
	dropped := false
	for id, s := range u.sessions {
		if !s.push(e, h.cfg.SessionQueue) {
			h.log.Warn("dropping slow session", "user", u.id, "session", id, "device", s.Device)
			delete(u.sessions, id)
			delete(u.statuses, id)
			s.close(ErrSlowSession)
			dropped = true
		}
	}
	if dropped {
		// The dropped device no longer counts towards the user's status.
		h.updateStatus(u)
	}
}

// updateStatus recomputes the user's status from their sessions and
// applies a change to every network.
func (h *Hub) updateStatus(u *userState) {
	st := h.detachedStatus()
	first := true
	for id := range u.sessions {
		s, ok := u.statuses[id]
		if !ok {
			s = Status{Show: ShowAvailable}
		}
		if first || s.Show > st.Show {
			st, first = s, false
		}
	}
	h.mu.Lock()
	changed := u.status != st
	u.status = st
	var rs []*runner
	if changed {
		for _, r := range h.runners {
			if r.network.User == u.id {
				rs = append(rs, r)
			}
		}
	}
	h.mu.Unlock()
	if !changed {
		return
	}
	for _, r := range rs {
		r.setStatus(st)
	}
	h.fanout(u, StatusEvent{User: u.id, Status: st})
}

// detachedStatus is the user's status when no device is attached.
func (h *Hub) detachedStatus() Status {
	if h.cfg.AwayWhenDetached {
		return h.cfg.AwayStatus
	}
	return Status{Show: ShowAvailable}
}

func (h *Hub) kickOutbound(network NetworkID) {
	h.mu.Lock()
	r := h.runners[network]
	h.mu.Unlock()
	if r != nil {
		r.kick()
	}
}

func (h *Hub) sendTyping(e TypingEvent) {
	h.mu.Lock()
	r := h.runners[e.Network]
	h.mu.Unlock()
	if r != nil {
		r.typing(e)
	}
}

// sendReadMarker hands the user's read position to every network of theirs
// that passes read receipts on; each finds out whether it is its own.
func (h *Hub) sendReadMarker(m ReadMarker) {
	h.mu.Lock()
	var rs []*runner
	for _, r := range h.runners {
		if _, ok := r.bridge.(ReadMarkerSender); ok && r.network.User == m.User {
			rs = append(rs, r)
		}
	}
	h.mu.Unlock()
	for _, r := range rs {
		r.readMarker(m)
	}
}
