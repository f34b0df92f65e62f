package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/selfsigned"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// The federation figures of issue 9, measured in-process with the
// daemon's own wiring (store, Hub, fed Service, HTTPS listener on
// loopback), two servers a.bench and b.bench:
//
//	go test -tags sqlite_fts5 -run XXX -bench BenchmarkFed -benchtime 1x ./cmd/switchboard/

// benchNode is one in-process server.
type benchNode struct {
	domain string
	cfg    config.Config
	st     *history.Store
	hub    *core.Hub
	svc    *fed.Service
	user   core.User
	net    core.NetworkID
	srv    *http.Server
	ln     net.Listener
	cert   tls.Certificate
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startBenchNodes builds a node per domain with user name on each; the
// listeners and the fed Services do not run until serve and runFed.
func startBenchNodes(tb testing.TB, user string, domains ...string) []*benchNode {
	tb.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if benchLog {
		quiet = slog.Default()
	}
	ports := testpeer.FreeLoopbackPorts(tb, len(domains))
	nodes := make([]*benchNode, len(domains))
	for i, d := range domains {
		cfg := config.Default()
		cfg.Domain, cfg.DataDir = d, filepath.Join(tb.TempDir(), d)
		cfg.HTTP.PublicURL = fmt.Sprintf("https://127.0.0.1:%d", ports[i])
		cfg.Federation.Discover = false
		n := &benchNode{domain: d, cfg: cfg}
		var err error
		certFile, keyFile := cfg.CertPaths()
		if n.cert, err = selfsigned.LoadOrCreate(certFile, keyFile, d); err != nil {
			tb.Fatal(err)
		}
		nodes[i] = n
	}
	for i, n := range nodes {
		for j, o := range nodes {
			if i != j {
				cert, _ := o.cfg.CertPaths()
				n.cfg.Federation.Peers[o.domain] = config.PeerConfig{URL: o.cfg.HTTP.PublicURL, CAFile: cert}
			}
		}
		ctx := context.Background()
		var err error
		if n.st, err = history.Open(ctx, filepath.Join(n.cfg.DataDir, "switchboard.db"), history.Options{Log: quiet}); err != nil {
			tb.Fatal(err)
		}
		if n.user, err = n.st.CreateUser(ctx, user, "pw", false); err != nil {
			tb.Fatal(err)
		}
		if _, err := ensureFedNetworks(ctx, n.st); err != nil {
			tb.Fatal(err)
		}
		nets, _ := n.st.Networks(ctx, n.user.ID)
		n.net = nets[0].ID
		dir := &fedDirectory{st: n.st}
		if n.svc, err = newFedService(n.cfg, n.st, dir, quiet); err != nil {
			tb.Fatal(err)
		}
		n.hub = core.NewHub(core.HubConfig{Store: n.st, History: n.st, Bridges: bridgeRegistry(n.svc), Log: quiet, SessionQueue: 1 << 20})
		dir.hub = n.hub
		n.ctx, n.cancel = context.WithCancel(context.Background())
		n.wg.Add(1)
		go func() { defer n.wg.Done(); _ = n.hub.Run(n.ctx) }()
		tb.Cleanup(n.close)
	}
	return nodes
}

func (n *benchNode) serve(tb testing.TB) {
	tb.Helper()
	ln, err := net.Listen("tcp", n.cfg.HTTP.PublicURL[len("https://"):])
	if err != nil {
		tb.Fatal(err)
	}
	n.ln = ln
	n.srv = &http.Server{Handler: n.svc.Handler(), TLSConfig: &tls.Config{Certificates: []tls.Certificate{n.cert}},
		ErrorLog: slog.NewLogLogger(slog.New(slog.NewTextHandler(io.Discard, nil)).Handler(), slog.LevelError)}
	go func() { _ = n.srv.ServeTLS(ln, "", "") }()
}

func (n *benchNode) runFed() {
	n.wg.Add(1)
	go func() { defer n.wg.Done(); _ = n.svc.Run(n.ctx) }()
}

func (n *benchNode) close() {
	n.cancel()
	if n.srv != nil {
		n.srv.Close()
	}
	n.wg.Wait()
	n.st.Close()
}

// attach returns a session of the node's user once its fed network runs.
func (n *benchNode) attach(tb testing.TB) *core.Session {
	tb.Helper()
	s, err := n.hub.Attach(n.ctx, n.user.ID, "bench")
	if err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); len(n.hub.NetworkStates(n.user.ID)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			tb.Fatal("fed network did not start")
		}
	}
	return s
}

