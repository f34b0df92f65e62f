package xmpp

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// outQueue is how many stanzas may wait for a slow client; past it the
// stream ends and the client catches up from the archive when it returns.
const outQueue = 1024

// session is one device of a user: a bound resource attached to the Hub.
// It outlives its TCP connection when stream management (XEP-0198) is on:
// a phone that loses its link for a while resumes the same session and
// gets every stanza it had not acknowledged.
type session struct {
	srv  *Server
	user core.User
	bare string // alice@example.org
	full string // alice@example.org/phone
	// messageTo opens a message stanza to full: "<message to='full'".
	messageTo []byte
	resource  string
	hs        *core.Session
	nets      *networks
	log       *slog.Logger

	mu   sync.Mutex
	link *link // the current connection; nil while hibernating
	sm   smState
	csi  csiState
	// ownPresence is the presence the device made available, from its
	// full JID; nil while it is not. sharesPresence: the user's other
	// devices are shown it (shareOwnPresence).
	ownPresence    *element
	sharesPresence bool
	// hibernation ends the session if no resumption comes in time.
	hibernation *time.Timer
	ended       bool
	done        chan struct{} // closed once the session is over
	// wake tells the pump that its link has stanzas queued or that
	// onPump holds work.
	wake chan struct{}
	// onPump is work the reader hands to the pump, so that what it sends
	// is ordered with the Hub's events (guarded by mu).
	onPump []func(context.Context)

	carbons   atomic.Bool
	available atomic.Bool
	roster    rosterState
	muc       mucRooms        // the rooms this device joined
	lastRoom  lastRoomAddress // muc.go: roomAddress, the pump's alone
	// awaitTurn's, the pump's alone: where in each WriteCoalesce period
	// this link's turns fall, when it last took the Hub's events, and
	// its timer.
	turnPhase time.Duration
	lastTake  time.Time
	turnTimer *time.Timer
}

// link is one connection serving a session, with its outgoing queue. The
// queue is a slice that grows only while the device is behind, so an idle
// session holds no buffer; outQueue bounds it.
type link struct {
	c     *conn
	mu    sync.Mutex
	queue []rendered
	spare []rendered    // an empty queue's array, kept by giveBack
	wake  chan struct{} // the session's: a stanza was queued
	// wmu makes taking the queue and writing it one step, so the pump
	// and the connection's last flush never reorder stanzas.
	wmu       sync.Mutex
	buf       []byte
	done      chan struct{}
	closeOnce sync.Once
	endErr    atomic.Pointer[streamError]
	// clean is set when the client closed the stream itself, which ends
	// the session rather than hibernating it.
	clean atomic.Bool
}

func newLink(c *conn, wake chan struct{}) *link {
	return &link{c: c, wake: wake, done: make(chan struct{})}
}

