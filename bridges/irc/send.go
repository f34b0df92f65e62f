package irc

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

// pendingSend is a line written to the server whose echo (echo-message)
// is still to come. The echo carries the msgid the network gave the line,
// and it must not be stored a second time: the Hub stored the message
// before handing it to the bridge.
type pendingSend struct {
	label  string // labeled-response tag, when negotiated
	target string // folded
	text   string // the line's text as sent
	first  bool   // the first line of its message, whose msgid is the message's
	done   chan echoResult
	// expires is when a late echo stops being recognised; Send itself
	// waits only echoTimeout.
	expires time.Time
}

// echoResult is what became of a sent line: the msgid its echo carried,
// or the server's refusal of it.
type echoResult struct {
	msgid string
	err   error
}

func (p *pendingSend) resolve(r echoResult) {
	select {
	case p.done <- r:
	default:
	}
}

// giveUp ends the wait when no echo is coming (the session ended, or the
// echo is long overdue); the line itself may well have gone out.
func (p *pendingSend) giveUp() { p.resolve(echoResult{}) }

// maxSentIDs bounds the remembered continuation msgids.
const maxSentIDs = 4096

// send writes m as one or more PRIVMSG or NOTICE lines, paced by the flood
// limit, and returns the msgid of the first line when the server echoes
// it. A connection lost before the first line is a temporary error (the
// Hub retries); one lost half way is permanent, since retrying would send
// the first lines twice. So are a message IRC cannot carry, one to a
// channel the server will not let the bridge into, and one whose first
// line the server refuses in its labeled response.
func (s *session) send(ctx context.Context, m *core.Message) (string, error) {
	if !s.ready {
		return "", core.ErrNotConnected
	}
	verb := "PRIVMSG"
	switch m.Kind {
	case core.KindChat, core.KindAction:
	case core.KindNotice:
		verb = "NOTICE"
	default:
		return "", core.Permanent(fmt.Errorf("IRC cannot send a %s message", m.Kind))
	}
	target := m.Peer.Remote
	if !validTarget(target) {
		return "", core.Permanent(fmt.Errorf("%q is not an IRC nick or channel", target))
	}
	if err := s.waitJoined(ctx, target); err != nil {
		return "", err
	}
	s.mu.Lock()
	echo := s.caps["echo-message"]
	labels := echo && s.caps["labeled-response"] && s.caps["batch"]
	tags := s.caps["message-tags"]
	limit := s.textLimitLocked(verb, target)
	s.mu.Unlock()
	if m.Kind == core.KindAction {
		limit -= len("\x01ACTION \x01")
	}
	texts := splitMessage(m.Body, m.Spans, limit)
	if len(texts) == 0 {
		return "", core.Permanent(fmt.Errorf("the message has no text to send"))
	}
	// Every line is encoded before the first goes out: one that cannot
	// be would fail on every retry, and half a message must not be sent.
	lines := make([]ircmsg.Message, len(texts))
	for i, text := range texts {
		if m.Kind == core.KindAction {
			text = "\x01ACTION " + text + "\x01"
		}
		texts[i] = text
		lines[i] = ircmsg.MakeMessage(nil, "", verb, target, text)
		if i == 0 && tags && m.ReplyTo.OriginID != "" {
			lines[i].SetTag("+draft/reply", m.ReplyTo.OriginID)
		}
		if _, err := encode(lines[i]); err != nil {
			return "", core.Permanent(err)
		}
	}
	var first *pendingSend
	for i, line := range lines {
		var p *pendingSend
		if echo {
			p = s.expectEcho(target, texts[i], i == 0, labels)
			if p.label != "" {
				line.SetTag("label", p.label)
			}
		}
		if err := s.c.writePaced(ctx, line); err != nil {
			s.forget(p)
			switch {
			case errors.Is(err, errBadLine):
				return "", core.Permanent(err)
			case ctx.Err() != nil:
				return "", ctx.Err()
			case i == 0:
				return "", fmt.Errorf("%w: %v", core.ErrNotConnected, err)
			default:
				return "", core.Permanent(fmt.Errorf("the connection dropped after %d of %d lines of the message were sent", i, len(lines)))
			}
		}
		metricSent.Inc()
		if i == 0 {
			first = p
		}
	}
	if first == nil {
		return "", nil // no echo-message: the network gives us no id
	}
	t := time.NewTimer(echoTimeout)
	defer t.Stop()
	select {
	case r := <-first.done:
		return r.msgid, r.err
	case <-t.C:
		s.log.Warn("no echo from the server for a sent message", "target", target, "waited", echoTimeout)
		return "", nil
	case <-ctx.Done():
		return "", nil
	}
}

// joinWait bounds how long a send to a channel waits for the bridge to
// be in it after a reconnect.
var joinWait = 15 * time.Second