func (n *benchNode) send(tb testing.TB, s *core.Session, to, body string) {
	m := &core.Message{Network: n.net, Peer: core.Peer{Kind: core.Direct, Remote: to}, Kind: core.KindChat, Body: body}
	if _, err := n.hub.Send(n.ctx, s, m); err != nil {
		tb.Fatal(err)
	}
}

// countIncoming counts incoming messages on s until want arrived.
func countIncoming(ctx context.Context, s *core.Session, want int64, got *atomic.Int64, done chan<- time.Time) {
	for {
		e, err := s.Next(ctx)
		if err != nil {
			return
		}
		if me, ok := e.(core.MessageEvent); ok && me.Message.Direction == core.Incoming {
			if got.Add(1) == want {
				done <- time.Now()
				return
			}
		}
	}
}

// BenchmarkFedLatency: one message at a time from alice@a.bench to
// bob@b.bench, from Hub.Send on a to bob's session on b. The pace stays
// under the default per-peer rate limit (50 requests/s).
func BenchmarkFedLatency(b *testing.B) {
	nodes := startBenchNodes(b, "u", "a.bench", "b.bench")
	a, bn := nodes[0], nodes[1]
	a.serve(b)
	bn.serve(b)
	a.runFed()
	bn.runFed()
	sa, sb := a.attach(b), bn.attach(b)
	const samples = 400
	var lat []time.Duration
	b.ResetTimer()
	for i := range samples {
		t0 := time.Now()
		a.send(b, sa, "u@b.bench", fmt.Sprintf("ping %d", i))
		for {
			e, err := sb.Next(a.ctx)
			if err != nil {
				b.Fatal(err)
			}
			if me, ok := e.(core.MessageEvent); ok && me.Message.Direction == core.Incoming {
				break
			}
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(25 * time.Millisecond)
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
	b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
}

// BenchmarkFedThroughput: 20,480 messages sent from 64 devices of alice
// at once; messages per second until bob's session has them all.
func BenchmarkFedThroughput(b *testing.B) {
	const senders = 64
	const total = senders * 320
	nodes := startBenchNodes(b, "u", "a.bench", "b.bench")
	a, bn := nodes[0], nodes[1]
	a.serve(b)
	bn.serve(b)
	a.runFed()
	bn.runFed()
	sb := bn.attach(b)
	var sessions []*core.Session
	for range senders {
		sessions = append(sessions, a.attach(b))
	}
	var got atomic.Int64
	done := make(chan time.Time, 1)
	go countIncoming(a.ctx, sb, total, &got, done)
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range total / senders {
				a.send(b, s, "u@b.bench", fmt.Sprintf("m %d %d", i, j))
			}
		}()
	}
	wg.Wait()
	stored := time.Since(start)
	select {
	case end := <-done:
		b.StopTimer()
		b.ReportMetric(float64(total)/end.Sub(start).Seconds(), "msg/s")
		b.ReportMetric(float64(total)/stored.Seconds(), "sent-msg/s")
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d arrived in 5 min", got.Load(), total)
	}
}

// BenchmarkFedBacklog: 100,000 events wait in a's queue for b; the time
// from a's Service starting (b is up) until bob's session has them all.
func BenchmarkFedBacklog(b *testing.B) {
	total := backlogTotal
	nodes := startBenchNodes(b, "u", "a.bench", "b.bench")
	a, bn := nodes[0], nodes[1]
	bn.serve(b)
	bn.runFed()
	a.serve(b) // b fetches a's keys from it
	sb := bn.attach(b)
	var batch []core.FedQueued
	for i := range int(total) {
		ev := fed.Event{ID: fmt.Sprintf("backlog-%d", i), Type: fed.TypeMessage, From: "u@a.bench", To: "u@b.bench",
			Time: time.Now().UTC(), Kind: "chat", Body: fmt.Sprintf("queued while b was away %d", i)}
		payload, _ := json.Marshal(ev)
		batch = append(batch, core.FedQueued{Peer: "b.bench", EventID: ev.ID, User: a.user.ID, Payload: payload})
		if len(batch) == 1000 || i == int(total)-1 {
			if _, err := a.st.EnqueueFed(a.ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	var got atomic.Int64
	done := make(chan time.Time, 1)
	go countIncoming(a.ctx, sb, total, &got, done)
	b.ResetTimer()
	start := time.Now()
	a.runFed()
	select {
	case end := <-done:
		b.StopTimer()
		b.ReportMetric(end.Sub(start).Seconds(), "drain-s")
		b.ReportMetric(float64(total)/end.Sub(start).Seconds(), "msg/s")
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d arrived in 5 min", got.Load(), total)
	}
}

// backlogTotal is the backlog's size; tests of the benchmark shrink it.
var backlogTotal int64 = 100000

// benchLog sends the nodes' logs to stderr, for debugging.
var benchLog = false
