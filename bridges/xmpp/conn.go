package xmpp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"mellium.im/sasl"
)

// maxStanzaBytes bounds what the server may send between two stanza
// boundaries the bridge sees (see boundedConn). Go's XML decoder holds a
// whole text node in memory, so without it one endless <body/> from a
// hostile or broken server would take all the memory there is. Prosody's
// and ejabberd's own c2s limits are well under it.
const maxStanzaBytes = 1 << 20

var errStanzaTooBig = errors.New("the server sent a stanza over 1 MiB; dropping the connection")

// boundedConn counts the bytes read since the last stanza boundary and
// fails the read that goes past maxStanzaBytes, which ends the stream
// (and the supervisor reconnects). It sits beneath TLS, so it counts
// what arrives on the wire. The session marks a boundary when a stanza's
// handling starts and ends and when an answer to its own request
// arrives; its keepalive ping makes one at least every pingInterval,
// so whitespace keepalives of an idle stream never add up to the limit.
type boundedConn struct {
	net.Conn
	n           atomic.Int64
	noDeadlines atomic.Bool // see ignoreDeadlines
}

func (c *boundedConn) Read(p []byte) (int, error) {
	if c.n.Load() > maxStanzaBytes {
		return 0, errStanzaTooBig
	}
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	if n > 0 {
		quickAck(c.Conn)
	}
	return n, err
}

// boundary starts a new count.
func (c *boundedConn) boundary() {
	if c != nil {
		c.n.Store(0)
	}
}

// ignoreDeadlines makes the connection ignore deadlines from now on.
// mellium arms a deadline for every write with the caller's context and
// disarms it from a goroutine that selects between that context's end
// and the write's; when the caller cancels its context right after the
// write returned, the goroutine may pick the cancel and put the deadline
// in the past while the next write runs, and that write, and with TLS
// the whole stream, fails with "i/o timeout" (seen with mellium clients
// sending in a loop). After login the session needs no deadlines: a
// write that blocks is ended by the keepalive closing the connection.
func (c *boundedConn) ignoreDeadlines() {
	if c != nil {
		c.noDeadlines.Store(true)
	}
}

func (c *boundedConn) SetDeadline(t time.Time) error {
	if c.noDeadlines.Load() {
		return nil
	}
	return c.Conn.SetDeadline(t)
}

func (c *boundedConn) SetReadDeadline(t time.Time) error {
	if c.noDeadlines.Load() {
		return nil
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *boundedConn) SetWriteDeadline(t time.Time) error {
	if c.noDeadlines.Load() {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}

// mechanisms are the SASL mechanisms to offer, best first: the PLUS
// variants bind the login to this TLS channel; PLAIN comes last, for
// servers that store no SCRAM secrets (the SASL feature runs only on a
// secured stream, so it never goes out in the clear). A server that
// refused the channel binding mellium sends (ejabberd 23.01 answers
// "Invalid channel binding" over TLS 1.3) gets SCRAM without it: the
// channel is still verified or pinned TLS, and no login would do worse.
func (b *Bridge) mechanisms() []sasl.Mechanism {
	if b.noChannelBinding.Load() {
		return []sasl.Mechanism{sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}
	}
	return []sasl.Mechanism{sasl.ScramSha256Plus, sasl.ScramSha1Plus, sasl.ScramSha256, sasl.ScramSha1, sasl.Plain}
}

// isChannelBindingFailure tells a SASL failure about the channel binding
// from a wrong password: servers say so in the failure's text.
func isChannelBindingFailure(err error) bool {
	if !isAuthFailure(err) {
		return false
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "channel binding") || strings.Contains(msg, "channel-binding")
}

// quickAck asks Linux to acknowledge what arrives at once rather than
// after the delayed-ACK timer (up to 40 ms). Servers that leave Nagle's
// algorithm on (Prosody does by default) hold the rest of a reply until
// its first segment is acknowledged, so every archive page cost a fixed
// 40-60 ms whatever its size; the flag does not stick, so it is set
// again after every read. Other systems and non-TCP connections: nothing.
func quickAck(c net.Conn) {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return
	}
	if rc, err := tc.SyscallConn(); err == nil {
		rc.Control(func(fd uintptr) { setQuickAck(fd) })
	}
}

// lookupSRV is the resolver's SRV lookup; tests point it at loopback.
var lookupSRV = net.DefaultResolver.LookupSRV

// dialDirectTLS connects to domain's direct TLS port (XEP-0368): the
// targets of its _xmpps-client._tcp records in the resolver's order,
// else the domain itself on 5223. The connection is plain TCP; the
// caller starts TLS above its size bound.
func dialDirectTLS(ctx context.Context, domain string) (net.Conn, error) {
	var d net.Dialer
	_, addrs, err := lookupSRV(ctx, "xmpps-client", "tcp", domain)
	if err != nil || len(addrs) == 0 || (len(addrs) == 1 && addrs[0].Target == ".") {
		// No records, or "." (the service is not offered there).
		return d.DialContext(ctx, "tcp", net.JoinHostPort(domain, "5223"))
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(strings.TrimSuffix(a.Target, "."), strconv.Itoa(int(a.Port))))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, fmt.Errorf("every _xmpps-client._tcp.%s target refused: %w", domain, errors.Join(errs...))
}
