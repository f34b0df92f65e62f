package xmpp

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// outQueue is how many stanzas may wait for a slow client; past it the
// stream ends and the client catches up from the archive when it returns.
const outQueue = 1024

// session is a bound XMPP stream of one user's device.
type session struct {
	c        *conn
	srv      *Server
	user     core.User
	bare     string // alice@example.org
	full     string // alice@example.org/phone
	resource string
	hs       *core.Session
	nets     *networks
	log      *slog.Logger

	out       chan []byte
	closeOnce sync.Once
	done      chan struct{}
	endErr    atomic.Pointer[streamError]

	carbons   atomic.Bool
	available atomic.Bool
	roster    rosterState
}

// bind waits for the client's resource binding (RFC 6120 §7) and attaches
// the device to the Hub. A second stream with the same resource replaces
// the first.
func (c *conn) bind(ctx context.Context) (*session, error) {
	for {
		e, err := c.nextElement(negotiationTimeout)
		if err != nil {
			return nil, err
		}
		if e.Name.Local != "iq" || e.Name.Space != nsClient {
			return nil, streamErr("not-authorized", "bind a resource first")
		}
		b := e.child(nsBind, "bind")
		if b == nil || e.attr("type") != "set" {
			_ = c.writeEl(iqError(e, "cancel", "not-allowed", "bind a resource first"))
			continue
		}
		resource := b.childText(nsBind, "resource")
		if resource == "" {
			resource = "switchboard-" + randomID()[:8]
		}
		full, err := jid.New(c.user.Name, c.srv.domain, resource)
		if err != nil {
			_ = c.writeEl(iqError(e, "modify", "bad-request", "invalid resource"))
			continue
		}
		s := &session{
			c: c, srv: c.srv, user: c.user,
			bare: full.Bare().String(), full: full.String(), resource: full.Resourcepart(),
			nets: newNetworks(c.srv.store, c.user.ID),
			log:  c.log.With("user", c.user.Name, "resource", full.Resourcepart()),
			out:  make(chan []byte, outQueue),
			done: make(chan struct{}),
		}
		if err := s.nets.load(ctx); err != nil {
			_ = c.writeEl(iqError(e, "wait", "internal-server-error", ""))
			return nil, err
		}
		hs, err := c.srv.hub.Attach(ctx, c.user.ID, s.resource)
		if err != nil {
			_ = c.writeEl(iqError(e, "wait", "internal-server-error", ""))
			return nil, err
		}
		s.hs = hs
		c.srv.register(s)
		res := iqResult(e).add(el(nsBind, "bind").add(el(nsBind, "jid").withText(s.full)))
		if err := c.writeEl(res); err != nil {
			s.end(nil)
			return nil, err
		}
		return s, nil
	}
}

// register records the session under its resource, replacing an older
// stream with the same one.
func (srv *Server) register(s *session) {
	srv.mu.Lock()
	byRes := srv.sessions[s.user.ID]
	if byRes == nil {
		byRes = make(map[string]*session)
		srv.sessions[s.user.ID] = byRes
	}
	old := byRes[s.resource]
	byRes[s.resource] = s
	srv.mu.Unlock()
	if old != nil {
		old.end(&streamError{condition: "conflict", text: "replaced by a new connection with the same resource"})
	}
}

func (srv *Server) unregister(s *session) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if byRes := srv.sessions[s.user.ID]; byRes[s.resource] == s {
		delete(byRes, s.resource)
		if len(byRes) == 0 {
			delete(srv.sessions, s.user.ID)
		}
	}
}

// end stops the session; a non-nil se is sent as the stream error.
func (s *session) end(se *streamError) {
	s.closeOnce.Do(func() {
		if se != nil {
			s.endErr.Store(se)
		}
		close(s.done)
		// Unblock the reader; run sends the stream error.
		s.c.nc.SetReadDeadline(aLongTimeAgo)
	})
}

// run serves the bound stream: a reader (this goroutine), a writer, and
// the Hub's events for this device.
func (s *session) run(ctx context.Context) error {
	defer s.srv.unregister(s)
	defer s.hs.Detach()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.writeLoop()
	}()
	go func() {
		defer wg.Done()
		s.eventLoop(ctx)
	}()
	err := s.readLoop(ctx)
	s.end(nil)
	wg.Wait()
	if se := s.endErr.Load(); se != nil {
		return se
	}
	return err
}

func (s *session) readLoop(ctx context.Context) error {
	for {
		e, err := s.c.nextElement(0)
		if err != nil {
			select {
			case <-s.done:
				return nil // ended from elsewhere; run sends the reason
			default:
			}
			return err
		}
		if e.Name.Space != nsClient {
			return streamErr("unsupported-stanza-type", "<%s xmlns='%s'> is not a stanza", e.Name.Local, e.Name.Space)
		}
		// Every stanza from a client is from its full JID, whatever it
		// claims (RFC 6120 §8.1.2.1).
		e.setAttr("from", s.full)
		switch e.Name.Local {
		case "message":
			s.handleMessage(ctx, e)
		case "presence":
			s.handlePresence(ctx, e)
		case "iq":
			s.handleIQ(ctx, e)
		default:
			return streamErr("unsupported-stanza-type", "<%s/> is not a stanza", e.Name.Local)
		}
	}
}

// send queues a stanza for the client. A client too slow to take its
// stanzas is disconnected; it catches up from the archive.
func (s *session) send(e *element) {
	select {
	case s.out <- e.bytes():
	case <-s.done:
	default:
		s.log.Warn("XMPP client too slow; ending its stream", "queued", outQueue)
		s.end(&streamError{condition: "policy-violation", text: "too slow to receive stanzas"})
	}
}

func (s *session) writeLoop() {
	for {
		select {
		case b := <-s.out:
			if err := s.c.write(b); err != nil {
				s.end(nil)
				return
			}
		case <-s.done:
			return
		}
	}
}

// eventLoop turns the Hub's events for this device into stanzas.
func (s *session) eventLoop(ctx context.Context) {
	for {
		select {
		case e, ok := <-s.hs.Events():
			if !ok {
				if err := s.hs.Err(); err != nil && !errors.Is(err, io.EOF) {
					s.log.Warn("device dropped by the hub", "err", err)
					s.end(&streamError{condition: "reset", text: "fell behind; reconnect and catch up from the archive"})
				}
				return
			}
			s.deliver(ctx, e)
		case <-s.done:
			return
		}
	}
}
