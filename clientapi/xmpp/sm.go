package xmpp

import (
	"fmt"
	"strconv"

	"github.com/switchboard/switchboard/core"
)

// Stream management (XEP-0198): acknowledgements both ways, and resumption
// of a session whose connection dropped.

const nsSM = "urn:xmpp:sm:3"

// maxUnacked bounds the stanzas kept for a device that does not
// acknowledge them; ackRequestEvery is how often the port asks.
const (
	maxUnacked      = 10000
	ackRequestEvery = 8
)

type smState struct {
	enabled, resumable bool
	id                 string
	// handled counts the stanzas received from the client: the h the port
	// reports.
	handled uint32
	// acked is the last h the client reported; unacked are the stanzas
	// sent since, oldest first.
	acked        uint32
	unacked      []rendered
	sinceRequest int
}

func (sm *smState) queue(b rendered) bool {
	if len(sm.unacked) >= maxUnacked {
		return false
	}
	sm.unacked = append(sm.unacked, b)
	return true
}

// ack drops the stanzas the client says it has handled. h counts modulo
// 2^32, as the XEP defines.
func (sm *smState) ack(h uint32) error {
	n := h - sm.acked
	if int64(n) > int64(len(sm.unacked)) {
		return fmt.Errorf("the client acknowledged %d stanzas, but only %d were sent", n, len(sm.unacked))
	}
	clear(sm.unacked[:n])
	sm.unacked = sm.unacked[n:]
	sm.acked = h
	return nil
}

func parseH(s string) (uint32, bool) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err == nil
}

// handleSM answers <enable/>, <r/> and <a/> on a bound stream.
func (s *session) handleSM(l *link, e *element) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Name.Local {
	case "enable":
		if s.sm.enabled {
			s.writeNonza(l, el(nsSM, "failed").add(el(nsStanzas, "unexpected-request")))
			return nil
		}
		s.sm.enabled = true
		enabled := el(nsSM, "enabled")
		if r := e.attr("resume"); r == "true" || r == "1" {
			s.sm.resumable = true
			s.sm.id = randomID()
			s.srv.mu.Lock()
			s.srv.smSessions[s.sm.id] = s
			s.srv.mu.Unlock()
			enabled.setAttr("id", s.sm.id)
			enabled.setAttr("resume", "true")
			enabled.setAttr("max", strconv.Itoa(int(resumeTimeout.Seconds())))
		}
		s.writeNonza(l, enabled)
	case "r":
		if s.sm.enabled {
			s.writeNonza(l, el(nsSM, "a", "h", strconv.FormatUint(uint64(s.sm.handled), 10)))
		}
	case "a":
		h, ok := parseH(e.attr("h"))
		if !ok {
			return streamErr("bad-format", "<a/> needs a numeric h")
		}
		if err := s.sm.ack(h); err != nil {
			return &streamError{condition: "undefined-condition", text: err.Error()}
		}
	default:
		return streamErr("unsupported-stanza-type", "<%s xmlns='%s'/>", e.Name.Local, nsSM)
	}
	return nil
}

// resumable finds the session a <resume/> names, if it is the user's.
func (srv *Server) resumable(user core.User, id string) *session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	s := srv.smSessions[id]
	if s == nil || s.user.ID != user.ID {
		return nil
	}
	return s
}

// resume moves the session onto a new connection (XEP-0198 §5): the
// stanzas the device had not acknowledged are sent again, then the
// session goes on as before.
func (s *session) resume(c *conn, e *element) error {
	h, ok := parseH(e.attr("h"))
	s.mu.Lock()
	defer s.mu.Unlock()
	// A session that dropped stanzas while it waited (its unacknowledged
	// queue overflowed) cannot resume without a gap the device would not
	// see: it must bind anew and catch up from the archive.
	if s.ended || !ok || !s.sm.resumable {
		_ = c.writeEl(el(nsSM, "failed").add(el(nsStanzas, "item-not-found")))
		return streamErr("not-authorized", "the session to resume is gone")
	}
	if err := s.sm.ack(h); err != nil {
		_ = c.writeEl(el(nsSM, "failed", "h", strconv.FormatUint(uint64(s.sm.handled), 10)).add(el(nsStanzas, "unexpected-request")))
		return &streamError{condition: "undefined-condition", text: err.Error()}
	}
	if old := s.link; old != nil {
		old.close(&streamError{condition: "conflict", text: "the session was resumed on another connection"})
	}
	// Queued on the new link in order, the confirmation and then every
	// stanza the device has not acknowledged, for the pump to write: a
	// connection that fails meanwhile ends as any other does, and the
	// session hibernates again instead of being lost.
	l := newLink(c, s.wake)
	l.pushNonza(rendered{body: el(nsSM, "resumed", "previd", s.sm.id, "h", strconv.FormatUint(uint64(s.sm.handled), 10)).bytes()})
	for _, b := range s.sm.unacked {
		l.pushNonza(b)
	}
	s.link = l
	if s.hibernation != nil {
		s.hibernation.Stop()
		s.hibernation = nil
	}
	s.log.Debug("XMPP session resumed", "resent", len(s.sm.unacked))
	return nil
}
