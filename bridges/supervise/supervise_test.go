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
	var mu sync.Mutex
	var states []core.ConnState
	var classes []string
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
		State: func(ctx context.Context, s core.ConnState, _ string) {
			mu.Lock()
			states = append(states, s)
			mu.Unlock()
		},
		Failed:      func(c string) { classes = append(classes, c) },
		StableAfter: time.Minute,
		Log:         slog.New(slog.DiscardHandler),
	}
	err := l.Run(context.Background())
	if !core.IsPermanent(err) || !errors.Is(err, errFatal) {
		t.Fatalf("Run = %v, want the permanent failure", err)
	}
	if sessions != 3 || len(classes) != 3 || classes[2] != "permanent" {
		t.Errorf("%d sessions, failures %v", sessions, classes)
	}
	if last := states[len(states)-1]; last != core.StateFailed {
		t.Errorf("states %v end in %s, want failed", states, last)
	}
}

// TestLoopStopsWithItsContext: a cancelled context ends the loop with no
// error, the state disconnected.
func TestLoopStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var last core.ConnState
	l := Loop{
		Name:    "test",
		Session: func(ctx context.Context) (bool, error) { <-ctx.Done(); return true, ctx.Err() },
		Classify: func(error) Failure {
			return Failure{Class: "temporary", Retry: Policy{Base: time.Hour, Max: time.Hour}}
		},
		State: func(_ context.Context, s core.ConnState, _ string) { last = s },
		Log:   slog.New(slog.DiscardHandler),
	}
	done := make(chan error)
	go func() { done <- l.Run(ctx) }()
	cancel()
	if err := <-done; err != nil || last != core.StateDisconnected {
		t.Errorf("Run = %v, last state %s", err, last)
	}
}
