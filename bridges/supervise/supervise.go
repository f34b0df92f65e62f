package supervise

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
)

// Every bridge kind's connections in one metric family, labelled by kind:
// /metrics shows all networks' states the same way.
var (
	metricStates = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_bridge_networks",
		Help: "Bridged networks by kind and connection state.",
	}, []string{"kind", "state"})
	metricFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_bridge_connection_failures_total",
		Help: "Bridge connections that ended, by kind and class (temporary, throttled, banned, untrusted, permanent).",
	}, []string{"kind", "class"})
)

func init() { prometheus.MustRegister(metricStates, metricFailures) }

// lastStates is each network's last state, so the gauge counts every
// network once.
var (
	statesMu   sync.Mutex
	lastStates = make(map[core.NetworkID]core.ConnState)
)

// Reporter tells the user's devices and the metrics a network's
// connection state.
type Reporter struct {
	Kind    core.NetworkKind
	Network core.NetworkID
	Inbound core.Inbound
	Log     *slog.Logger
}

// Gauge moves the network in the state gauge; bridges that report the
// state through their own event batches call it beside them.
func (r Reporter) Gauge(s core.ConnState) {
	statesMu.Lock()
	defer statesMu.Unlock()
	if old, ok := lastStates[r.Network]; ok {
		metricStates.WithLabelValues(string(r.Kind), string(old)).Dec()
	}
	lastStates[r.Network] = s
	metricStates.WithLabelValues(string(r.Kind), string(s)).Inc()
}

// State records s in the gauge and hands it to the Hub for the devices.
func (r Reporter) State(ctx context.Context, s core.ConnState, errText string) {
	r.Gauge(s)
	ev := core.NetworkStateEvent{State: s, Err: errText, At: time.Now()}
	if err := r.Inbound.Receive(ctx, ev); err != nil && ctx.Err() == nil {
		r.Log.Debug("reporting connection state", "state", s, "err", err)
	}
}

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
	// Report tells the user's devices and the metrics the state.
	Report Reporter
	// StableAfter is how long a session must stay up for the next
	// failure to count as a first one again; zero means 2 minutes.
	StableAfter time.Duration
	Log         *slog.Logger
}

// Run keeps the connection up until ctx ends (nil) or a permanent
// failure (a core.Permanent error).
func (l Loop) Run(ctx context.Context) error {
	if l.StableAfter == 0 {
		l.StableAfter = 2 * time.Minute
	}
	attempt := 0
	for {
		l.Report.State(ctx, core.StateConnecting, "")
		started := time.Now()
		up, err := l.Session(ctx)
		if ctx.Err() != nil {
			l.Report.State(context.Background(), core.StateDisconnected, "stopped")
			return nil
		}
		f := l.Classify(err)
		metricFailures.WithLabelValues(string(l.Report.Kind), f.Class).Inc()
		if f.Permanent {
			l.Log.Warn(l.Name+" connection failed; not retrying until its settings change", "err", err)
			l.Report.State(ctx, core.StateFailed, err.Error())
			return core.Permanent(err)
		}
		if up && time.Since(started) > l.StableAfter {
			attempt = 0
		}
		attempt++
		wait := Backoff(f.Retry, attempt)
		l.Log.Warn(l.Name+" connection lost; reconnecting", "err", err, "class", f.Class, "in", wait.Round(time.Millisecond), "attempt", attempt)
		l.Report.State(ctx, core.StateDisconnected, err.Error())
		select {
		case <-ctx.Done():
			l.Report.State(context.Background(), core.StateDisconnected, "stopped")
			return nil
		case <-time.After(wait):
		}
	}
}
