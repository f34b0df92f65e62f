package supervise

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Policy is how long to wait before the next attempt after a kind of
// failure: Base after the first, doubling up to Max.
type Policy struct {
	Base, Max time.Duration
}

// Backoff is the wait before attempt n (1-based): exponential, capped,
// with ±25% jitter so many bridges restarted together do not reconnect in
// step.
func Backoff(p Policy, n int) time.Duration {
	d := p.Base
	for i := 1; i < n && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Failure is a classified reason a session ended.
type Failure struct {
	Class     string // for logs and metrics: "temporary", "banned", ...
	Permanent bool   // retrying cannot mend it: stop and tell the user
	Retry     Policy
}

// Loop is one bridge's supervision.
type Loop struct {
	// Name is the protocol, for logs ("IRC", "XMPP").
	Name string
	// Session runs one connection until it ends; up says whether it got
	// far enough (registered, bound) to count as a working connection.
	Session func(ctx context.Context) (up bool, err error)
	// Classify says how a session's end is retried.
	Classify func(err error) Failure
	// State tells the user's devices and metrics the connection state.
	State func(ctx context.Context, s core.ConnState, errText string)
	// Failed, if set, counts each failure by class.
	Failed func(class string)
	// StableAfter is how long a session must stay up for the next
	// failure to count as a first one again.
	StableAfter time.Duration
	Log         *slog.Logger
}

// Run keeps the connection up until ctx ends (nil) or a permanent
// failure (a core.Permanent error).
func (l Loop) Run(ctx context.Context) error {
	attempt := 0
	for {
		l.State(ctx, core.StateConnecting, "")
		started := time.Now()
		up, err := l.Session(ctx)
		if ctx.Err() != nil {
			l.State(context.Background(), core.StateDisconnected, "stopped")
			return nil
		}
		f := l.Classify(err)
		if l.Failed != nil {
			l.Failed(f.Class)
		}
		if f.Permanent {
			l.Log.Warn(l.Name+" connection failed; not retrying until its settings change", "err", err)
			l.State(ctx, core.StateFailed, err.Error())
			return core.Permanent(err)
		}
		if up && time.Since(started) > l.StableAfter {
			attempt = 0
		}
		attempt++
		wait := Backoff(f.Retry, attempt)
		l.Log.Warn(l.Name+" connection lost; reconnecting", "err", err, "class", f.Class, "in", wait.Round(time.Millisecond), "attempt", attempt)
		l.State(ctx, core.StateDisconnected, err.Error())
		select {
		case <-ctx.Done():
			l.State(context.Background(), core.StateDisconnected, "stopped")
			return nil
		case <-time.After(wait):
		}
	}
}
