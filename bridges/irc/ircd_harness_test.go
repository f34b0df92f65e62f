package irc

// Tests of the test harness itself (ircd_test.go, ircclient_test.go): that
// the real servers start, talk, restart, authenticate and flood-limit the
// way the bridge's tests rely on. Run them with -run Harness.

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

const harnessWait = 10 * time.Second

func harnessPrivmsg(target, text string) func(ircmsg.Message) bool {
	return func(m ircmsg.Message) bool {
		return m.Command == "PRIVMSG" && len(m.Params) == 2 && m.Params[0] == target && m.Params[1] == text
	}
}

// TestHarnessChat: on each server, with and without TLS, two clients join
// a channel and a PRIVMSG from one reaches the other.
func TestHarnessChat(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB, serverOpts) *ircServer
		tls   bool
	}{
		{"ngircd", startNgircd, false},
		{"ngircd-tls", startNgircd, true},
		{"inspircd", startInspircd, false},
		{"inspircd-tls", startInspircd, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t, serverOpts{TLS: tc.tls})
			t.Logf("%s CAP LS: %s", s.Name, s.CapLS)
			dial := func(nick string) *ircClient {
				if !tc.tls {
					return dialIRC(t, s.Addr, nick)
				}
				c := dialIRCRaw(t, s.TLSAddr, s.TLSConfig())
				peer := c.conn.(*tls.Conn).ConnectionState().PeerCertificates
				if len(peer) == 0 || !bytes.Equal(peer[0].Raw, s.CertDER) {
					t.Fatalf("the TLS port did not present the test certificate")
				}
				c.Register(t, nick)
				return c
			}
			alice, bob := dial("alice"), dial("bob")
			alice.Join(t, "#harness")
			bob.Join(t, "#harness")
			alice.Send(t, "PRIVMSG #harness :hello from alice")
			m := bob.Expect(t, harnessWait, harnessPrivmsg("#harness", "hello from alice"))
			if m.Nick() != "alice" {
				t.Errorf("message from %q, want alice", m.Nick())
			}
			if tc.tls {
				t.Logf("TLS fingerprint %s", s.Fingerprint)
			}
		})
	}
}

// TestHarnessInspircdChanHistory: a late joiner that asked for server-time
// and message-tags gets the channel's recent lines replayed with both tags.
func TestHarnessInspircdChanHistory(t *testing.T) {
	t.Parallel()
	s := startInspircd(t, serverOpts{ChanHistory: 5})
	alice := dialIRC(t, s.Addr, "alice")
	alice.Join(t, "#hist")
	for i := 1; i <= 3; i++ {
		alice.Send(t, fmt.Sprintf("PRIVMSG #hist :before you came %d", i))
	}
	// A PING round trip: all three lines are in the history once the PONG
	// is back.
	alice.Send(t, "PING :sync")
	alice.Expect(t, harnessWait, func(m ircmsg.Message) bool { return m.Command == "PONG" })

	late := dialIRC(t, s.Addr, "late", "server-time", "message-tags", "batch")
	// Not Join: the replay may come before the end of NAMES.
	late.Send(t, "JOIN #hist")
	for i := 1; i <= 3; i++ {
		m := late.Expect(t, harnessWait, harnessPrivmsg("#hist", fmt.Sprintf("before you came %d", i)))
		hasTime, tm := m.GetTag("time")
		hasID, id := m.GetTag("msgid")
		if !hasTime || !hasID {
			t.Fatalf("replayed line lacks time or msgid: %v", m.AllTags())
		}
		if _, err := time.Parse(time.RFC3339Nano, tm); err != nil {
			t.Errorf("time tag %q: %v", tm, err)
		}
		if i == 1 {
			t.Logf("replayed: tags %v (msgid %s)", m.AllTags(), id)
		}
	}
}

