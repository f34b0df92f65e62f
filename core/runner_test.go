package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// The fake clock never moves in these tests unless told to, so a queued
// message can go out only because of a kick, never because a timer fired.

func TestOutboundRetriedWhenConnected(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a := h.attach(alice, "phone")
	b.setSendErr(fmt.Errorf("socket closed: %w", ErrNotConnected))

	m := h.send(a, outMsg(aliceNet, "wait for me", ""))
	h.store.await(t, "a failed attempt recorded", func() bool {
		for _, it := range h.store.queue {
			if it.Message.ID == m.ID && it.Attempts == 1 {
				return true
			}
		}
		return false
	})
	it, ok := h.store.pending(m.ID)
	if !ok || !it.NextAttempt.After(testTime) || !strings.Contains(it.LastError, "not connected") {
		t.Fatalf("queued item %+v (queued %v)", it, ok)
	}

	b.setSendErr(nil)
	b.receive(t, NetworkStateEvent{State: StateConnected})
	b.awaitSent(t, m.ID) // at once, though its retry time has not come
	h.store.await(t, "the item to leave the queue", func() bool { return len(h.store.queue) == 0 })

	ev := next[NetworkStateEvent](t, a)
	if ev.State != StateConnected || ev.User != alice || ev.Network != aliceNet || !ev.At.Equal(testTime) {
		t.Errorf("state event %+v", ev)
	}
	if st := h.hub.NetworkStates(alice); len(st) != 1 || st[0].State != StateConnected {
		t.Errorf("NetworkStates = %+v", st)
	}
}

func TestOutboundBackoffKeepsOrder(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a := h.attach(alice, "phone")
	b.setSendErr(ErrNotConnected)
	m1 := h.send(a, outMsg(aliceNet, "1", ""))
	h.store.await(t, "a failed attempt recorded", func() bool {
		return len(h.store.queue) == 1 && h.store.queue[0].Attempts == 1
	})
	b.setSendErr(nil)

	h.store.mu.Lock()
	calls := h.store.pendingCalls
	h.store.mu.Unlock()
	m2 := h.send(a, outMsg(aliceNet, "2", ""))
	h.store.await(t, "the queue to be read after the send", func() bool { return h.store.pendingCalls > calls })
	b.mu.Lock()
	sent, attempts := len(b.sent), len(b.attempts)
	b.mu.Unlock()
	if sent != 0 || attempts != 1 {
		t.Fatalf("before its retry time: %d sent, %d attempts; want 0 and 1", sent, attempts)
	}

	h.clock.Advance(10 * time.Minute) // past any first backoff
	m3 := h.send(a, outMsg(aliceNet, "3", ""))
	b.awaitSent(t, m3.ID)
	b.mu.Lock()
	defer b.mu.Unlock()
	var order []MessageID
	for _, m := range b.sent {
		order = append(order, m.ID)
	}
	if want := []MessageID{m1.ID, m2.ID, m3.ID}; !slices.Equal(order, want) {
		t.Errorf("sent %v, want %v", order, want)
	}
}

func TestOutboundPermanentFailure(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a, other := h.attach(alice, "phone"), h.attach(alice, "laptop")
	b.setSendErr(Permanent(errors.New("cannot send to channel")))

	m := h.send(a, outMsg(aliceNet, "refused", ""))
	for _, s := range []*Session{a, other} {
		ev := next[SendFailedEvent](t, s)
		if ev.User != alice || ev.Message != m.ID || !strings.Contains(ev.Reason, "cannot send to channel") {
			t.Errorf("session %d: %+v", s.ID, ev)
		}
	}
	h.store.mu.Lock()
	cause, failed := h.store.failed[m.ID]
	h.store.mu.Unlock()
	if !failed || !strings.Contains(cause, "cannot send to channel") {
		t.Errorf("store: failed %v, cause %q", failed, cause)
	}

	b.setSendErr(nil)
	m2 := h.send(a, outMsg(aliceNet, "fine", ""))
	b.awaitSent(t, m2.ID)
	b.mu.Lock()
	defer b.mu.Unlock()
	if want := []MessageID{m.ID, m2.ID}; !slices.Equal(b.attempts, want) {
		t.Errorf("attempts %v, want %v: a refused message is not retried", b.attempts, want)
	}
}

// With a clock behind the real one (as tests use), a waiting item must not
// make the sender spin on the queue.
func TestOutboundWaitDoesNotSpin(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a := h.attach(alice, "phone")
	b.setSendErr(ErrNotConnected)
	h.send(a, outMsg(aliceNet, "waits", ""))
	h.store.await(t, "a failed attempt recorded", func() bool {
		return len(h.store.queue) == 1 && h.store.queue[0].Attempts == 1
	})
	h.store.mu.Lock()
	before := h.store.pendingCalls
	h.store.mu.Unlock()
	// An observation window, not synchronisation: the next attempt is due
	// at least a second from now on the Hub's clock.
	time.Sleep(100 * time.Millisecond)
	h.store.mu.Lock()
	reads := h.store.pendingCalls - before
	h.store.mu.Unlock()
	if reads > 2 {
		t.Errorf("sender read the queue %d times in 100ms while its only item waited", reads)
	}
}

func TestBridgeFailure(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{"permanent", Permanent(errors.New("banned")), "banned"},
		{"nil", nil, "without an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := startHub(t)
			b := h.bridge(aliceNet)
			a := h.attach(alice, "phone")
			b.fail <- tc.err
			ev := next[NetworkStateEvent](t, a)
			if ev.State != StateFailed || ev.Network != aliceNet || !strings.Contains(ev.Err, tc.wantErr) {
				t.Errorf("state event %+v", ev)
			}
			st := h.hub.NetworkStates(alice)
			if len(st) != 1 || st[0].State != StateFailed {
				t.Errorf("NetworkStates = %+v", st)
			}
			b.mu.Lock()
			cerr := b.runCtxErr
			b.mu.Unlock()
			if cerr != nil {
				t.Errorf("bridge's context ended (%v); the bridge stopped by itself", cerr)
			}
		})
	}
}

func TestRetryDelay(t *testing.T) {
	for attempt := 0; attempt < 30; attempt++ {
		ceiling := 5 * time.Minute
		if attempt < 20 {
			ceiling = min(time.Second<<attempt, ceiling)
		}
		for range 20 {
			if d := RetryDelay(attempt); d < ceiling/2 || d > ceiling {
				t.Fatalf("RetryDelay(%d) = %v, want within [%v, %v]", attempt, d, ceiling/2, ceiling)
			}
		}
	}
}
