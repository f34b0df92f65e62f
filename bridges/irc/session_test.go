package irc

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestSASLFailureIsPermanentOnlyWhenRepeated: one failed login may be
// services restarting; the third in a row, across reconnects, stops
// the network. A success starts the count again, and 908 alone fails
// nothing.
func TestSASLFailureIsPermanentOnlyWhenRepeated(t *testing.T) {
	b := testBridge(t, nil)
	attempt := func(lines ...string) error {
		c, _ := newWire(t)
		s := newSession(b, c)
		s.setNick("alice")
		for _, l := range lines[:len(lines)-1] {
			feed(t, s, l)
		}
		return s.handle(mustParse(t, lines[len(lines)-1]))
	}
	const fail = ":srv 904 alice :SASL authentication failed"
	for i, want := range []failure{failThrottled, failThrottled, failPermanent} {
		err := attempt(":srv 908 alice PLAIN,EXTERNAL :are available SASL mechanisms", fail)
		if err == nil || classOf(err) != want || !strings.Contains(err.Error(), "SASL authentication failed") {
			t.Errorf("failure %d: %v (%s), want %s", i+1, err, classOf(err), want)
		}
	}
	b.saslFailures.Store(0)
	attempt(fail)
	attempt(fail)
	if err := attempt(":srv 903 alice :SASL authentication successful"); err != nil {
		t.Fatal(err)
	}
	if err := attempt(fail); classOf(err) != failThrottled {
		t.Errorf("the first failure after a success is %s, want throttled", classOf(err))
	}
}

// TestBanWarningKeepsSession: 466 warns of a ban to come; only the ban
// itself ends the session.
func TestBanWarningKeepsSession(t *testing.T) {
	s := testSession(t)
	if err := s.handle(mustParse(t, ":srv 466 alice :You will be banned soon")); err != nil {
		t.Errorf("466 ended the session: %v", err)
	}
	if err := s.handle(mustParse(t, ":srv 465 alice :You are banned")); classOf(err) != failBanned {
		t.Errorf("465 gave %v", err)
	}
}

// TestNAKedCapsAreRequestedOneByOne: a REQ the server refuses is asked
// again cap by cap, so one refused capability does not cost sasl.
func TestNAKedCapsAreRequestedOneByOne(t *testing.T) {
	c, w := newWire(t)
	b := testBridge(t, nil)
	b.cfg.sasl, b.cfg.saslUser, b.cfg.saslPass = "PLAIN", "alice", "pw"
	s := newSession(b, c)
	feed(t, s, ":srv CAP * LS :server-time batch sasl=PLAIN")
	if got := w.written(); !slices.Equal(got, []string{"CAP REQ :server-time batch sasl"}) {
		t.Fatalf("wrote %q", got)
	}
	feed(t, s, ":srv CAP * NAK :server-time batch sasl")
	if got := w.written(); !slices.Equal(got, []string{"CAP REQ server-time", "CAP REQ batch", "CAP REQ sasl"}) {
		t.Fatalf("after the NAK wrote %q", got)
	}
	feed(t, s, ":srv CAP * ACK :server-time", ":srv CAP * NAK :batch", ":srv CAP * ACK :sasl")
	if got := w.written(); !slices.Equal(got, []string{"AUTHENTICATE PLAIN"}) {
		t.Errorf("once every REQ was answered wrote %q, want the SASL start", got)
	}
}

