package core

import (
	"context"
	"errors"
	"sync"
)

// SessionID identifies one attached device session within a Hub.
type SessionID int64

// ErrSlowSession closes a session whose queue overflowed; its device
// reconnects and catches up from history.
var ErrSlowSession = errors.New("session dropped: it did not keep up with its events")

// ErrHubClosed is returned by Hub methods after the Hub stopped.
var ErrHubClosed = errors.New("hub closed")

// ErrDetached closes a session its client port detached.
var ErrDetached = errors.New("session detached")

// Session is one device attached to the Hub: an XMPP stream, an SSE
// subscriber, a web page. The client port waits on Ready, Takes what is
// queued and writes it to its wire. Once the session is dropped or
// detached, Take and Next return why, after the events still queued.
//
// The queue is a slice that grows only while the device is behind, so
// the thousands of idle devices a server holds cost no buffer each;
// HubConfig.SessionQueue bounds it.
type Session struct {
	ID     SessionID
	User   UserID
	Device string // the client's name for itself (XMPP resource, token name)

	hub   *Hub
	ready chan struct{} // holds a token while events are queued or the session closed

	mu     sync.Mutex
	queue  []Event
	spare  []Event // an emptied queue's array, kept by GiveBack
	closed error   // why the session ended; nil while it is open
}

func newSession(h *Hub, id SessionID, user UserID, device string) *Session {
	return &Session{ID: id, User: user, Device: device, hub: h, ready: make(chan struct{}, 1)}
}

// Ready is signalled when events were queued or the session closed;
// Take then returns them. A signal may find nothing left to take when
// Next took it first.
func (s *Session) Ready() <-chan struct{} { return s.ready }

// Take returns every queued event, oldest first, and once the session is
// closed, the reason; events queued before the close come with it.
func (s *Session) Take() ([]Event, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.queue
	s.queue = nil
	return q, s.closed
}

// spareMax is the longest queue whose array GiveBack keeps.
const spareMax = 64

// GiveBack hands back a slice Take returned, once its events are dealt
// with: a busy device then queues its next events in the same array
// rather than a new one after each Take (a thousand devices in a busy
// room made that a good part of the port's garbage). A burst's long
// queue is let go. The caller must not use q afterwards.
func (s *Session) GiveBack(q []Event) {
	if cap(q) == 0 || cap(q) > spareMax {
		return
	}
	clear(q) // the events belong to the past now
	s.mu.Lock()
	s.spare = q[:0]
	s.mu.Unlock()
}

// Next waits for the session's next event. It returns the reason the
// session closed once nothing is left queued, or ctx's error.
func (s *Session) Next(ctx context.Context) (Event, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			e := s.queue[0]
			s.queue[0] = nil
			s.queue = s.queue[1:]
			if len(s.queue) == 0 {
				s.queue = nil
			}
			s.mu.Unlock()
			return e, nil
		}
		err := s.closed
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Err says why the session closed, or nil while it is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Detach removes the session from the Hub and closes it with
// ErrDetached. It is safe to call more than once and after the Hub
// dropped the session.
func (s *Session) Detach() {
	_ = s.hub.enqueue(context.Background(), s.User, &op{kind: opDetach, session: s})
}

// push queues e; false when limit events are already waiting, which
// means the device fell behind. Only the user's dispatcher pushes.
func (s *Session) push(e Event, limit int) bool {
	s.mu.Lock()
	if s.closed != nil {
		s.mu.Unlock()
		return true // already gone; nothing more is owed to it
	}
	if len(s.queue) >= limit {
		s.mu.Unlock()
		return false
	}
	if s.queue == nil {
		s.queue, s.spare = s.spare, nil
	}
	s.queue = append(s.queue, e)
	s.mu.Unlock()
	s.signal()
	return true
}

// close is called only by the user's dispatcher.
func (s *Session) close(err error) {
	s.mu.Lock()
	if s.closed == nil {
		s.closed = err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Session) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}
