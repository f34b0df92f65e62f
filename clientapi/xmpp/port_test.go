package xmpp

// The port's tests run it the way the daemon does: a real history store
// and Hub behind it, listeners on loopback. The store is imported by tests
// only.

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/bridges/irc"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/selfsigned"
)

const testDomain = "example.org"

type testPort struct {
	t          testing.TB
	srv        *Server
	st         *history.Store
	hub        *core.Hub
	user       core.User
	password   string
	network    core.Network
	bridge     chan *fakeBridge // holds the running bridge once it starts
	sent       chan *core.Message
	invites    chan string // the fake bridge's InviteToRoom calls
	addr       string      // STARTTLS
	directAddr string      // direct TLS
	cert       tls.Certificate
	logMu      sync.Mutex
	logLines   []string
	sessions   countingGauge
}

// countingGauge is the port's sessions gauge in tests.
type countingGauge struct{ n atomic.Int64 }

func (g *countingGauge) Inc() { g.n.Add(1) }
func (g *countingGauge) Dec() { g.n.Add(-1) }

func testLogger(t testing.TB) *slog.Logger {
	level := slog.LevelWarn
	if testing.Verbose() {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(logWriter{t}, &slog.HandlerOptions{Level: level}))
}

type logWriter struct{ t testing.TB }

// logCapture keeps every record's text, for tests that check what the
// port logged (which SASL mechanism a client used, say).
type logCapture struct {
	slog.Handler
	mu    *sync.Mutex
	lines *[]string
}

func (h logCapture) Enabled(context.Context, slog.Level) bool { return true }

func (h logCapture) Handle(ctx context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.Key + "=" + a.Value.String())
		return true
	})
	h.mu.Lock()
	*h.lines = append(*h.lines, b.String())
	h.mu.Unlock()
	if h.Handler.Enabled(ctx, r.Level) {
		return h.Handler.Handle(ctx, r)
	}
	return nil
}

func (h logCapture) WithAttrs(as []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(as)
	return h
}

func (h logCapture) WithGroup(g string) slog.Handler {
	h.Handler = h.Handler.WithGroup(g)
	return h
}

// logged reports whether a log line contains all of parts.
func (p *testPort) logged(parts ...string) bool {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	for _, l := range p.logLines {
		all := true
		for _, part := range parts {
			all = all && strings.Contains(l, part)
		}
		if all {
			return true
		}
	}
	return false
}

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// selfSigned is the daemon's own generated certificate, for the domain
// and its network sub-domains.
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	dir := t.TempDir()
	cert, err := selfsigned.LoadOrCreate(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), testDomain, "*."+testDomain)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// startPort runs the port with user alice (password returned) who has one
