package irc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

// InspIRCd registers clients in a once-a-second pass, and with Atheme
// linked it takes a little longer still.
const inspWait = 20 * time.Second

// waitStored polls the store until a message of the conversation matches.
func (s *stack) waitStored(timeout time.Duration, peer core.Peer, what string, match func(*core.Message) bool) *core.Message {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		for _, m := range s.messages(peer) {
			if match(m) {
				return m
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("no stored %s within %s", what, timeout)
	return nil
}

// TestSASLPlainEchoAndTyping: the bridge logs in with SASL PLAIN to
// InspIRCd with Atheme, learns each sent message's msgid from its echo,
// and carries typing notifications both ways.
func TestSASLPlainEchoAndTyping(t *testing.T) {
	srv := startInspircd(t, serverOpts{SASL: true})
	srv.RegisterAccount(t, "alice", "sekrit-pw")
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#h", "password", "sekrit-pw"))
	st.waitConnected(inspWait)

	bob := dialIRC(t, srv.Addr, "bob", "message-tags")
	bob.Send(t, "WHOIS alice")
	whois := bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "330" || m.Command == "318" })
	if whois.Command != "330" || whois.Params[2] != "alice" {
		t.Fatalf("WHOIS alice shows no login to the account alice: %v", whois.Params)
	}
	bob.Join(t, "#h")

	sent := st.send(room("#h"), core.KindChat, "hello from alice")
	bob.Expect(t, wait, isPrivmsg("#h", "hello from alice"))
	m := st.waitStored(wait, room("#h"), "msgid of the sent message", func(m *core.Message) bool {
		return m.ID == sent.ID && m.OriginID != ""
	})
	if chats := len(st.bodies(room("#h"), core.KindChat)); chats != 1 {
		t.Errorf("#h holds %d chat messages after one send and its echo, want 1 (origin id %q)", chats, m.OriginID)
	}

	bob.Send(t, "@+typing=active TAGMSG #h")
	st.waitEvent(wait, "bob typing", func(e core.Event) bool {
		te, ok := e.(core.TypingEvent)
		return ok && te.Sender == "bob" && te.State == core.StateComposing && te.Peer == room("#h")
	})
	if err := st.hub.Typing(context.Background(), st.dev, core.TypingEvent{Network: st.net.ID, Peer: room("#h"), State: core.StateComposing}); err != nil {
		t.Fatal(err)
	}
	tm := bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "TAGMSG" && m.Nick() == "alice" })
	if ok, v := tm.GetTag("+typing"); !ok || v != "active" {
		t.Errorf("alice's TAGMSG carries +typing=%q", v)
	}

	// Away status follows the user's devices.
	if err := st.hub.SetStatus(context.Background(), st.dev, core.Status{Show: core.ShowAway, Text: "at lunch"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for {
		bob.Send(t, "WHOIS alice")
		r := bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "301" || m.Command == "318" })
		if r.Command == "301" && lastParam(r) == "at lunch" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("alice is not marked away on the network")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestSASLBadPasswordIsPermanent: wrong credentials stop the network with
// the server's reason instead of hammering it.
func TestSASLBadPasswordIsPermanent(t *testing.T) {
	srv := startInspircd(t, serverOpts{SASL: true})
	srv.RegisterAccount(t, "alice", "sekrit-pw")
	st := newStack(t, ircSettings(srv.Addr, "alice", "password", "wrong-pw"))
	e := st.waitEvent(inspWait, "the failure", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && (ns.State == core.StateFailed || ns.State == core.StateConnected)
	}).(core.NetworkStateEvent)
	if e.State != core.StateFailed || !strings.Contains(e.Err, "SASL authentication failed") {
		t.Fatalf("network state %s (%q), want failed with the SASL error", e.State, e.Err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for {
		ev, err := st.dev.Next(ctx)
		if err != nil {
			break
		}
		if ns, ok := ev.(core.NetworkStateEvent); ok && ns.State == core.StateConnecting {
			t.Errorf("the bridge tried again after a permanent failure")
		}
	}
}

// TestSASLExternalWithPinnedCertificate: TLS to a self-signed server
// trusted by its pinned fingerprint, logging in with a client
// certificate; a wrong pin refuses the server.
func TestSASLExternalWithPinnedCertificate(t *testing.T) {
	srv := startInspircd(t, serverOpts{SASL: true, TLS: true})
	srv.RegisterAccount(t, "alice", "sekrit-pw")
	cert, fp := newClientCert(t, "alice")
	srv.AddCertFingerprint(t, "alice", "sekrit-pw", fp)
	pemFile := writeClientCertPEM(t, cert)

	st := newStack(t, core.Settings{"addr": "ircs://" + srv.TLSAddr, "nick": "alice", "tls-fingerprint": srv.Fingerprint,
		"sasl": "external", "client-cert": pemFile})
	st.waitConnected(inspWait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Send(t, "WHOIS alice")
	whois := bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "330" || m.Command == "318" })
	if whois.Command != "330" {
		t.Fatalf("alice is not logged in after SASL EXTERNAL: %v", whois.Params)
	}

	wrong := newStackAt(t, t.TempDir()+"/other.db", core.Settings{"addr": "ircs://" + srv.TLSAddr, "nick": "mallory",
		"tls-fingerprint": strings.Repeat("00", 32)})
	e := wrong.waitEvent(inspWait, "the refusal", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && (ns.State == core.StateFailed || ns.State == core.StateConnected)
	}).(core.NetworkStateEvent)
	if e.State != core.StateFailed || !strings.Contains(e.Err, "tls-fingerprint") {
		t.Errorf("a wrong pin gave state %s (%q), want failed naming tls-fingerprint", e.State, e.Err)
	}
}

