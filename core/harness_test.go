package core

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"
)

const (
	alice    UserID    = 1
	bob      UserID    = 2
	aliceNet NetworkID = 10
	bobNet   NetworkID = 20
	fakeKind           = NetworkKind("fake")
)

// testTime is the fake clock's start: in the past, so that code mixing the
// fake clock with the real one shows up.
var testTime = time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)

// harness is a Hub over a memStore with fake bridges: alice owns aliceNet
// and bob owns bobNet.
type harness struct {
	t     *testing.T
	store *memStore
	clock *fakeClock
	hub   *Hub

	bw      watch
	bridges map[NetworkID][]*fakeBridge // every bridge built, oldest first

	cancel   context.CancelFunc
	runDone  chan error
	stopOnce sync.Once
}

// newHarness builds the Hub without running it; mods adjust its config.
func newHarness(t *testing.T, mods ...func(*HubConfig)) *harness {
	h := &harness{
		t:       t,
		store:   newMemStore(),
		clock:   &fakeClock{now: testTime},
		bridges: make(map[NetworkID][]*fakeBridge),
	}
	h.store.users[alice] = User{ID: alice, Name: "alice"}
	h.store.users[bob] = User{ID: bob, Name: "bob"}
	h.store.networks[aliceNet] = Network{ID: aliceNet, User: alice, Name: "libera", Kind: fakeKind, Enabled: true}
	h.store.networks[bobNet] = Network{ID: bobNet, User: bob, Name: "oftc", Kind: fakeKind, Enabled: true}
	reg := &Registry{}
	reg.Register(BridgeKind{Kind: fakeKind, New: h.newBridge})
	cfg := HubConfig{
		Store:   h.store,
		Rooms:   h.store,
		Bridges: reg,
		Log:     slog.New(slog.DiscardHandler),
		Now:     h.clock.Now,
	}
	for _, m := range mods {
		m(&cfg)
	}
	h.hub = NewHub(cfg)
	return h
}

// startHub builds a harness and runs its Hub until the test ends.
func startHub(t *testing.T, mods ...func(*HubConfig)) *harness {
	h := newHarness(t, mods...)
	h.start()
	return h
}

func (h *harness) start() {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.runDone = make(chan error, 1)
	go func() { h.runDone <- h.hub.Run(ctx) }()
	h.t.Cleanup(func() { h.stop() })
}

// stop cancels Run and waits for it to return.
func (h *harness) stop() {
	h.t.Helper()
	h.stopOnce.Do(func() {
		h.cancel()
		select {
		case err := <-h.runDone:
			if err != nil {
				h.t.Errorf("Run returned %v", err)
			}
		case <-time.After(waitTimeout):
			h.t.Errorf("Run did not return within %v of its context ending", waitTimeout)
		}
	})
}

func (h *harness) newBridge(env BridgeEnv) (Bridge, error) {
	b := &fakeBridge{env: env, fail: make(chan error, 1)}
	h.bw.mu.Lock()
	defer h.bw.mu.Unlock()
	h.bridges[env.Network.ID] = append(h.bridges[env.Network.ID], b)
	h.bw.changedLocked()
	return b, nil
}

// bridgeN waits for the n-th bridge (from 1) built for network to run.
func (h *harness) bridgeN(network NetworkID, n int) *fakeBridge {
	h.t.Helper()
	var b *fakeBridge
	h.bw.await(h.t, fmt.Sprintf("bridge #%d of network %d", n, network), func() bool {
		if bs := h.bridges[network]; len(bs) >= n {
			b = bs[n-1]
		}
		return b != nil
	})
	b.await(h.t, fmt.Sprintf("bridge #%d of network %d to run", n, network), func() bool { return b.running || b.stopped })
	return b
}

// bridge waits for the first bridge of network to run.
func (h *harness) bridge(network NetworkID) *fakeBridge { return h.bridgeN(network, 1) }

func (h *harness) bridgeCount(network NetworkID) int {
	h.bw.mu.Lock()
	defer h.bw.mu.Unlock()
	return len(h.bridges[network])
}

func (h *harness) attach(user UserID, device string) *Session {
	h.t.Helper()
	s, err := h.hub.Attach(tctx(h.t), user, device)
	if err != nil {
		h.t.Fatalf("Attach(%d, %q): %v", user, device, err)
	}
	return s
}

func (h *harness) send(s *Session, m *Message) *Message {
	h.t.Helper()
	out, err := h.hub.Send(tctx(h.t), s, m)
	if err != nil {
		h.t.Fatalf("Send: %v", err)
	}
	return out
}

// tctx is a context that ends with the test or after waitTimeout.
func tctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return c
}

// chat is an incoming message from "bob" as a bridge would hand it over.
func chat(body string) *Message {
	return &Message{
		Peer:   Peer{Kind: Direct, Remote: "bob"},
		Sender: Address{Addr: "bob", Name: "Bob"},
		Time:   testTime,
		Kind:   KindChat,
		Body:   body,
	}
}

// outMsg is an outgoing message on network as a session would send it.
func outMsg(network NetworkID, body, originID string) *Message {
	return &Message{
		Network:  network,
		Peer:     Peer{Kind: Direct, Remote: "bob"},
		Kind:     KindChat,
		Body:     body,
		OriginID: originID,
	}
}

// recv returns the session's next event.
func recv(t testing.TB, s *Session) Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	e, err := s.Next(ctx)
	if err != nil {
		t.Fatalf("session %d: no event: %v", s.ID, err)
	}
	return e
}

// next returns the session's next event of type T, skipping others.
func next[T Event](t testing.TB, s *Session) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	for {
		e, err := s.Next(ctx)
		if err != nil {
			var zero T
			t.Fatalf("session %d: no %T: %v", s.ID, zero, err)
		}
		if e, ok := e.(T); ok {
			return e
		}
	}
}

// expectNone checks that the session holds no event. Call it only after
// the operation that could have produced one returned: the Hub fans out
// before it reports an operation done.
func expectNone(t testing.TB, s *Session) {
	t.Helper()
	events, err := s.Take()
	if len(events) > 0 {
		t.Fatalf("session %d: unexpected event %T %+v", s.ID, events[0], events[0])
	}
	if err != nil {
		t.Fatalf("session %d: unexpectedly closed: %v", s.ID, err)
	}
}

// waitClosed drains the session until it is closed; it returns how many
// events were left in the queue.
func waitClosed(t testing.TB, s *Session) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	n := 0
	for {
		_, err := s.Next(ctx)
		switch {
		case err == nil:
			n++
		case ctx.Err() != nil:
			t.Fatalf("session %d: not closed within %v", s.ID, waitTimeout)
		default:
			return n
		}
	}
}