// TestHarnessInspircdSASL: an account registered with NickServ can log in
// with SASL PLAIN; a wrong password is refused.
func TestHarnessInspircdSASL(t *testing.T) {
	t.Parallel()
	s := startInspircd(t, serverOpts{SASL: true})
	t.Logf("%s CAP LS with services: %s", s.Name, s.CapLS)
	s.RegisterAccount(t, "alice", "correct-horse")

	c := dialIRCRaw(t, s.Addr, nil)
	if got := harnessSASLPlain(t, c, "alice_away", "alice", "correct-horse"); got.Command != "903" {
		t.Fatalf("SASL PLAIN: %s %q, want 903", got.Command, got.Params)
	}
	c.Send(t, "CAP END")
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool { return m.Command == "001" })

	bad := dialIRCRaw(t, s.Addr, nil)
	if got := harnessSASLPlain(t, bad, "mallory", "alice", "wrong-horse"); got.Command != "904" {
		t.Fatalf("SASL PLAIN with a wrong password: %s %q, want 904", got.Command, got.Params)
	}
}

// TestHarnessInspircdSASLExternal: a TLS client whose certificate's
// fingerprint was added to an account logs in with SASL EXTERNAL; one with
// an unknown certificate is refused.
func TestHarnessInspircdSASLExternal(t *testing.T) {
	t.Parallel()
	s := startInspircd(t, serverOpts{SASL: true, TLS: true})
	s.RegisterAccount(t, "carol", "carols-secret")
	cert, fp := newClientCert(t, "carol")
	s.AddCertFingerprint(t, "carol", "carols-secret", fp)
	if got := harnessSASLExternal(t, s, cert); got.Command != "903" {
		t.Fatalf("SASL EXTERNAL: %s %q, want 903", got.Command, got.Params)
	}
	stranger, _ := newClientCert(t, "stranger")
	if got := harnessSASLExternal(t, s, stranger); got.Command != "904" {
		t.Fatalf("SASL EXTERNAL with an unknown certificate: %s %q, want 904", got.Command, got.Params)
	}
}

// harnessSASLExternal connects with TLS presenting cert, runs AUTHENTICATE
// EXTERNAL and returns the final numeric (903 on success).
func harnessSASLExternal(t *testing.T, s *ircServer, cert tls.Certificate) ircmsg.Message {
	t.Helper()
	conf := s.TLSConfig()
	conf.Certificates = []tls.Certificate{cert}
	c := dialIRCRaw(t, s.TLSAddr, conf)
	defer c.Close()
	c.Send(t, "CAP LS 302")
	c.Send(t, "NICK ext"+randomHex(t, 3))
	c.Send(t, "USER ext 0 * :ext")
	c.Send(t, "CAP REQ :sasl")
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
		return m.Command == "CAP" && len(m.Params) >= 3 && m.Params[1] == "ACK"
	})
	c.Send(t, "AUTHENTICATE EXTERNAL")
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool { return m.Command == "AUTHENTICATE" })
	c.Send(t, "AUTHENTICATE +")
	return c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
		switch m.Command {
		case "902", "903", "904", "905", "906", "907", "908":
			return true
		}
		return false
	})
}

// harnessSASLPlain negotiates sasl and runs AUTHENTICATE PLAIN on an
// unregistered connection, returning the final numeric (903 on success).
// On 903 it has also seen 900 for the account.
func harnessSASLPlain(t *testing.T, c *ircClient, nick, account, password string) ircmsg.Message {
	t.Helper()
	c.Send(t, "CAP LS 302")
	c.Send(t, "NICK "+nick)
	c.Send(t, "USER "+nick+" 0 * :"+nick)
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
		return m.Command == "CAP" && len(m.Params) == 3 && m.Params[1] == "LS"
	})
	c.Send(t, "CAP REQ :sasl")
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
		return m.Command == "CAP" && len(m.Params) >= 3 && m.Params[1] == "ACK"
	})
	c.Send(t, "AUTHENTICATE PLAIN")
	c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
		return m.Command == "AUTHENTICATE" && len(m.Params) == 1 && m.Params[0] == "+"
	})
	c.Send(t, "AUTHENTICATE "+base64.StdEncoding.EncodeToString([]byte(account+"\x00"+account+"\x00"+password)))
	loggedIn := false
	for {
		m := c.Expect(t, harnessWait, func(m ircmsg.Message) bool {
			switch m.Command {
			case "900", "902", "903", "904", "905", "906", "907", "908":
				return true
			}
			return false
		})
		switch m.Command {
		case "900":
			loggedIn = len(m.Params) >= 3 && m.Params[2] == account
		case "903":
			if !loggedIn {
				t.Errorf("903 without 900 for account %s", account)
			}
			return m
		default:
			return m
		}
	}
}

