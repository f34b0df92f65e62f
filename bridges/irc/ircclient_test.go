package irc

// A plain line-based IRC client for tests: it plays "the other people on
// the network" against the bridge on a real server (see ircd_test.go).

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"github.com/ergochat/irc-go/ircreader"
)

const (
	ircClientQueue  = 4096 // parsed messages waiting for Expect
	ircClientRecent = 40   // lines kept for failure messages
)

// ircClient is one test connection. A reader goroutine parses every line,
// answers PING itself and queues the rest for Expect. Its methods that take
// a testing.TB fail the test and must be called from the test goroutine.
type ircClient struct {
	Nick string            // the nick the server confirmed in 001
	Caps map[string]string // what CAP LS advertised (only when caps were asked for)

	addr    string
	conn    net.Conn
	in      chan ircmsg.Message // closed when the connection ends
	closing chan struct{}
	done    chan struct{} // closed when the reader has stopped
	once    sync.Once

	wmu sync.Mutex // serialises writes (the reader writes PONGs)

	mu      sync.Mutex
	recent  []string // the last lines seen both ways, for failure messages
	readErr error    // why the reader stopped
}

// dialIRC connects to addr without TLS and registers as nick, first
// requesting caps (CAP LS 302 / REQ) if any are given; it waits for 001.
func dialIRC(t testing.TB, addr, nick string, caps ...string) *ircClient {
	t.Helper()
	c := dialIRCRaw(t, addr, nil)
	c.Register(t, nick, caps...)
	return c
}

// dialIRCRaw connects to addr, with TLS when tlsConf is not nil, and starts
// the reader, without registering: for tests that drive registration (SASL,
// bad input) themselves. The connection is closed at test cleanup.
func dialIRCRaw(t testing.TB, addr string, tlsConf *tls.Config) *ircClient {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	var conn net.Conn
	var err error
	if tlsConf != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConf)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c := &ircClient{
		addr:    addr,
		conn:    conn,
		in:      make(chan ircmsg.Message, ircClientQueue),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	go c.read()
	t.Cleanup(c.Close)
	return c
}

// Register sends NICK and USER (and negotiates caps first, if any are given:
// a NAK fails the test) and waits for 001.
func (c *ircClient) Register(t testing.TB, nick string, caps ...string) {
	t.Helper()
	if len(caps) > 0 {
		c.Send(t, "CAP LS 302")
	}
	c.Send(t, "NICK "+nick)
	c.Send(t, "USER "+nick+" 0 * :switchboard test client "+nick)
	if len(caps) > 0 {
		c.Caps = map[string]string{}
		for {
			m := c.Expect(t, 10*time.Second, func(m ircmsg.Message) bool {
				return m.Command == "CAP" && len(m.Params) >= 3 && m.Params[1] == "LS"
			})
			for _, cp := range strings.Fields(m.Params[len(m.Params)-1]) {
				name, value, _ := strings.Cut(cp, "=")
				c.Caps[name] = value
			}
			if len(m.Params) == 3 {
				break
			}
		}
		c.Send(t, "CAP REQ :"+strings.Join(caps, " "))
		m := c.Expect(t, 10*time.Second, func(m ircmsg.Message) bool {
			return m.Command == "CAP" && len(m.Params) >= 3 && (m.Params[1] == "ACK" || m.Params[1] == "NAK")
		})
		if m.Params[1] == "NAK" {
			t.Fatalf("%s: server refused caps %q (it offers %v)", c.addr, m.Params[2], c.Caps)
		}
		c.Send(t, "CAP END")
	}
	m := c.Expect(t, 10*time.Second, func(m ircmsg.Message) bool {
		switch m.Command {
		case "001", "ERROR", "431", "432", "433", "436", "465":
			return true
		}
		return false
	})
	if m.Command != "001" {
		t.Fatalf("%s: registering as %s: %s %q", c.addr, nick, m.Command, m.Params)
	}
	c.Nick = m.Params[0]
}

