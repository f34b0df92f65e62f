package xmpp

// The end-to-end tests run the bridge the way the daemon does: a real
// history store, the Hub and a device session watching what arrives,
// against a real Prosody on loopback, with mellium clients as the
// contact bob and as another client of the user's account. The store is
// imported by tests only; the bridge itself knows nothing of it.

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/testpeer"
)

type stack struct {
	t      testing.TB
	st     *history.Store
	hub    *core.Hub
	user   core.User
	net    core.Network
	dev    *core.Session
	bridge atomic.Pointer[Bridge] // the running bridge, once the Hub made it
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

// newStack starts a store, a Hub with the XMPP bridge, the user alice with
// one XMPP network of the given settings, and a device session attached
// before the bridge starts, so it sees every event.
func newStack(t testing.TB, settings core.Settings) *stack {
	t.Helper()
	ctx := context.Background()
	st, err := history.Open(ctx, filepath.Join(t.TempDir(), "switchboard.db"), history.Options{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "alice", "correct horse", false)
	if err != nil {
		t.Fatal(err)
	}
	n, err := st.CreateNetwork(ctx, core.Network{User: u.ID, Name: "work", Kind: core.KindXMPP, Settings: settings, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	reg := &core.Registry{}
	s := &stack{t: t, st: st, user: u, net: n, done: make(chan struct{})}
	kind := Kind()
	kind.New = func(env core.BridgeEnv) (core.Bridge, error) {
		b, err := New(env)
		if err == nil {
			s.bridge.Store(b.(*Bridge))
		}
		return b, err
	}
	reg.Register(kind)
	hub := core.NewHub(core.HubConfig{Store: st, History: st, Rooms: st, Bridges: reg, Log: testLog(t), SessionQueue: 1 << 16})
	dev, err := hub.Attach(ctx, u.ID, "test-device")
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	s.hub, s.cancel, s.dev = hub, cancel, dev
	go func() {
		defer close(s.done)
		hub.Run(runCtx)
	}()
	t.Cleanup(func() {
		s.cancel()
		<-s.done
		s.st.Close()
	})
	return s
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

func (s *stack) waitState(timeout time.Duration, want core.ConnState) core.NetworkStateEvent {
	s.t.Helper()
	return s.waitEvent(timeout, string(want)+" state", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == want
	}).(core.NetworkStateEvent)
}

func (s *stack) waitMessage(timeout time.Duration, what string, match func(*core.Message) bool) *core.Message {
	s.t.Helper()
	return s.waitEvent(timeout, what, func(e core.Event) bool {
		me, ok := e.(core.MessageEvent)
		return ok && match(me.Message)
	}).(core.MessageEvent).Message
}

// stored is every message of the conversation with peer, oldest first.
func (s *stack) stored(peer string) []*core.Message {
	s.t.Helper()
	ctx := context.Background()
	convs, err := s.st.Conversations(ctx, s.user.ID)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, c := range convs {
		if c.Network == s.net.ID && c.Remote == peer {
			page, err := s.st.Messages(ctx, core.PageQuery{User: s.user.ID, Conversation: c.ID, Order: core.OldestFirst, Limit: 500})
			if err != nil {
				s.t.Fatal(err)
			}
			return page
		}
	}
	return nil
}

// pin is the tls-fingerprint of the test server's self-signed certificate.
func pin(t testing.TB, p *testpeer.Prosody) string { return p.Fingerprint() }

// accountSettings run the bridge for user's account on p as most tests
// do: STARTTLS on the server's port, its certificate pinned.
func accountSettings(t testing.TB, p *testpeer.Prosody, user, password string) core.Settings {
	return core.Settings{keyJID: user + "@" + p.Domain, keyPassword: password,
		keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), keyFingerprint: pin(t, p)}
}

// follow puts contact on user's roster from user's phone and has the
// contact agree to share presence: the phone and the contact's laptop,
// both logged in, are returned.
func follow(t testing.TB, p *testpeer.Prosody, user, contact string) (phone, laptop *client) {
	t.Helper()
	phone = dialClient(t, p, user, "pw", "phone")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := roster.Set(ctx, phone.xs, roster.Item{JID: jid.MustParse(contact + "@" + p.Domain), Name: contact}); err != nil {
		t.Fatal(err)
	}
	laptop = dialClient(t, p, contact, "pw", "laptop")
	phone.presence(contact+"@"+p.Domain, stanza.SubscribePresence, "")
	time.Sleep(200 * time.Millisecond)
	laptop.presence(user+"@"+p.Domain, stanza.SubscribedPresence, "")
	return phone, laptop
}

// client is a plain mellium client: the contact bob, or another client of
// the user's account.
type client struct {
	t    testing.TB
	xs   *xmpp.Session
	msgs chan stanzaMessage
	pres chan stanzaPresence
}

func dialClient(t testing.TB, p *testpeer.Prosody, user, password, resource string) *client {
	t.Helper()
	return dialClientAt(t, p.Domain, p.Port, user, password, resource)
}

// dialClientAt logs in to any server on loopback (ejabberd_test.go).
func dialClientAt(t testing.TB, domain string, port int, user, password, resource string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	addr := jid.MustParse(user + "@" + domain + "/" + resource)
	tcp, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The test client meets mellium's per-write deadline race as the
	// bridge does (boundedConn.ignoreDeadlines): after login, deadlines
	// are ignored.
	conn := &deadlineFreeConn{Conn: tcp}
	xs, err := xmpp.NewClientSession(ctx, addr, conn,
		xmpp.StartTLS(&tls.Config{ServerName: domain, InsecureSkipVerify: true}),
		xmpp.SASL("", password, sasl.ScramSha1, sasl.Plain), xmpp.BindResource())
	if err != nil {
		conn.Close()
		t.Fatalf("logging in %s: %v", addr, err)
	}
	conn.free.Store(true)
	c := &client{t: t, xs: xs, msgs: make(chan stanzaMessage, 100), pres: make(chan stanzaPresence, 100)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		xs.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local == "presence" {
				var p stanzaPresence
				if decodeStanza(start, r, &p) == nil {
					select {
					case c.pres <- p:
					default:
					}
				}
				return nil
			}
			if start.Name.Local != "message" {
				return nil
			}
			var m stanzaMessage
			if decodeStanza(start, r, &m) == nil {
				select {
				case c.msgs <- m:
				default:
				}
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		xs.Close()
		xs.Conn().Close()
		<-served
	})
	return c
}

// message sends a chat message without an origin-id, as many clients do,
// so the bridge must match its copies by the stanza id.
func (c *client) message(to, id, body string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := c.xs.Send(ctx, stanza.Message{ID: id, To: jid.MustParse(to), Type: stanza.ChatMessage}.Wrap(textElement("body", body)))
	if err != nil {
		c.t.Fatal(err)
	}
}

// presence sends a presence of type typ to to; with to "", the client's
// own presence, which the server broadcasts to its subscribers.
func (c *client) presence(to string, typ stanza.PresenceType, show string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := stanza.Presence{Type: typ}
	if to != "" {
		p.To = jid.MustParse(to)
	}
	var payload xml.TokenReader
	if show != "" {
		payload = textElement("show", show)
	}
	if err := c.xs.Send(ctx, p.Wrap(payload)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) waitPresence(timeout time.Duration, what string, match func(stanzaPresence) bool) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case p := <-c.pres:
			if match(p) {
				return
			}
		case <-deadline:
			c.t.Fatalf("no presence %s within %s", what, timeout)
		}
	}
}

func (c *client) waitBody(timeout time.Duration, body string) stanzaMessage {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.msgs:
			if m.body() == body {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no message %q within %s", body, timeout)
		}
	}
}