// push queues r; false when the device is outQueue stanzas behind.
func (l *link) push(r rendered) bool {
	l.mu.Lock()
	if len(l.queue) >= outQueue {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// pushNonza queues an element that is no stanza (an ack request, a
// resumption's resend): outQueue bounds what a device owes the port, and
// these are the port's own.
func (l *link) pushNonza(r rendered) {
	l.mu.Lock()
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// queued is how many elements wait to be written.
func (l *link) queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// take returns everything queued, to be written in one go.
func (l *link) take() []rendered {
	l.mu.Lock()
	defer l.mu.Unlock()
	q := l.queue
	l.queue, l.spare = l.spare, nil
	return q
}

// giveBack keeps q's array for the next stanzas once flush wrote them,
// so a busy device's link does not allocate a queue per write; a
// burst's long queue is let go, as the write buffer is.
func (l *link) giveBack(q []rendered) {
	if cap(q) > outQueue/8 {
		return
	}
	clear(q) // the stanzas' bytes belong to the written past now
	l.mu.Lock()
	l.spare = q[:0]
	l.mu.Unlock()
}

// flush writes everything queued in one write: one TLS record and system
// call for a burst rather than one per stanza.
func (l *link) flush() error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	q := l.take()
	if len(q) == 0 {
		return nil
	}
	l.buf = l.buf[:0]
	for _, r := range q {
		l.buf = append(append(l.buf, r.head...), r.body...)
	}
	err := l.c.write(l.buf)
	l.c.srv.writes.Add(1)
	l.giveBack(q)
	if cap(l.buf) > 64<<10 {
		l.buf = nil // do not keep a burst's buffer on an idle session
	}
	return err
}

// close stops the link; se, if any, is the stream error to send.
func (l *link) close(se *streamError) {
	l.closeOnce.Do(func() {
		if se != nil {
			l.endErr.Store(se)
		}
		close(l.done)
		l.c.stopReading()
	})
}

// bind waits for the client's resource binding (RFC 6120 §7), or a
// stream resumption (XEP-0198), and returns the session the connection
// serves.
func (c *conn) bind(ctx context.Context) (*session, error) {
	for {
		e, err := c.nextElement(negotiationTimeout)
		if err != nil {
			return nil, err
		}
		if e.Name.Space == nsSM && e.Name.Local == "resume" {
			if s := c.srv.resumable(c.user, e.attr("previd")); s != nil {
				return s, s.resume(c, e)
			}
			_ = c.writeEl(el(nsSM, "failed", "h", "").add(el(nsStanzas, "item-not-found")))
			continue
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
			srv: c.srv, user: c.user,
			bare: full.Bare().String(), full: full.String(), resource: full.Resourcepart(),
			messageTo: messageOpening(full.String()),
			nets:      newNetworks(c.srv.store, c.srv.hub, c.user.ID),
			log:       c.log.With("user", c.user.Name, "resource", full.Resourcepart()),
			done:      make(chan struct{}),
			wake:      make(chan struct{}, 1),
			turnPhase: c.srv.newTurnPhase(),
		}
		s.nets.self = s.bare
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
		s.link = newLink(c, s.wake)
		c.srv.register(s)
		c.srv.gauge.Inc()
		res := iqResult(e).add(el(nsBind, "bind").add(el(nsBind, "jid").withText(s.full)))
		if err := c.writeEl(res); err != nil {
			s.finish()
			return nil, err
		}
		// The pump starts once the bind result is out, so nothing the
		// Hub has for the device already can overtake it.
		go s.pump(context.WithoutCancel(ctx))
		return s, nil
	}
}

// register records the session under its resource, replacing an older
// one with the same resource.
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
		old.replace()
	}
}

func (srv *Server) unregister(s *session, smID string) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if byRes := srv.sessions[s.user.ID]; byRes[s.resource] == s {
		delete(byRes, s.resource)
		if len(byRes) == 0 {
			delete(srv.sessions, s.user.ID)
		}
	}
	if smID != "" && srv.smSessions[smID] == s {
		delete(srv.smSessions, smID)
	}
}

// replace ends a session whose resource a new login took over.
func (s *session) replace() {
	s.endWith(&streamError{condition: "conflict", text: "replaced by a new connection with the same resource"})
}

// endWith ends the session, telling its current connection why.
func (s *session) endWith(se *streamError) {
	s.mu.Lock()
	l := s.link
	s.mu.Unlock()
	if l != nil {
		l.close(se)
	}
	s.finish()
}

// finish ends the session for good: no resumption, detached from the Hub.
func (s *session) finish() {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.ended = true
	if s.hibernation != nil {
		s.hibernation.Stop()
	}
	smID := s.sm.id
	s.mu.Unlock()
	// Told before the session leaves the user's list, so whoever sees it
	// gone from the list has had its unavailable presence queued.
	s.goneUnavailable() // handlers.go
	s.srv.unregister(s, smID)
	s.srv.gauge.Dec()
	s.hs.Detach()
	close(s.done)
}

// serve runs the session on its current link until the link ends, then
// either hibernates the session (stream management, connection lost) or
// ends it.
func (s *session) serve(ctx context.Context) error {
	s.mu.Lock()
	l := s.link
	s.mu.Unlock()
	err := s.readLoop(ctx, l)
	l.close(nil)
	l.flush() // what was queued before the end, then the stream error, if any
	if se := l.endErr.Load(); se != nil {
		err = se
	}

	s.mu.Lock()
	resumable := s.sm.resumable && !s.ended && !l.clean.Load() && ctx.Err() == nil
	var se *streamError
	if errors.As(err, &se) && se.condition != "connection-timeout" {
		resumable = false // a protocol error ends the session
	}
	if s.link == l {
		s.link = nil
	}
	if resumable && s.link == nil {
		s.hibernation = time.AfterFunc(resumeTimeout, s.finish)
		s.log.Debug("XMPP session hibernating for resumption", "for", resumeTimeout)
	}
	stillLinked := s.link != nil // a resumption took over meanwhile
	s.mu.Unlock()
	if !resumable && !stillLinked {
		s.finish()
	}
	return err
}

// resumeTimeout is how long a session with stream management waits for
// its device to come back.
var resumeTimeout = 5 * time.Minute