// TestHarnessKillRestart: after Kill the clients are cut off; after Restart
// a client connects again (and on a SASL server, services have relinked).
func TestHarnessKillRestart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start func(testing.TB, serverOpts) *ircServer
		opts  serverOpts
	}{
		{"ngircd", startNgircd, serverOpts{TLS: true}},
		{"inspircd-sasl", startInspircd, serverOpts{TLS: true, SASL: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.start(t, tc.opts)
			c := dialIRC(t, s.Addr, "before")
			c.Join(t, "#restart")
			s.Kill()
			c.WaitClosed(t, harnessWait)

			start := time.Now()
			s.Restart(t)
			t.Logf("%s restarted and ready in %v", s.Name, time.Since(start).Round(time.Millisecond))
			after := dialIRC(t, s.Addr, "after")
			after.Join(t, "#restart")
			tlsClient := dialIRCRaw(t, s.TLSAddr, s.TLSConfig())
			tlsClient.Register(t, "aftertls")
			if tc.opts.SASL {
				if !hasCapName(s.CapLS, "sasl") {
					t.Errorf("CAP LS after restart lacks sasl: %s", s.CapLS)
				}
				s.RegisterAccount(t, "afterwards", "after-the-storm")
			}
		})
	}
}

// TestHarnessInspircdFlood: with CommandRate set, a client that sends 100
// lines at once is disconnected with Excess Flood.
func TestHarnessInspircdFlood(t *testing.T) {
	t.Parallel()
	s := startInspircd(t, serverOpts{CommandRate: 1000})
	c := dialIRC(t, s.Addr, "flooder")
	var burst strings.Builder
	for i := range 100 {
		fmt.Fprintf(&burst, "PRIVMSG flooder :line %d\r\n", i)
	}
	if _, err := c.conn.Write([]byte(burst.String())); err != nil {
		t.Fatal(err)
	}
	m := c.WaitClosed(t, harnessWait)
	if m.Command != "ERROR" || !strings.Contains(strings.ToLower(strings.Join(m.Params, " ")), "flood") {
		t.Fatalf("flooder was closed with %q, want an ERROR about flood", m.Params)
	}
	t.Logf("inspircd closed the flooder with: ERROR %q", m.Params)
}

// TestHarnessNgircdThrottle documents that ngircd slows a flooder down
// instead of disconnecting it.
func TestHarnessNgircdThrottle(t *testing.T) {
	t.Parallel()
	s := startNgircd(t, serverOpts{})
	c := dialIRC(t, s.Addr, "flooder")
	const n = 7
	var burst strings.Builder
	for i := range n {
		fmt.Fprintf(&burst, "PRIVMSG flooder :line %d\r\n", i)
	}
	start := time.Now()
	if _, err := c.conn.Write([]byte(burst.String())); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		c.Expect(t, harnessWait, harnessPrivmsg("flooder", fmt.Sprintf("line %d", i)))
		if i == 2 || i == n-1 {
			t.Logf("ngircd: line %d of a %d-line burst came back after %v", i+1, n, time.Since(start).Round(10*time.Millisecond))
		}
	}
}