// TestProsodyAccount runs the account through a real server: login over
// STARTTLS with the certificate pinned, the roster contact announced, the
// contact's presence, the user's status sent upstream, messages both ways stored and seen by the device,
// and a message sent from another client of the account stored as the
// user's own through its carbon.
func TestProsodyAccount(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain

	// alice subscribes to bob's presence, and bob agrees.
	phone, b := follow(t, p, "alice", "bob")
	// And bob to hers, which her phone agrees to.
	b.presence(alice, stanza.SubscribePresence, "")
	time.Sleep(200 * time.Millisecond)
	phone.presence(bob, stanza.SubscribedPresence, "")

	s := newStack(t, accountSettings(t, p, "alice", "pw"))
	s.waitEvent(20*time.Second, "bob from the roster", func(e core.Event) bool {
		pe, ok := e.(core.PresenceEvent)
		return ok && pe.Contact == bob && pe.Show == core.ShowOffline
	})
	s.waitState(20*time.Second, core.StateConnected)

	b.presence("", "", "away")
	s.waitEvent(10*time.Second, "bob away", func(e core.Event) bool {
		pe, ok := e.(core.PresenceEvent)
		return ok && pe.Contact == bob && pe.Show == core.ShowAway
	})

	// The user's status, set on a device, becomes the account's presence.
	if err := s.hub.SetStatus(context.Background(), s.dev, core.Status{Show: core.ShowDND, Text: "in a meeting"}); err != nil {
		t.Fatal(err)
	}
	// From the resource the bridge binds, "switchboard" by default
	// (bind.go; mellium's own bind sent none).
	b.waitPresence(10*time.Second, "dnd from alice", func(p stanzaPresence) bool {
		return p.From == alice+"/switchboard" && p.Show == "dnd" && len(p.Statuses) == 1 && p.Statuses[0] == "in a meeting"
	})

	b.message(alice, "bob-1", "hello alice")
	in := s.waitMessage(10*time.Second, "bob's message", func(m *core.Message) bool { return m.Body == "hello alice" })
	if in.Direction != core.Incoming || in.Peer != (core.Peer{Kind: core.Direct, Remote: bob}) || in.Sender.Addr != bob || in.OriginID != "bob-1" || in.ID == 0 {
		t.Fatalf("incoming message: %+v", in)
	}

	sent, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer("Bob@LOCALHOST/whatever"), Kind: core.KindChat, Body: "hi bob"})
	if err != nil {
		t.Fatal(err)
	}
	got := b.waitBody(10*time.Second, "hi bob")
	if got.OriginID == nil || got.OriginID.ID != got.ID || got.Type != "chat" {
		t.Fatalf("bob got %+v", got)
	}
	// The runner records the id the bridge returned on the stored message.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var origin string
		for _, m := range s.stored(bob) {
			if m.ID == sent.ID {
				origin = m.OriginID
			}
		}
		if origin == got.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored origin id %q, bob got id %q", origin, got.ID)
		}
		time.Sleep(50 * time.Millisecond)
	}

	phone.message(bob, "phone-1", "sent from my phone")
	out := s.waitMessage(10*time.Second, "the carbon of the phone's message", func(m *core.Message) bool { return m.Body == "sent from my phone" })
	if out.Direction != core.Outgoing || out.Peer.Remote != bob || out.OriginID != "phone-1" {
		t.Fatalf("carbon stored as %+v", out)
	}
	b.waitBody(10*time.Second, "sent from my phone")
}