// waitJoined holds a message for a channel the bridge is rejoining until
// the JOIN completes: after a reconnect the queued messages go out at
// once, and a +n channel refuses them from outside. A channel the bridge
// is not meant to be in is not waited for; the server decides.
func (s *session) waitJoined(ctx context.Context, target string) error {
	folded := s.fold(target)
	if _, want := s.wantedChannel(folded); !want || !s.isChannelName(target) {
		return nil
	}
	s.mu.Lock()
	c := s.joinSignalLocked(folded)
	s.mu.Unlock()
	t := time.NewTimer(joinWait)
	defer t.Stop()
	select {
	case <-c:
		s.mu.Lock()
		reason, refused := s.joinFailed[folded]
		s.mu.Unlock()
		if refused {
			return core.Permanent(fmt.Errorf("cannot join %s: %s", target, reason))
		}
	case <-t.C:
		s.log.Warn("sending to a channel the bridge has not rejoined", "channel", target)
	case <-s.c.done:
		return core.ErrNotConnected
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// textLimitLocked is how many bytes of text fit in one line to target,
// given the prefix the server adds when relaying it (":nick!user@host ").
// An unknown host counts as the longest a server sends.
func (s *session) textLimitLocked(verb, target string) int {
	uh := s.userHost
	if uh == "" {
		uh = "~" + s.cfg.username + "@" + strings.Repeat("x", 63)
	}
	prefix := len(":") + len(s.nick) + len("!") + len(uh) + len(" ")
	command := len(verb) + len(" ") + len(target) + len(" :")
	return 512 - len("\r\n") - prefix - command
}

func (s *session) expectEcho(target, text string, first, labeled bool) *pendingSend {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := &pendingSend{
		target: s.is.casemap(target), text: text, first: first,
		done: make(chan echoResult, 1), expires: time.Now().Add(2 * time.Minute),
	}
	if labeled {
		s.labelSeq++
		p.label = "sb" + strconv.FormatUint(s.labelSeq, 36)
	}
	s.waiting = append(s.waiting, p)
	return p
}

func (s *session) forget(p *pendingSend) {
	if p == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, w := range s.waiting {
		if w == p {
			s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
			return
		}
	}
}

// matchEcho recognises the echo of a line this bridge sent: by label when
// the line answers one (on it, or on the labeled-response batch it is
// in), else the oldest waiting unlabeled line with the same target and
// text.
func (s *session) matchEcho(msg ircmsg.Message, label string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		return false
	}
	idx := -1
	if label != "" {
		idx = s.labelIndexLocked(label)
	} else {
		target := s.is.casemap(msg.Params[0])
		for i, p := range s.waiting {
			if p.label == "" && p.target == target && p.text == msg.Params[1] {
				idx = i
				break
			}
		}
	}
	if idx < 0 {
		return false
	}
	p := s.waiting[idx]
	s.waiting = append(s.waiting[:idx], s.waiting[idx+1:]...)
	_, id := msg.GetTag("msgid")
	if !p.first && id != "" && len(s.sentIDs) < maxSentIDs {
		s.sentIDs[id] = time.Now()
	}
	p.resolve(echoResult{msgid: id})
	return true
}

func (s *session) labelIndexLocked(label string) int {
	for i, p := range s.waiting {
		if p.label == label {
			return i
		}
	}
	return -1
}

// takeLabel removes and returns the line waiting for the response
// labeled label, if any.
func (s *session) takeLabel(label string) *pendingSend {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.labelIndexLocked(label)
	if i < 0 {
		return nil
	}
	p := s.waiting[i]
	s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
	return p
}

// labeledReply reads a line of the labeled response to one of our lines
// for what ends the wait other than the echo: an error reply (a numeric
// from 400 to 599, or FAIL), which makes the send fail with the server's
// words, and ACK, which says no echo is coming.
func (s *session) labeledReply(msg ircmsg.Message, label string) {
	switch {
	case isErrorReply(msg):
		if p := s.takeLabel(label); p != nil {
			p.resolve(echoResult{err: core.Permanent(fmt.Errorf("the server refused the message: %s", replyText(msg)))})
		}
	case msg.Command == "ACK":
		s.labelDone(label)
	}
}

// labelDone ends the wait for the response labeled label: it is complete
// and held no echo.
func (s *session) labelDone(label string) {
	if p := s.takeLabel(label); p != nil {
		p.giveUp()
	}
}

func isErrorReply(msg ircmsg.Message) bool {
	if msg.Command == "FAIL" {
		return true
	}
	n, err := strconv.Atoi(msg.Command)
	return err == nil && len(msg.Command) == 3 && n >= 400 && n < 600
}

// replyText is what an error reply says: "#chan: Cannot send to channel"
// for a numeric (our nick dropped), the description for FAIL.
func replyText(msg ircmsg.Message) string {
	if msg.Command == "FAIL" || len(msg.Params) < 2 {
		return lastParam(msg)
	}
	about := msg.Params[1 : len(msg.Params)-1]
	if len(about) == 0 {
		return lastParam(msg)
	}
	return strings.Join(about, " ") + ": " + lastParam(msg)
}

// validTarget accepts what can be the target of a PRIVMSG: one word, not
// a list (no comma), that does not start with a colon and holds no
// control characters.
func validTarget(t string) bool {
	if t == "" || t[0] == ':' {
		return false
	}
	for _, r := range t {
		if r <= ' ' || r == ',' || r == 0x7f {
			return false
		}
	}
	return true
}

func (s *session) isSentContinuation(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sentIDs[id]
	return ok
}

// expireSends forgets echoes that never came and old continuation ids.
func (s *session) expireSends() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.waiting[:0]
	for _, p := range s.waiting {
		if now.Before(p.expires) {
			kept = append(kept, p)
		} else {
			p.giveUp()
		}
	}
	s.waiting = kept
	for id, at := range s.sentIDs {
		if now.Sub(at) > time.Hour {
			delete(s.sentIDs, id)
		}
	}
}

// sendTyping maps XEP-0085 states onto the +typing client tag.
func (s *session) sendTyping(e core.TypingEvent) {
	if !s.ready || !s.hasCap("message-tags") || e.Peer.Remote == "" {
		return
	}
	state := "done"
	switch e.State {
	case core.StateComposing:
		state = "active"
	case core.StatePaused:
		state = "paused"
	}
	s.c.tryPaced(ircmsg.MakeMessage(map[string]string{"+typing": state}, "", "TAGMSG", e.Peer.Remote))
}