// IRC network, "libera", with no bridge running: messages to it are stored
// and queued. mods change the port's configuration.
func startPort(t testing.TB, mods ...func(*Config)) *testPort {
	t.Helper()
	ctx := context.Background()
	st, err := history.Open(ctx, filepath.Join(t.TempDir(), "sb.db"), history.Options{Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	const password = "correct horse battery"
	u, err := st.CreateUser(ctx, "alice", password, false)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := st.CreateNetwork(ctx, core.Network{User: u.ID, Name: "libera", Kind: core.KindIRC,
		Settings: core.Settings{"addr": "irc://127.0.0.1:1", "nick": "alice"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	bridges := make(chan *fakeBridge, 1)
	sent := make(chan *core.Message, 100)
	invites := make(chan string, 16)
	reg := &core.Registry{}
	// The network is IRC as far as names go (the real bridge's ParsePeer),
	// with a fake connection.
	reg.Register(core.BridgeKind{Kind: core.KindIRC, ParsePeer: irc.Kind().ParsePeer, New: func(env core.BridgeEnv) (core.Bridge, error) {
		b := &fakeBridge{env: env, sent: sent, invites: invites}
		bridges <- b
		return b, nil
	}})
	p := &testPort{t: t, st: st, user: u, password: password, network: nw, bridge: bridges, sent: sent, invites: invites}
	// The Hub's lines are captured too: p.logged sees them.
	logger := slog.New(logCapture{Handler: testLogger(t).Handler(), mu: &p.logMu, lines: &p.logLines})
	hub := core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, Log: logger})
	p.hub = hub
	runCtx, cancel := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		hub.Run(runCtx)
	}()
	cert := selfSigned(t)
	p.cert = cert
	cfg := Config{Domain: testDomain, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Store: st, Hub: hub, Log: logger, MaxLoginFailures: 5, LoginLockout: time.Minute, Version: "test", Sessions: &p.sessions}
	for _, mod := range mods {
		mod(&cfg)
	}
	srv := New(cfg)
	p.srv = srv
	for _, direct := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if direct {
			p.directAddr = ln.Addr().String()
		} else {
			p.addr = ln.Addr().String()
		}
		go srv.Serve(runCtx, ln, direct)
	}
	t.Cleanup(func() {
		cancel()
		srv.Wait()
		<-hubDone
		st.Close()
	})
	return p
}

// fakeBridge stands in for the IRC bridge: the tests hand events to the
// Hub through its Inbound, and see what the port sends.
type fakeBridge struct {
	env     core.BridgeEnv
	sent    chan *core.Message
	joins   atomic.Int32 // JoinRoom calls
	invites chan string  // InviteToRoom calls: "room invitee reason"
}

// InviteToRoom takes every invitation, for the tests to read.
func (b *fakeBridge) InviteToRoom(ctx context.Context, room, invitee, reason string) error {
	select {
	case b.invites <- room + " " + invitee + " " + reason:
	default:
	}
	return nil
}

func (b *fakeBridge) Run(ctx context.Context) error {
	b.env.Inbound.Receive(ctx, core.NetworkStateEvent{State: core.StateConnected})
	<-ctx.Done()
	return nil
}

func (b *fakeBridge) Send(ctx context.Context, m *core.Message) (string, error) {
	select {
	case b.sent <- m:
	default:
	}
	return "irc-" + m.ID.String(), nil
}

func (b *fakeBridge) SetStatus(ctx context.Context, s core.Status) error { return nil }

// JoinRoom joins as an IRC network does: the user's own join, the topic
// (RPL_TOPIC), then the member list (alice, bob as channel operator,
// carol; RPL_ENDOFNAMES). #banned refuses the join.
func (b *fakeBridge) JoinRoom(ctx context.Context, room, key string) error {
	b.joins.Add(1)
	if room == "#banned" {
		return errors.New("cannot join #banned: you are banned (+b)")
	}
	return b.env.Inbound.Receive(ctx,
		core.MembershipEvent{Room: room, Change: core.MemberJoined, Member: core.Member{Nick: "alice"}, Self: true},
		core.TopicEvent{Room: room, Topic: "Go talk", SetBy: "bob"},
		core.RoomMembersEvent{Room: room, Members: []core.Member{{Nick: "alice"}, {Nick: "bob", Role: "op"}, {Nick: "carol"}}})
}

func (b *fakeBridge) LeaveRoom(ctx context.Context, room, reason string) error {
	return b.env.Inbound.Receive(ctx, core.MembershipEvent{Room: room, Change: core.MemberLeft, Member: core.Member{Nick: "alice"}, Self: true})
}

// receive hands events to the Hub as the network's bridge.
func (p *testPort) receive(t testing.TB, events ...core.Event) {
	t.Helper()
	select {
	case b := <-p.bridge:
		p.bridge <- b
		if err := b.env.Inbound.Receive(context.Background(), events...); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the network's bridge never started")
	}
}

// incoming is a message from an IRC contact or room.
func (p *testPort) incoming(peer core.Peer, from, body string) core.MessageEvent {
	return core.MessageEvent{Message: &core.Message{Peer: peer, Sender: core.Address{Addr: from, Name: from},
		Kind: core.KindChat, Body: body, Time: time.Now()}}
}

// session is the port's bound session of alice's resource.
func (p *testPort) session(t testing.TB, resource string) *session {
	t.Helper()
	p.srv.mu.Lock()
	defer p.srv.mu.Unlock()
	s := p.srv.sessions[p.user.ID][resource]
	if s == nil {
		t.Fatalf("no session of resource %q", resource)
	}
	return s
}
