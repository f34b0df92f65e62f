package irc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// gapFill sets up the scenario: a bridge in `channels` channels
// loses its link, `perChannel` lines are said in each meanwhile (and a few
// private messages), and the link comes back. It returns how long after
// the reconnect the last missed line was stored.
func gapFill(t testing.TB, channels, perChannel int) time.Duration {
	srv := startScripted(t)
	link := newLinkProxy(t, srv.Addr())
	var names []string
	for i := range channels {
		names = append(names, fmt.Sprintf("#c%d", i))
	}
	st := newStack(t, ircSettings(link.Addr(), "alice", "join", strings.Join(names, ",")))
	st.waitConnected(wait)
	for range channels {
		select {
		case <-srv.joins:
		case <-time.After(wait):
			t.Fatal("the bridge did not join every channel")
		}
	}
	// One live line per channel, so each conversation has a newest
	// message the gap fill starts after.
	for _, ch := range names {
		srv.broadcast(nil, srv.record(ch, "bob", "before the cut"))
	}
	for range channels {
		st.waitMessage(wait, "a live line", func(m *core.Message) bool { return m.Body == "before the cut" })
	}

	link.Cut()
	st.waitEvent(wait, "the disconnect", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateDisconnected
	})
	for i := range perChannel {
		for _, ch := range names {
			srv.record(ch, "bob", fmt.Sprintf("missed %d in %s", i, ch))
		}
	}
	for i := range 5 {
		srv.record("alice", "dave", fmt.Sprintf("private %d", i))
	}
	link.Restore()
	st.waitConnected(30 * time.Second)
	start := time.Now()
	want := channels*perChannel + 5
	got := 0
	for got < want {
		st.waitMessage(30*time.Second, fmt.Sprintf("missed line %d of %d", got+1, want), func(m *core.Message) bool {
			return strings.HasPrefix(m.Body, "missed ") || strings.HasPrefix(m.Body, "private ")
		})
		got++
	}
	took := time.Since(start)
	// Each channel holds its lines once, in the order they were said.
	for _, ch := range []string{names[0], names[channels-1]} {
		bodies := st.bodies(room(ch), core.KindChat)
		want := []string{"before the cut"}
		for i := range perChannel {
			want = append(want, fmt.Sprintf("missed %d in %s", i, ch))
		}
		if strings.Join(bodies, "|") != strings.Join(want, "|") {
			t.Errorf("%s holds %d lines, want %d in order", ch, len(bodies), len(want))
		}
	}
	if n := len(st.messages(direct("dave"))); n != 5 {
		t.Errorf("the private conversation with dave holds %d messages, want 5", n)
	}
	return took
}

// TestChathistoryGapFill: after a reconnect every missed line arrives once,
// in order, from CHATHISTORY, paged past the server's per-request limit;
// private conversations are found with CHATHISTORY TARGETS.
func TestChathistoryGapFill(t *testing.T) {
	const channels, perChannel = 50, 200
	took := gapFill(t, channels, perChannel)
	t.Logf("%d channels × %d missed lines stored %s after the reconnect", channels, perChannel, took.Round(time.Millisecond))
}

// TestChathistoryExactlyOnce: lines seen live and then replayed by the
// server after a reconnect are stored once.
func TestChathistoryExactlyOnce(t *testing.T) {
	srv := startScripted(t)
	link := newLinkProxy(t, srv.Addr())
	st := newStack(t, ircSettings(link.Addr(), "alice", "join", "#once"))
	st.waitConnected(wait)
	<-srv.joins
	for i := range 3 {
		srv.broadcast(nil, srv.record("#once", "bob", fmt.Sprintf("live %d", i)))
	}
	st.waitMessage(wait, "the last live line", func(m *core.Message) bool { return m.Body == "live 2" })
	link.Cut()
	st.waitEvent(wait, "the disconnect", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateDisconnected
	})
	srv.record("#once", "bob", "while away")
	// A sloppy server replays everything, not just the gap: the store
	// must still keep one copy of each line.
	srv.mu.Lock()
	srv.replayAll = true
	srv.mu.Unlock()
	link.Restore()
	st.waitMessage(30*time.Second, "the missed line", func(m *core.Message) bool { return m.Body == "while away" })
	if got, want := strings.Join(st.bodies(room("#once"), core.KindChat), "|"), "live 0|live 1|live 2|while away"; got != want {
		t.Errorf("stored %q, want %q", got, want)
	}
}

// BenchmarkGapFill measures the figure: 50 channels with 200
// missed lines each, stored after a reconnect.
func BenchmarkGapFill(b *testing.B) {
	for range b.N {
		took := gapFill(b, 50, 200)
		b.ReportMetric(float64(took.Milliseconds()), "ms/gap-fill")
	}
}
