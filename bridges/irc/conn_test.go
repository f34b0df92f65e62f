package irc

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

// pipeConn is a conn whose server side the test writes to; whatever the
// conn writes is discarded.
func pipeConn(t testing.TB) (*conn, net.Conn) {
	t.Helper()
	client, server := net.Pipe()
	c := newConn(client, testConfig(t), slog.New(slog.DiscardHandler))
	go io.Copy(io.Discard, server)
	t.Cleanup(func() {
		c.close()
		server.Close()
	})
	return c, server
}

// TestBadLinesAreSkipped: an oversized line, a malformed one and one that
// is not UTF-8 cost nothing but themselves; the connection stays up.
func TestBadLinesAreSkipped(t *testing.T) {
	c, server := pipeConn(t)
	go func() {
		for _, l := range []string{
			":a!b@c PRIVMSG #x :first",
			":a!b@c PRIVMSG #x :" + strings.Repeat("y", 20000),
			"@", // tags and nothing else
			":onlyprefix",
			":a!b@c PRIVMSG #x :caf\xe9",
			":a!b@c PRIVMSG #x :last",
		} {
			io.WriteString(server, l+"\r\n")
		}
	}()
	var got []string
	for len(got) < 3 {
		select {
		case m, ok := <-c.lines:
			if !ok {
				t.Fatalf("connection ended after %q: %v", got, c.err)
			}
			got = append(got, m.Params[1])
		case <-time.After(5 * time.Second):
			t.Fatalf("only %q arrived", got)
		}
	}
	if strings.Join(got, "|") != "first|café|last" {
		t.Errorf("lines read: %q", got)
	}
}

// testSession is a registered session on a pipe, for feeding lines to
// handle directly.
func testSession(t testing.TB) *session {
	t.Helper()
	c, _ := pipeConn(t)
	b := &Bridge{
		env: core.BridgeEnv{User: core.User{ID: 1}, Network: core.Network{ID: 1}},
		cfg: testConfig(t), log: slog.New(slog.DiscardHandler),
		joined: map[string]channelJoin{}, lastSeen: map[string]time.Time{},
	}
	s := newSession(b, c)
	s.setNick("alice")
	s.registered, s.ready = true, true
	return s
}

func testConfig(t testing.TB) *config {
	cfg, err := parseConfig(core.Settings{"addr": "irc://x", "nick": "alice"})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestMembershipTracking follows joins, names, modes, nick changes and
// quits through a channel's member list.
func TestMembershipTracking(t *testing.T) {
	s := testSession(t)
	feed := func(lines ...string) {
		for _, l := range lines {
			m, err := ircmsg.ParseLine(l)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.handle(m); err != nil {
				t.Fatalf("%s: %v", l, err)
			}
		}
	}
	feed(":srv 005 alice PREFIX=(ov)@+ :are supported",
		":alice!a@h JOIN #go",
		":srv 353 alice = #go :alice @bob +carol",
		":srv 366 alice #go :End",
		":bob!b@h MODE #go +v dave",
		":dave!d@h JOIN #go",
		":bob!b@h MODE #go +v dave",
		":carol!c@h NICK carla",
		":bob!b@h QUIT :gone",
	)
	ch := s.channels["#go"]
	if ch == nil {
		t.Fatal("#go not tracked")
	}
	got := map[string]string{}
	for k, m := range ch.members {
		got[k] = m.nick + m.prefixes
	}
	want := map[string]string{"alice": "alice", "carla": "carla+", "dave": "dave+"}
	if len(got) != len(want) {
		t.Fatalf("members %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("member %s is %q, want %q", k, got[k], v)
		}
	}
	var kinds []string
	for _, e := range s.pending {
		if me, ok := e.(core.MessageEvent); ok {
			kinds = append(kinds, string(me.Message.Kind))
		}
	}
	if strings.Join(kinds, ",") != "join,mode,join,mode,nick,quit" {
		t.Errorf("stored events %v", kinds)
	}
}

// FuzzHandle feeds arbitrary lines to a registered session: nothing may
// panic, and whatever it stores must be a valid message.
func FuzzHandle(f *testing.F) {
	for _, seed := range []string{
		":bob!b@h PRIVMSG #go :hello",
		"@time=2024-01-01T00:00:00.000Z;msgid=x :bob!b@h PRIVMSG alice :\x01ACTION waves\x01",
		":bob!b@h KICK #go alice :bye",
		":srv 353 alice = #go :@+bob!b@h alice",
		":srv BATCH +1 chathistory #go",
		"@batch=1 :bob!b@h NICK bobby",
		":bob!b@h MODE #go +ovl alice",
		":srv 005 alice PREFIX=(ov CHANMODES=,,, CASEMAPPING=rfc1459",
		":bob!b@h TAGMSG",
		"@+typing=active :bob!b@h TAGMSG #go",
		":srv CAP * LS * :sasl",
		":srv CAP alice NEW :draft/chathistory",
		"CHATHISTORY TARGETS",
		":bob!b@h PRIVMSG @ :\x01",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		s := testSession(t)
		s.handle(ircmsg.MakeMessage(nil, ":srv", "JOIN", "#go")) // not our join: ignored
		m, err := ircmsg.ParseLine(line)
		if err != nil {
			return
		}
		_ = s.handle(m)
		for _, e := range s.pending {
			if me, ok := e.(core.MessageEvent); ok {
				if err := me.Message.Validate(); err != nil {
					t.Fatalf("stored an invalid message from %q: %v", line, err)
				}
			}
		}
	})
}

