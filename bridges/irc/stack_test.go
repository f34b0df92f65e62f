package irc

// The end-to-end tests run the bridge the way the daemon does: a real
// history store, the Hub, and a device session watching what arrives. The
// store is imported by tests only; the bridge itself knows nothing of it.

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

type stack struct {
	t      testing.TB
	st     *history.Store
	hub    *core.Hub
	user   core.User
	net    core.Network
	dev    *core.Session
	cancel context.CancelFunc
	done   chan struct{}
}

// testLog shows the bridge's log when a test fails, or always with -v.
func testLog(t testing.TB) *slog.Logger {
	level := slog.LevelInfo
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newStack starts a store, a Hub with the IRC bridge, one user with one IRC
// network, and a device session attached to the user.
func newStack(t testing.TB, settings core.Settings) *stack {
	t.Helper()
	return newStackAt(t, filepath.Join(t.TempDir(), "switchboard.db"), settings)
}

func newStackAt(t testing.TB, dbFile string, settings core.Settings) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := history.Open(ctx, dbFile, history.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByName(ctx, "alice")
	if err != nil {
		u, err = st.CreateUser(ctx, "alice", "correct horse", false)
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := st.NetworkByName(ctx, u.ID, "testnet")
	if err != nil {
		n, err = st.CreateNetwork(ctx, core.Network{User: u.ID, Name: "testnet", Kind: core.KindIRC, Settings: settings, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	reg := &core.Registry{}
	reg.Register(Kind())
	hub := core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, Log: testLog(t), SessionQueue: 1 << 16})
	// The device attaches before the Hub starts the bridge, so it sees
	// every event, the first "connected" among them.
	dev, err := hub.Attach(ctx, u.ID, "test-device")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	s := &stack{t: t, st: st, hub: hub, user: u, net: n, cancel: cancel, done: make(chan struct{}), dev: dev}
	go func() {
		defer close(s.done)
		hub.Run(runCtx)
	}()
	t.Cleanup(s.stop)
	return s
}

// stop shuts the Hub down (the bridge QUITs) and closes the store.
func (s *stack) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cancel()
	<-s.done
	s.st.Close()
}

// waitEvent returns the first event from the device session that match
// accepts, failing the test after timeout.
func (s *stack) waitEvent(timeout time.Duration, what string, match func(core.Event) bool) core.Event {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		e, err := s.dev.Next(ctx)
		if err != nil {
			s.t.Fatalf("no %s within %s: %v", what, timeout, err)
		}
		if match(e) {
			return e
		}
	}
}

// waitConnected waits until the network reports connected.
func (s *stack) waitConnected(timeout time.Duration) {
	s.t.Helper()
	s.waitEvent(timeout, "connected state", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateConnected
	})
}

// waitMessage waits for a stored message event that match accepts.
func (s *stack) waitMessage(timeout time.Duration, what string, match func(*core.Message) bool) *core.Message {
	s.t.Helper()
	e := s.waitEvent(timeout, what, func(e core.Event) bool {
		me, ok := e.(core.MessageEvent)
		return ok && match(me.Message)
	})
	return e.(core.MessageEvent).Message
}

// messages lists the stored messages of a conversation, oldest first.
func (s *stack) messages(peer core.Peer) []*core.Message {
	s.t.Helper()
	ctx := context.Background()
	convs, err := s.st.Conversations(ctx, s.user.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range convs {
		if c.Network == s.net.ID && c.Peer == peer {
			var out []*core.Message
			err := s.st.EachMessage(ctx, s.user.ID, func(m *core.Message) error {
				if m.Conversation == c.ID {
					out = append(out, m)
				}
				return nil
			})
			if err != nil {
				s.t.Fatal(err)
			}
			return out
		}
	}
	return nil
}

// bodies lists the stored bodies of a conversation's messages of the
// given kinds, oldest first.
func (s *stack) bodies(peer core.Peer, kinds ...core.MessageKind) []string {
	s.t.Helper()
	var out []string
	for _, m := range s.messages(peer) {
		if slices.Contains(kinds, m.Kind) {
			out = append(out, m.Body)
		}
	}
	return out
}

// send sends a message from the device, as a client port would.
func (s *stack) send(peer core.Peer, kind core.MessageKind, body string) *core.Message {
	s.t.Helper()
	m, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: peer, Kind: kind, Body: body})
	if err != nil {
		s.t.Fatal(err)
	}
	return m
}

func ircSettings(addr, nick string, extra ...string) core.Settings {
	s := core.Settings{"addr": "irc://" + addr, "nick": nick}
	for i := 0; i+1 < len(extra); i += 2 {
		s[extra[i]] = extra[i+1]
	}
	return s
}

func TestMain(m *testing.M) {
	// Reconnects in tests should not wait for minutes.
	shortenTimings()
	os.Exit(m.Run())
}

func shortenTimings() {
	pingInterval = 5 * time.Second
	pingTimeout = 5 * time.Second
	registerTimeout = 15 * time.Second
	nickRegainInterval = 2 * time.Second
	backoffUnit = 10 * time.Millisecond
}