func (s *session) readLoop(ctx context.Context, l *link) error {
	for {
		e, err := l.c.nextElement(0)
		if err != nil {
			select {
			case <-l.done:
				return nil // ended from elsewhere; the caller sends the reason
			default:
			}
			if errors.Is(err, errStreamClosed) {
				l.clean.Store(true)
			}
			return err
		}
		switch e.Name.Space {
		case nsSM:
			if err := s.handleSM(l, e); err != nil {
				return err
			}
			continue
		case nsCSI:
			s.handleCSI(e)
			continue
		case nsClient:
		default:
			return streamErr("unsupported-stanza-type", "<%s xmlns='%s'> is not a stanza", e.Name.Local, e.Name.Space)
		}
		s.mu.Lock()
		s.sm.handled++ // XEP-0198 counts every stanza received, whatever it was
		s.mu.Unlock()
		if !s.dispatch(ctx, e) {
			return streamErr("unsupported-stanza-type", "<%s/> is not a stanza", e.Name.Local)
		}
	}
}

// dispatch hands a client's stanza to its handler; false for an element
// that is no stanza.
func (s *session) dispatch(ctx context.Context, e *element) bool {
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
		return false
	}
	return true
}

// send queues a stanza for the device: on the link if it has one, and in
// the unacknowledged queue under stream management, so a resumption can
// send it again.
func (s *session) send(e *element) {
	s.mu.Lock()
	if s.ended || s.csi.hold(e) {
		s.mu.Unlock()
		return
	}
	s.sendLocked(rendered{body: e.bytes()})
	s.mu.Unlock()
	s.flushIfBehind()
}

// sendRendered queues a message stanza already serialized. Only
// messages with a body go this way, which CSI never holds back.
func (s *session) sendRendered(b rendered) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.sendLocked(b)
	s.mu.Unlock()
	s.flushIfBehind()
}

func (s *session) sendLocked(b rendered) {
	if s.sm.enabled {
		if !s.sm.queue(b) {
			if s.sm.resumable { // said once, not for every stanza after
				s.log.Warn("XMPP client left too many stanzas unacknowledged; ending its session", "queued", maxUnacked)
			}
			if s.link != nil {
				s.link.close(&streamError{condition: "policy-violation", text: "too many unacknowledged stanzas"})
			}
			if s.hibernation != nil {
				s.hibernation.Reset(0) // nothing can resume it now: end it
			}
			s.sm.resumable = false
			return
		}
	}
	if s.link == nil {
		return // hibernating: the stanza waits in the unacknowledged queue
	}
	select {
	case <-s.link.done:
		return // already ending; said so once
	default:
	}
	if !s.link.push(b) {
		s.log.Warn("XMPP client too slow; ending its stream", "queued", outQueue)
		s.link.close(&streamError{condition: "policy-violation", text: "too slow to receive stanzas"})
		return
	}
	if s.sm.enabled {
		// Ask for acknowledgements as stanzas go out, so the
		// unacknowledged queue stays short.
		s.sm.sinceRequest++
		if s.sm.sinceRequest >= ackRequestEvery {
			s.sm.sinceRequest = 0
			s.link.pushNonza(rendered{body: ackRequest})
		}
	}
}

// writeNonza writes a stream-management or similar element that is not
// counted as a stanza.
func (s *session) writeNonza(l *link, e *element) { l.pushNonza(rendered{body: e.bytes()}) }

// ackRequest asks the client to acknowledge what it has handled.
var ackRequest = []byte("<r xmlns='" + nsSM + "'/>")

// rendered is a serialized element in one or two pieces written one
// after the other: a room message is rendered once for all of a user's
// devices (body) behind each device's own opening (head), so that
// routing it to a thousand devices copies it into their links' buffers
// but allocates nothing per device.
type rendered struct{ head, body []byte }

// flushAt is how many queued stanzas make whoever queues the next one
// write them first: one event can become thousands of stanzas (a big
// channel's member list, a MAM page), which must not fill the link's
// queue while nothing is written.
const flushAt = 256

// flushIfBehind writes what the link holds once it is flushAt long; the
// write blocking on a slow client is the back-pressure.
func (s *session) flushIfBehind() {
	s.mu.Lock()
	l := s.link
	s.mu.Unlock()
	if l != nil && l.queued() >= flushAt && l.flush() != nil {
		l.close(nil)
	}
}

// runOnPump has the pump call f between two of the Hub's events: what f
// sends cannot interleave with what the pump delivers.
func (s *session) runOnPump(f func(context.Context)) {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return
	}
	s.onPump = append(s.onPump, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the pump is already woken
	}
}