// TestProsodyRestartFillsGap kills the server under a bridge on direct
// TLS; messages that reach the server before the bridge is back come
// from the archive, each once, and what was stored before is not
// repeated.
func TestProsodyRestartFillsGap(t *testing.T) {
	old := backoffUnit
	backoffUnit = 1500 * time.Millisecond // room for bob to write between the restart and the reconnect
	t.Cleanup(func() { backoffUnit = old })

	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain
	s := newStack(t, core.Settings{keyJID: alice, keyPassword: "pw", keyTLS: "direct",
		keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.TLSPort)), keyFingerprint: pin(t, p)})
	s.waitState(20*time.Second, core.StateConnected)

	b := dialClient(t, p, "bob", "pw", "laptop")
	b.message(alice, "live-1", "before the restart")
	s.waitMessage(10*time.Second, "the live message", func(m *core.Message) bool { return m.Body == "before the restart" })

	p.Stop()
	s.waitState(20*time.Second, core.StateDisconnected)
	p.Start()
	b = dialClient(t, p, "bob", "pw", "laptop2")
	b.message(alice, "gap-1", "while you were away 1")
	b.message(alice, "gap-2", "while you were away 2")
	for _, ns := range s.hub.NetworkStates(s.user.ID) {
		if ns.State == core.StateConnected {
			t.Fatal("the bridge was back before bob wrote: there is no gap to fill")
		}
	}
	archived := counterValue(t, metricArchived)

	s.waitState(30*time.Second, core.StateConnected)
	s.waitMessage(20*time.Second, "the second archived message", func(m *core.Message) bool { return m.Body == "while you were away 2" })

	if got := counterValue(t, metricArchived) - archived; got < 2 {
		t.Errorf("%v messages read from the archive, want the 2 of the gap at least", got)
	}
	// Let any duplicate the gap fill might add arrive before counting.
	b.message(alice, "live-2", "after the restart")
	s.waitMessage(10*time.Second, "the live message after", func(m *core.Message) bool { return m.Body == "after the restart" })
	var bodies []string
	for _, m := range s.stored(bob) {
		bodies = append(bodies, m.Body)
	}
	want := []string{"before the restart", "while you were away 1", "while you were away 2", "after the restart"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Fatalf("stored %q, want %q", bodies, want)
	}
}