// Send writes one line (without CR LF, which it refuses inside a line).
func (c *ircClient) Send(t testing.TB, line string) {
	t.Helper()
	if strings.ContainsAny(line, "\r\n\x00") {
		t.Fatalf("Send: line %q contains CR, LF or NUL", line)
	}
	if err := c.write(line); err != nil {
		t.Fatalf("%s: send %q: %v", c.addr, line, err)
	}
}

// Expect returns the first queued or arriving message that match accepts.
// Messages that do not match are dropped: an Expect consumes everything up
// to its match, so expect things in the order the server sends them. It
// fails the test, showing the last lines seen, after timeout or if the
// connection ends first.
func (c *ircClient) Expect(t testing.TB, timeout time.Duration, match func(ircmsg.Message) bool) ircmsg.Message {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				t.Fatalf("%s (%s): connection ended (%v) before the expected message; last lines:\n%s",
					c.addr, c.Nick, c.err(), c.lastLines())
			}
			if match(m) {
				return m
			}
		case <-timer.C:
			t.Fatalf("%s (%s): no expected message within %v; last lines:\n%s",
				c.addr, c.Nick, timeout, c.lastLines())
		}
	}
}

// WaitClosed waits until the server has closed the connection, dropping
// whatever arrives before, and returns the ERROR message it sent (zero if
// none). It fails the test if the connection is still open after timeout.
func (c *ircClient) WaitClosed(t testing.TB, timeout time.Duration) ircmsg.Message {
	t.Helper()
	var last ircmsg.Message
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case m, ok := <-c.in:
			if !ok {
				return last
			}
			if m.Command == "ERROR" {
				last = m
			}
		case <-timer.C:
			t.Fatalf("%s (%s): still connected after %v; last lines:\n%s", c.addr, c.Nick, timeout, c.lastLines())
		}
	}
}

// Join joins channel and waits for the end of its NAMES list (366), which
// drops everything that arrived before. A join error numeric fails the test.
func (c *ircClient) Join(t testing.TB, channel string) {
	t.Helper()
	c.Send(t, "JOIN "+channel)
	m := c.Expect(t, 10*time.Second, func(m ircmsg.Message) bool {
		switch m.Command {
		case "366", "403", "405", "471", "473", "474", "475", "476", "477", "489":
			return len(m.Params) >= 2 && strings.EqualFold(m.Params[1], channel)
		}
		return false
	})
	if m.Command != "366" {
		t.Fatalf("%s (%s): JOIN %s: %s %q", c.addr, c.Nick, channel, m.Command, m.Params)
	}
}

// Close sends QUIT, closes the connection and waits for the reader to stop.
// It is safe to call more than once and from cleanup.
func (c *ircClient) Close() {
	c.once.Do(func() {
		_ = c.write("QUIT :test client done")
		close(c.closing)
		c.conn.Close()
	})
	<-c.done
}

func (c *ircClient) read() {
	defer close(c.done)
	defer close(c.in)
	r := ircreader.NewIRCReader(c.conn)
	for {
		raw, err := r.ReadLine()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			return
		}
		line := string(raw)
		c.remember("<- " + line)
		m, err := ircmsg.ParseLine(line)
		if err != nil {
			c.remember(fmt.Sprintf("   (unparsable: %v)", err))
			continue
		}
		if m.Command == "PING" {
			token := ""
			if len(m.Params) > 0 {
				token = m.Params[len(m.Params)-1]
			}
			_ = c.write("PONG :" + token)
			continue
		}
		select {
		case c.in <- m:
		case <-c.closing:
			return
		}
	}
}

func (c *ircClient) write(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.remember("-> " + line)
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := c.conn.Write([]byte(line + "\r\n"))
	return err
}

func (c *ircClient) remember(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.recent) == ircClientRecent {
		copy(c.recent, c.recent[1:])
		c.recent = c.recent[:ircClientRecent-1]
	}
	c.recent = append(c.recent, line)
}

func (c *ircClient) lastLines() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return "  " + strings.Join(c.recent, "\n  ")
}

func (c *ircClient) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.readErr == nil {
		return errors.New("closed")
	}
	return c.readErr
}
