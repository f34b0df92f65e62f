package supervise

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestBackoffGrowsWithinBounds(t *testing.T) {
	p := Policy{Base: 2 * time.Second, Max: 300 * time.Second}
	for n, want := range map[int]time.Duration{1: 2 * time.Second, 2: 4 * time.Second, 5: 32 * time.Second, 20: 300 * time.Second} {
		for range 100 {
			d := Backoff(p, n)
			if d < want*3/4 || d > want*5/4 {
				t.Fatalf("attempt %d waited %v, want %v ±25%%", n, d, want)
			}
		}
	}
}

// TestLoopRetriesThenStopsOnPermanent: temporary failures are retried
// with the states shown; a permanent one ends the loop with a Permanent
// error and the failed state.
func TestLoopRetriesThenStopsOnPermanent(t *testing.T) {
	in := &recordInbound{}
	sessions := 0
	errFatal := errors.New("bad password")
	l := Loop{
		Name: "test",
		Session: func(ctx context.Context) (bool, error) {
			sessions++
			if sessions < 3 {
				return false, errors.New("connection refused")
			}
			return true, errFatal
		},
		Classify: func(err error) Failure {
			if errors.Is(err, errFatal) {
				return Failure{Class: "permanent", Permanent: true}
			}
			return Failure{Class: "temporary", Retry: Policy{Base: time.Millisecond, Max: time.Millisecond}}
		},
		Report:      Reporter{Kind: "test", Network: 1, Inbound: in, Log: slog.New(slog.DiscardHandler)},
		StableAfter: time.Minute,
		Log:         slog.New(slog.DiscardHandler),
	}
	err := l.Run(context.Background())
	if !core.IsPermanent(err) || !errors.Is(err, errFatal) {
		t.Fatalf("Run = %v, want the permanent failure", err)
	}
	if sessions != 3 {
		t.Errorf("%d sessions, want 3", sessions)
	}
	states := in.states()
	if len(states) != 6 || states[len(states)-1] != core.StateFailed {
		t.Errorf("states %v: want connecting and disconnected twice, connecting, failed", states)
	}
}

// TestLoopStopsWithItsContext: a cancelled context ends the loop with no
// error, the state disconnected.
func TestLoopStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in := &recordInbound{}
	l := Loop{
		Name:    "test",
		Session: func(ctx context.Context) (bool, error) { <-ctx.Done(); return true, ctx.Err() },
		Classify: func(error) Failure {
			return Failure{Class: "temporary", Retry: Policy{Base: time.Hour, Max: time.Hour}}
		},
		Report: Reporter{Kind: "test", Network: 2, Inbound: in, Log: slog.New(slog.DiscardHandler)},
		Log:    slog.New(slog.DiscardHandler),
	}
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if states := in.states(); states[len(states)-1] != core.StateDisconnected {
		t.Errorf("states %v, want to end disconnected", states)
	}
}

// recordInbound keeps the states a Reporter hands the Hub.
type recordInbound struct {
	mu  sync.Mutex
	got []core.ConnState
}

func (r *recordInbound) Receive(_ context.Context, events ...core.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range events {
		if s, ok := e.(core.NetworkStateEvent); ok {
			r.got = append(r.got, s.State)
		}
	}
	return nil
}

func (r *recordInbound) states() []core.ConnState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]core.ConnState(nil), r.got...)
}
