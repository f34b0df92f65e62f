package irc

import (
	"context"
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
	done   chan string
	// expires is when a late echo stops being recognised; Send itself
	// waits only echoTimeout.
	expires time.Time
}

func (p *pendingSend) resolve(msgid string) {
	select {
	case p.done <- msgid:
	default:
	}
}

func (p *pendingSend) fail() { p.resolve("") }

// maxSentIDs bounds the remembered continuation msgids.
const maxSentIDs = 4096

// send writes m as one or more PRIVMSG or NOTICE lines, paced by the flood
// limit, and returns the msgid of the first line when the server echoes
// it. A connection lost before the first line is a temporary error (the
// Hub retries); one lost half way is permanent, since retrying would send
// the first lines twice.
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
	if target == "" || strings.ContainsAny(target, " ,\r\n\x00") {
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
	lines := splitMessage(m.Body, m.Spans, limit)
	if len(lines) == 0 {
		return "", core.Permanent(fmt.Errorf("the message has no text to send"))
	}
	var first *pendingSend
	for i, text := range lines {
		if m.Kind == core.KindAction {
			text = "\x01ACTION " + text + "\x01"
		}
		line := ircmsg.MakeMessage(nil, "", verb, target, text)
		if i == 0 && tags && m.ReplyTo.OriginID != "" {
			line.SetTag("+draft/reply", m.ReplyTo.OriginID)
		}
		var p *pendingSend
		if echo {
			p = s.expectEcho(target, text, i == 0, labels)
			if p.label != "" {
				line.SetTag("label", p.label)
			}
		}
		if err := s.c.writePaced(ctx, line); err != nil {
			s.forget(p)
			switch {
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
	case id := <-first.done:
		return id, nil
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
	s.b.mu.Lock()
	_, want := s.b.joined[folded]
	s.b.mu.Unlock()
	if !want || !s.isChannelName(target) {
		return nil
	}
	s.mu.Lock()
	c := s.joinSignalLocked(folded)
	s.mu.Unlock()
	t := time.NewTimer(joinWait)
	defer t.Stop()
	select {
	case <-c:
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
		done: make(chan string, 1), expires: time.Now().Add(2 * time.Minute),
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
// labeled-response is on, else the oldest waiting line with the same
// target and text.
func (s *session) matchEcho(msg ircmsg.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.waiting) == 0 {
		return false
	}
	idx := -1
	if ok, label := msg.GetTag("label"); ok {
		for i, p := range s.waiting {
			if p.label == label {
				idx = i
				break
			}
		}
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
	p.resolve(id)
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
			p.fail()
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