// stalledInbound is a hub that stops taking messages, as one stuck on a
// full disk would.
type stalledInbound struct{ release chan struct{} }

func (s stalledInbound) Receive(ctx context.Context, events ...core.Event) error {
	stores := false
	for _, e := range events {
		_, m := e.(core.MessageEvent)
		stores = stores || m
	}
	if !stores {
		return nil
	}
	select {
	case <-s.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestFloodingServerIsBounded: a server that floods while the hub is stuck
// fills the bridge's bounded queues, then TCP pushes back on it; the
// bridge's memory stops growing.
func TestFloodingServerIsBounded(t *testing.T) {
	srv := startScripted(t)
	in := stalledInbound{release: make(chan struct{})}
	b, err := New(core.BridgeEnv{User: core.User{ID: 1}, Network: core.Network{ID: 1, Settings: ircSettings(srv.Addr(), "alice")},
		Inbound: in, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Run(ctx)
	}()
	defer func() {
		cancel()
		close(in.release)
		<-done
	}()
	deadline := time.Now().Add(wait)
	for {
		srv.mu.Lock()
		n := 0
		for c := range srv.clients {
			if c.welcomed.Load() {
				n++
			}
		}
		srv.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the bridge did not register")
		}
		time.Sleep(10 * time.Millisecond)
	}
	go srv.blast("#flood", 10_000_000, 0)
	start := time.Now()
	written := func() int {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return srv.seq
	}
	// Kernel socket buffers grow for a while under autotuning, more
	// slowly on a loaded machine, so wait for the writing to stall
	// rather than assume a time; a bridge that never pushes back never
	// stalls it.
	time.Sleep(2 * time.Second)
	heap1, lines1 := liveBytes(), written()
	var heap2 int64
	var lines2 int
	stalled := false
	for prev := lines1; !stalled && time.Since(start) < 30*time.Second; {
		time.Sleep(time.Second)
		heap2, lines2 = liveBytes(), written()
		stalled = lines2-prev < 500
		prev = lines2
	}
	t.Logf("server wrote %d lines, then %d more; bridge heap %d KiB → %d KiB", lines1, lines2-lines1, heap1>>10, heap2>>10)
	if !stalled {
		t.Errorf("the server kept writing (%d lines after the first 2 s) while the hub was stuck: nothing pushes back", lines2-lines1)
	}
	if grow := heap2 - heap1; grow > 4<<20 {
		t.Errorf("heap grew by %d KiB while the hub was stuck", grow>>10)
	}
}
