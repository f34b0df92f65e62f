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

// Session is one device attached to the Hub: an XMPP stream, an SSE
// subscriber, a web page. The client port reads Events and writes them to
// its wire. Events is closed when the session is dropped or detached;
// Err then says why.
type Session struct {
	ID     SessionID
	User   UserID
	Device string // the client's name for itself (XMPP resource, token name)

	events chan Event
	hub    *Hub

	mu  sync.Mutex
	err error
}

// Events is the session's bounded queue. The Hub never blocks on it: when
// it is full the session is dropped.
func (s *Session) Events() <-chan Event { return s.events }

// Err says why Events was closed, or nil while it is open.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Detach removes the session from the Hub and closes Events. It is safe to
// call more than once and after the Hub dropped the session.
func (s *Session) Detach() {
	_ = s.hub.enqueue(context.Background(), s.User, &op{kind: opDetach, session: s})
}

// close is called only by the user's dispatcher, the one sender on events.
func (s *Session) close(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
		close(s.events)
	}
	s.mu.Unlock()
}
