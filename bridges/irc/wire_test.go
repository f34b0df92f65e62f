package irc

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

// wire is the server's end of a pipe to a conn: it collects every line
// the bridge writes, and the test writes the server's lines to it.
type wire struct {
	t     testing.TB
	conn  net.Conn
	lines chan string
}

// newWire is a conn whose written lines the test reads from the wire.
func newWire(t testing.TB) (*conn, *wire) {
	t.Helper()
	client, server := net.Pipe()
	c := newConn(client, testConfig(t), slog.New(slog.DiscardHandler))
	w := &wire{t: t, conn: server, lines: make(chan string, 1<<14)}
	go func() {
		sc := bufio.NewScanner(server)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		c.close()
		server.Close()
	})
	return c, w
}

// written returns the lines the bridge wrote until none came for a while.
func (w *wire) written() []string {
	var out []string
	for {
		select {
		case l := <-w.lines:
			out = append(out, l)
		case <-time.After(50 * time.Millisecond):
			return out
		}
	}
}

// next returns the next line the bridge writes.
func (w *wire) next() string {
	w.t.Helper()
	select {
	case l := <-w.lines:
		return l
	case <-time.After(5 * time.Second):
		w.t.Fatal("the bridge wrote nothing")
		return ""
	}
}

// send writes server lines to the bridge.
func (w *wire) send(lines ...string) {
	w.t.Helper()
	for _, l := range lines {
		if _, err := w.conn.Write([]byte(l + "\r\n")); err != nil {
			w.t.Fatal(err)
		}
	}
}

// testBridge is a Bridge for unit tests, handing events to in.
func testBridge(t testing.TB, in core.Inbound) *Bridge {
	return &Bridge{
		env: core.BridgeEnv{User: core.User{ID: 1}, Network: core.Network{ID: 1}, Inbound: in},
		cfg: testConfig(t), log: slog.New(slog.DiscardHandler),
		status: core.Status{Show: core.ShowAvailable},
		joined: map[string]channelJoin{}, lastSeen: map[string]time.Time{},
	}
}

// wireSession is a registered, ready session whose writes the test reads.
func wireSession(t testing.TB) (*session, *wire) {
	t.Helper()
	c, w := newWire(t)
	s := newSession(testBridge(t, nil), c)
	s.setNick("alice")
	s.registered, s.ready = true, true
	return s, w
}

// feed hands server lines to s.handle, as its run goroutine would.
func feed(t testing.TB, s *session, lines ...string) {
	t.Helper()
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

func mustParse(t testing.TB, line string) ircmsg.Message {
	t.Helper()
	m, err := ircmsg.ParseLine(line)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withCaps marks caps as negotiated.
func withCaps(s *session, caps ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range caps {
		s.caps[c] = true
	}
}

// storedBodies lists the bodies of the messages s has queued for the Hub.
func storedBodies(s *session) []string {
	var out []string
	for _, e := range s.pending {
		if me, ok := e.(core.MessageEvent); ok {
			out = append(out, me.Message.Body)
		}
	}
	return out
}

// withPrefix keeps the lines that start with prefix.
func withPrefix(lines []string, prefix string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

// recordingInbound is a Hub that keeps what it receives. With gate set,
// events carrying messages wait for the gate to close, or fail when ctx
// ends first, as the Hub's do.
type recordingInbound struct {
	gate chan struct{}

	mu     sync.Mutex
	events []core.Event
}

func (r *recordingInbound) Receive(ctx context.Context, events ...core.Event) error {
	if r.gate != nil {
		for _, e := range events {
			if _, ok := e.(core.MessageEvent); ok {
				select {
				case <-r.gate:
				case <-ctx.Done():
					return ctx.Err()
				}
				break
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, events...)
	return nil
}

func (r *recordingInbound) bodies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if me, ok := e.(core.MessageEvent); ok {
			out = append(out, me.Message.Body)
		}
	}
	return out
}

func (r *recordingInbound) states() []core.NetworkStateEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []core.NetworkStateEvent
	for _, e := range r.events {
		if ns, ok := e.(core.NetworkStateEvent); ok {
			out = append(out, ns)
		}
	}
	return out
}