// TestProsodyWrongPassword: a refused login fails the network for good
// rather than retrying.
func TestProsodyWrongPassword(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw"})
	s := newStack(t, accountSettings(t, p, "alice", "wrong"))
	ev := s.waitState(20*time.Second, core.StateFailed)
	if !strings.Contains(ev.Err, "logging in") {
		t.Fatalf("failed state says %q", ev.Err)
	}
	// A permanent failure is not retried: no new attempt follows.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for {
		e, err := s.dev.Next(ctx)
		if err != nil {
			break
		}
		if ns, ok := e.(core.NetworkStateEvent); ok && ns.State == core.StateConnecting {
			t.Fatalf("the bridge retried after a refused login")
		}
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestProsodyWrongPin: a server whose certificate is not the pinned one
// is never logged in to, and the network fails for good.
func TestProsodyWrongPin(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw"})
	for _, tlsMode := range []string{"starttls", "direct"} {
		t.Run(tlsMode, func(t *testing.T) {
			port := p.Port
			if tlsMode == "direct" {
				port = p.TLSPort
			}
			s := newStack(t, core.Settings{keyJID: "alice@" + p.Domain, keyPassword: "pw", keyTLS: tlsMode,
				keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), keyFingerprint: strings.Repeat("00", 32)})
			ev := s.waitState(20*time.Second, core.StateFailed)
			if !strings.Contains(ev.Err, "tls-fingerprint") || !strings.Contains(ev.Err, pin(t, p)) {
				t.Fatalf("failed state says %q; want the mismatch and the server's fingerprint", ev.Err)
			}
		})
	}
}

// deadlineFreeConn ignores deadlines once free is set; see
// boundedConn.ignoreDeadlines for why.
type deadlineFreeConn struct {
	net.Conn
	free atomic.Bool
}

func (c *deadlineFreeConn) SetDeadline(t time.Time) error {
	if c.free.Load() {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *deadlineFreeConn) SetWriteDeadline(t time.Time) error {
	if c.free.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *deadlineFreeConn) SetReadDeadline(t time.Time) error {
	if c.free.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

// TestProsodyDirectTLSBySRV: with direct TLS and no address, the bridge
// finds the server by its _xmpps-client._tcp records (pointed at a real
// Prosody's direct TLS port here) and dials it itself, so the stanza
// size bound sits beneath TLS on this path too.
func TestProsodyDirectTLSBySRV(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw"})
	old := lookupSRV
	t.Cleanup(func() { lookupSRV = old })
	var asked atomic.Value
	lookupSRV = func(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
		asked.Store(service + "." + proto + "." + name)
		return "", []*net.SRV{{Target: "127.0.0.1.", Port: uint16(p.TLSPort)}}, nil
	}
	s := newStack(t, core.Settings{keyJID: "alice@" + p.Domain, keyPassword: "pw", keyTLS: "direct", keyFingerprint: pin(t, p)})
	s.waitState(20*time.Second, core.StateConnected)
	if got, _ := asked.Load().(string); got != "xmpps-client.tcp."+p.Domain {
		t.Errorf("looked up %q, want the xmpps-client records of %s", got, p.Domain)
	}
	b := s.bridge.Load()
	if b == nil {
		t.Fatal("no bridge after connecting")
	}
	sess := b.cur.Load()
	if sess == nil {
		t.Fatal("no session after connecting")
	}
	if sess.bounded == nil {
		t.Fatal("the session has no size-bounded connection")
	}
	if _, raw := sess.bounded.Conn.(*net.TCPConn); !raw {
		t.Errorf("the size bound wraps %T, want the TCP connection beneath TLS", sess.bounded.Conn)
	}
}
