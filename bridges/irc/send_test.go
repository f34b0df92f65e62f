package irc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

type sendResult struct {
	id  string
	err error
}

// sendAsync sends from another goroutine, as the Hub's sender does, and
// returns the label of the line written (if any) and the outcome.
func sendAsync(t *testing.T, s *session, w *wire, peer core.Peer, body string) (string, <-chan sendResult) {
	t.Helper()
	done := make(chan sendResult, 1)
	go func() {
		id, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: peer, Body: body})
		done <- sendResult{id, err}
	}()
	m, err := ircmsg.ParseLine(w.next())
	if err != nil {
		t.Fatal(err)
	}
	_, label := m.GetTag("label")
	return label, done
}

func result(t *testing.T, done <-chan sendResult) sendResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(2 * time.Second):
		t.Fatal("Send is still waiting for its echo")
		return sendResult{}
	}
}

// TestEchoInLabeledBatch: the echo of a sent line inside a
// labeled-response batch (the label on the BATCH line only) is
// recognised: Send gets its msgid at once and it is not stored again.
func TestEchoInLabeledBatch(t *testing.T) {
	s, w := wireSession(t)
	withCaps(s, "echo-message", "labeled-response", "batch")
	label, done := sendAsync(t, s, w, direct("bob"), "hi")
	if label == "" {
		t.Fatal("the line went out without a label")
	}
	feed(t, s,
		"@label="+label+" :srv BATCH +a labeled-response",
		"@batch=a :srv 301 alice bob :gone fishing",
		"@batch=a;msgid=X1;time=2024-01-01T00:00:00.000Z :alice!u@h PRIVMSG bob :hi",
		":srv BATCH -a",
	)
	if r := result(t, done); r.id != "X1" || r.err != nil {
		t.Errorf("Send returned %q, %v; want the echo's msgid X1", r.id, r.err)
	}
	if b := storedBodies(s); len(b) != 0 {
		t.Errorf("the echo was stored again: %q", b)
	}
}

// TestLabeledErrorFailsSend: an error reply labeled for a sent line, on
// its own or inside the labeled-response batch, fails the send with the
// server's words; an ACK ends the wait without an id.
func TestLabeledErrorFailsSend(t *testing.T) {
	for _, c := range []struct {
		name  string
		reply func(label string) []string
		want  string // "" for success
	}{
		{"numeric", func(l string) []string {
			return []string{"@label=" + l + " :srv 404 alice #x :Cannot send to channel"}
		}, "#x: Cannot send to channel"},
		{"in batch", func(l string) []string {
			return []string{"@label=" + l + " :srv BATCH +e labeled-response", "@batch=e :srv 477 alice #x :You need to be identified", ":srv BATCH -e"}
		}, "#x: You need to be identified"},
		{"FAIL", func(l string) []string {
			return []string{"@label=" + l + " :srv FAIL PRIVMSG CANNOT_SEND #x :Moderated"}
		}, "Moderated"},
		{"ACK", func(l string) []string { return []string{"@label=" + l + " :srv ACK"} }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, w := wireSession(t)
			withCaps(s, "echo-message", "labeled-response", "batch")
			label, done := sendAsync(t, s, w, room("#x"), "hello")
			feed(t, s, c.reply(label)...)
			r := result(t, done)
			switch {
			case c.want == "" && r.err != nil:
				t.Errorf("Send failed: %v", r.err)
			case c.want != "" && (!core.IsPermanent(r.err) || !strings.Contains(r.err.Error(), c.want)):
				t.Errorf("Send returned %v, want a permanent error saying %q", r.err, c.want)
			}
		})
	}
}

// TestUnsendableLinesArePermanent: a target IRC cannot carry, or a line
// that cannot be encoded, is refused for good before anything is
// written, so the outbound queue moves on.
func TestUnsendableLinesArePermanent(t *testing.T) {
	s, w := wireSession(t)
	withCaps(s, "message-tags")
	for _, target := range []string{":x", "a b", "a,b", "a\x01b", "a\x7f", ""} {
		_, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: direct(target), Body: "hi"})
		if !core.IsPermanent(err) {
			t.Errorf("target %q: %v, want a permanent error", target, err)
		}
	}
	_, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: direct("bob"), Body: "hi",
		ReplyTo: core.MessageRef{OriginID: "bad\xffid"}})
	if !core.IsPermanent(err) {
		t.Errorf("a reply tag that is not UTF-8: %v, want a permanent error", err)
	}
	if got := w.written(); len(got) != 0 {
		t.Errorf("wrote %q for messages it refused", got)
	}
	if _, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: direct("bob"), Body: "next"}); err != nil {
		t.Fatalf("the next message: %v", err)
	}
	if got := w.next(); got != "PRIVMSG bob next" {
		t.Errorf("wrote %q", got)
	}
}

// TestRefusedJoinFailsSendsAtOnce: after the server refuses a wanted
// channel, a send to it fails at once with the reason instead of
// waiting for a join; a refusal for a channel the bridge is in changes
// nothing.
func TestRefusedJoinFailsSendsAtOnce(t *testing.T) {
	s, w := wireSession(t)
	s.b.joined["#banned"] = channelJoin{name: "#banned"}
	s.b.joined["#in"] = channelJoin{name: "#in"}
	feed(t, s,
		":srv 474 alice #banned :Cannot join channel (+b)",
		":alice!u@h JOIN #in",
		":srv 477 alice #in :You need a registered nick to speak",
	)
	start := time.Now()
	_, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: room("#banned"), Body: "hi"})
	if !core.IsPermanent(err) || !strings.Contains(err.Error(), "cannot join #banned: Cannot join channel (+b)") {
		t.Errorf("send to a refused channel: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("the send waited %s", time.Since(start))
	}
	if _, err := s.send(context.Background(), &core.Message{Kind: core.KindChat, Peer: room("#in"), Body: "hi"}); err != nil {
		t.Errorf("send to a joined channel: %v", err)
	}
	if got := withPrefix(w.written(), "PRIVMSG"); len(got) != 1 || got[0] != "PRIVMSG #in hi" {
		t.Errorf("wrote %q", got)
	}
}