// TestReplayOnRejoinStoredOnce: InspIRCd replays a channel's recent lines
// to every joiner; after a reconnect those the bridge already has are not
// stored again, and those it missed are.
func TestReplayOnRejoinStoredOnce(t *testing.T) {
	srv := startInspircd(t, serverOpts{ChanHistory: 50})
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#h")
	link := newLinkProxy(t, srv.Addr)
	st := newStack(t, ircSettings(link.Addr(), "alice", "join", "#h"))
	st.waitConnected(inspWait)
	st.waitEvent(wait, "alice in #h", func(e core.Event) bool { _, ok := e.(core.RoomMembersEvent); return ok })
	for i := range 3 {
		bob.Send(t, fmt.Sprintf("PRIVMSG #h :seen %d", i))
	}
	st.waitMessage(wait, "the last seen line", func(m *core.Message) bool { return m.Body == "seen 2" })
	link.Cut()
	st.waitEvent(wait, "the disconnect", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateDisconnected
	})
	bob.Expect(t, inspWait, func(m ircmsg.Message) bool { return m.Command == "QUIT" || m.Command == "PART" })
	for i := range 2 {
		bob.Send(t, fmt.Sprintf("PRIVMSG #h :missed %d", i))
	}
	link.Restore()
	st.waitMessage(inspWait, "the last missed line", func(m *core.Message) bool { return m.Body == "missed 1" })
	time.Sleep(300 * time.Millisecond) // the rest of the replay, if any
	if got, want := strings.Join(st.bodies(room("#h"), core.KindChat), "|"), "seen 0|seen 1|seen 2|missed 0|missed 1"; got != want {
		t.Errorf("#h holds %q, want %q", got, want)
	}
}

// TestFloodLimitHolds: InspIRCd disconnects a client that sends 20 lines
// at once (see TestHarnessInspircdFlood); the bridge sends 40 without
// being disconnected, paced by its token bucket.
func TestFloodLimitHolds(t *testing.T) {
	srv := startInspircd(t, serverOpts{CommandRate: 5000, FloodThreshold: 20})
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#f", "flood-rate", "4", "flood-burst", "8"))
	st.waitConnected(inspWait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#f")
	const n = 40
	start := time.Now()
	for i := range n {
		st.send(room("#f"), core.KindChat, fmt.Sprintf("line %d", i))
	}
	for i := range n {
		bob.Expect(t, inspWait, isPrivmsg("#f", fmt.Sprintf("line %d", i)))
	}
	took := time.Since(start)
	if min := time.Duration(float64(n-8) / 4 * 0.8 * float64(time.Second)); took < min {
		t.Errorf("%d lines went out in %s: faster than the flood limit allows (%s)", n, took, min)
	}
	t.Logf("%d lines at 4/s after a burst of 8 took %s", n, took.Round(100*time.Millisecond))
	events, _ := st.dev.Take()
	for _, e := range events {
		if ns, ok := e.(core.NetworkStateEvent); ok && ns.State != core.StateConnected {
			t.Errorf("the network went %s: %s", ns.State, ns.Err)
		}
	}
}

// TestKillAndRestartServer: messages sent while the server is down are
// queued, and after it restarts they go out in order, each getting the
// msgid of its echo.
func TestKillAndRestartServer(t *testing.T) {
	srv := startInspircd(t, serverOpts{})
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#k"))
	st.waitConnected(inspWait)
	srv.Kill()
	st.waitEvent(wait, "the disconnect", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateDisconnected
	})
	var sent []*core.Message
	for _, body := range []string{"queued one", "queued two", "queued three"} {
		sent = append(sent, st.send(room("#k"), core.KindChat, body))
	}
	srv.Restart(t)
	st.waitConnected(inspWait)
	for _, m := range sent {
		st.waitStored(inspWait, room("#k"), "the echo of "+m.Body, func(s *core.Message) bool { return s.ID == m.ID && s.OriginID != "" })
	}
	pending, err := st.st.PendingOutbound(context.Background(), st.net.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Errorf("%d messages still queued after the restart", len(pending))
	}
}

// writeClientCertPEM writes a client certificate and its key to one PEM
// file, the form the client-cert setting takes.
func writeClientCertPEM(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]})
	data = append(data, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key})...)
	file := filepath.Join(t.TempDir(), "client.pem")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}