// pump is the session's one goroutine besides its connection's reader,
// for the session's whole life, across resumptions: it turns the Hub's
// events for this device into stanzas and writes what the current link
// has queued. Idle devices are most of a server's sessions, so each
// costs two goroutines, not three.
func (s *session) pump(ctx context.Context) {
	ready := s.hs.Ready()
	for {
		select {
		case <-ready:
			if !s.deliverWhileBusy(ctx, &ready) {
				return
			}
		case <-s.wake:
			s.writeQueued(ctx)
		case <-s.done:
			return
		}
	}
}

// deliverWhileBusy takes the Hub's events, delivers and writes them, and
// while the link is busy comes back on its turns for more without being
// woken for each: a busy room's device wakes once a turn, not once a
// line. It returns once a turn finds nothing, or false when the session
// ended. ready becomes nil once the Hub closed the session.
func (s *session) deliverWhileBusy(ctx context.Context, ready *<-chan struct{}) bool {
	for {
		if !s.awaitTurn(ctx) {
			return false
		}
		// Whatever signalled meanwhile is in this Take.
		select {
		case <-*ready:
		default:
		}
		took := time.Now()
		events, err := s.hs.Take()
		s.srv.rate.add(len(events), took)
		for _, e := range events {
			s.deliver(ctx, e)
		}
		n := len(events)
		s.hs.GiveBack(events)
		if err != nil {
			*ready = nil // the link's writes go on until the session ends
			if errors.Is(err, core.ErrSlowSession) {
				s.log.Warn("device dropped by the hub", "err", err)
				s.endWith(&streamError{condition: "reset", text: "fell behind; reconnect and catch up from the archive"})
			}
		}
		// What the events queued goes out now, not one more turn of the
		// loop later: the wake they signalled is taken here.
		select {
		case <-s.wake:
		default:
		}
		s.writeQueued(ctx)
		if n == 0 || err != nil {
			return true
		}
		s.lastTake = took
		if !s.coalescing() {
			return true
		}
	}
}

// coalescing reports whether busy links wait for their turns: the port
// is configured to and busy enough.
func (s *session) coalescing() bool { return s.srv.coalesce > 0 && s.srv.rate.holding() }

// awaitTurn, before the pump takes the Hub's events for a busy link,
// waits for the link's next turn: a busy room's lines then go several to
// a write, at most one write every WriteCoalesce. Each write is a system
// call (on loopback with the reader's TCP work in it): one per device and
// line was half of a thousand-device room's cost, and at 100 lines a
// second the 2 cores ran so close to full that queueing made the lag's
// tail.
//
// Each link's turns fall at its own phase in the period (turnPhase), so
// a thousand devices in one room are written across the period rather
// than all at once after each line: the port's writes, and its devices'
// reads, come as an even stream instead of bursts that queue on the CPU.
// A line waits at most WriteCoalesce for its device's turn.
//
// It holds back only while the port as a whole is busy (deliveryRate,
// Config.CoalesceAbove): a few devices in a busy channel cost little to
// write at once, and each line would only come later. A link is busy
// when the pump took the Hub's events less than 1.5 WriteCoalesce
// before: a device that gets a line now and then is written at once
// (deliverWhileBusy then waits for one turn, and finds nothing). What
// the reader queues meanwhile (an iq's result, a stream management ack)
// goes out at once. False once the session ended.
func (s *session) awaitTurn(ctx context.Context) bool {
	if !s.coalescing() {
		return true
	}
	period, now := s.srv.coalesce, time.Now()
	if now.Sub(s.lastTake) >= period*3/2 {
		return true
	}
	wait := s.srv.untilTurn(now, s.turnPhase)
	if wait <= 0 {
		return true
	}
	if s.turnTimer == nil {
		s.turnTimer = time.NewTimer(wait)
	} else {
		s.turnTimer.Reset(wait)
	}
	for {
		select {
		case <-s.turnTimer.C:
			return true
		case <-s.wake:
			s.writeQueued(ctx)
		case <-s.done:
			s.turnTimer.Stop()
			return false
		}
	}
}

// writeQueued runs the work handed to the pump and writes what the link
// has queued.
func (s *session) writeQueued(ctx context.Context) {
	s.mu.Lock()
	l, work := s.link, s.onPump
	s.onPump = nil
	s.mu.Unlock()
	for _, f := range work {
		f(ctx)
	}
	if l != nil && l.flush() != nil {
		l.close(nil)
	}
}