// TestCertificateVerificationFailureIsRetried: a certificate that does
// not verify may be renewed or fixed, so it waits the long (banned)
// backoff and says why; a pin mismatch stays permanent.
func TestCertificateVerificationFailureIsRetried(t *testing.T) {
	cert, _ := newClientCert(t, "127.0.0.1")
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.(*tls.Conn).Handshake()
			}()
		}
	}()
	bridge := func(settings core.Settings) *Bridge {
		cfg, err := parseConfig(settings)
		if err != nil {
			t.Fatal(err)
		}
		b := testBridge(t, &recordingInbound{})
		b.cfg = cfg
		return b
	}
	addr := "ircs://" + ln.Addr().String()

	_, err = bridge(core.Settings{"addr": addr, "nick": "alice"}).runSession(context.Background())
	if classOf(err) != failBanned || !strings.Contains(err.Error(), "certificate") || !strings.Contains(err.Error(), "tls-fingerprint") {
		t.Errorf("an unverifiable certificate gave %v (%s), want banned-class naming tls-fingerprint", err, classOf(err))
	}
	_, err = bridge(core.Settings{"addr": addr, "nick": "alice", "tls-fingerprint": strings.Repeat("00", 32)}).runSession(context.Background())
	if classOf(err) != failPermanent {
		t.Errorf("a pin mismatch gave %v (%s), want permanent", err, classOf(err))
	}

	// Run reports the failure and keeps going.
	in := &recordingInbound{}
	b := bridge(core.Settings{"addr": addr, "nick": "alice"})
	b.env.Inbound = in
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := in.states()
		if n := len(st); n > 0 && st[n-1].State == core.StateDisconnected {
			if !strings.Contains(st[n-1].Err, "certificate") {
				t.Errorf("the state says %q", st[n-1].Err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("states %+v, want disconnected", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run returned %v", err)
	}
}

// sessionOnPipe runs a ready session on a pipe whose server end the test
// holds; unlike the wire, nothing reads what the bridge writes unless the
// test does.
func sessionOnPipe(t *testing.T, in core.Inbound) (*session, net.Conn) {
	client, server := net.Pipe()
	t.Cleanup(func() { server.Close() })
	b := testBridge(t, in)
	s := newSession(b, newConn(client, b.cfg, slog.New(slog.DiscardHandler)))
	s.setNick("alice")
	s.registered, s.ready = true, true
	return s, server
}

// TestLinesReadBeforeAFailureAreStored: when a write fails, the lines the
// reader had already queued are still handled and stored.
func TestLinesReadBeforeAFailureAreStored(t *testing.T) {
	in := &recordingInbound{}
	s, server := sessionOnPipe(t, in)
	registered := make(chan struct{})
	go func() { // read registration, then nothing: the next write blocks
		buf := make([]byte, 1)
		var line []byte
		for {
			if _, err := server.Read(buf); err != nil {
				return
			}
			line = append(line, buf[0])
			if buf[0] == '\n' {
				if strings.HasPrefix(string(line), "USER ") {
					close(registered)
					return
				}
				line = line[:0]
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		_, err := s.run(context.Background())
		errc <- err
	}()
	<-registered
	const n = 20
	fmt.Fprintf(server, "PING :x\r\n") // its PONG blocks the session
	for i := range n {
		fmt.Fprintf(server, ":bob!b@h PRIVMSG #x :line %d\r\n", i)
	}
	for deadline := time.Now().Add(5 * time.Second); len(s.c.lines) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d lines queued", len(s.c.lines))
		}
		time.Sleep(time.Millisecond)
	}
	server.Close() // the PONG fails
	if err := <-errc; err == nil {
		t.Fatal("the session did not end")
	}
	if got := in.bodies(); len(got) != n {
		t.Errorf("stored %d of the %d lines read before the failure", len(got), n)
	}
}

// TestLinesReadBeforeShutdownAreStored: at shutdown the events already
// read reach the Hub, which is still taking them, even when it was slow.
func TestLinesReadBeforeShutdownAreStored(t *testing.T) {
	in := &recordingInbound{gate: make(chan struct{})}
	s, server := sessionOnPipe(t, in)
	pong := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		var all []byte
		for {
			k, err := server.Read(buf)
			if err != nil {
				return
			}
			if all = append(all, buf[:k]...); strings.Contains(string(all), "PONG") {
				close(pong)
				discardReads(server)
				return
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.run(ctx)
		errc <- err
	}()
	const n = 50
	for i := range n {
		fmt.Fprintf(server, ":bob!b@h PRIVMSG #x :line %d\r\n", i)
	}
	fmt.Fprintf(server, "PING :sync\r\n")
	<-pong // every line before the PING was handled
	cancel()
	time.Sleep(50 * time.Millisecond)
	close(in.gate) // the Hub catches up after the shutdown began
	<-errc
	if got := in.bodies(); len(got) != n {
		t.Errorf("stored %d of the %d lines read before the shutdown", len(got), n)
	}
}

// TestShutdownFlushIsBounded: a Hub that never takes the events cannot
// hold the session's end past flushTimeout.
func TestShutdownFlushIsBounded(t *testing.T) {
	defer func(d time.Duration) { flushTimeout = d }(flushTimeout)
	flushTimeout = 200 * time.Millisecond
	in := &recordingInbound{gate: make(chan struct{})}
	s, server := sessionOnPipe(t, in)
	go discardReads(server)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := s.run(ctx)
		errc <- err
	}()
	fmt.Fprintf(server, ":bob!b@h PRIVMSG #x :stuck\r\n")
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("the session did not end while the Hub was stuck")
	}
}

// discardReads reads and drops whatever the bridge writes.
func discardReads(c net.Conn) {
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// TestStatusIsAppliedInOrder: SetStatus racing a (re)connect leaves the
// network with the last status set, and a status already applied is
// not sent again.
func TestStatusIsAppliedInOrder(t *testing.T) {
	s, w := wireSession(t)
	s.ready = false
	b := s.b
	b.SetStatus(context.Background(), core.Status{Show: core.ShowAway, Text: "lunch"})
	feed(t, s, ":srv 376 alice :End of MOTD")
	b.SetStatus(context.Background(), core.Status{Show: core.ShowAway, Text: "lunch"})
	if got := withPrefix(w.written(), "AWAY"); !slices.Equal(got, []string{"AWAY lunch"}) {
		t.Fatalf("wrote %q, want one AWAY", got)
	}

	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := core.Status{Show: core.ShowAvailable}
			if i%2 == 0 {
				st = core.Status{Show: core.ShowAway, Text: fmt.Sprintf("away %d", i)}
			}
			b.SetStatus(context.Background(), st)
		}()
	}
	wg.Wait()
	got := withPrefix(w.written(), "AWAY")
	want := "AWAY"
	if st := b.status; st.Show < core.ShowAvailable {
		want = "AWAY :" + st.Text
	}
	if len(got) == 0 || got[len(got)-1] != want {
		t.Errorf("the last AWAY written is %q, the status is %+v", got, b.status)
	}
}
