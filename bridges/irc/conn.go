package irc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
	"golang.org/x/time/rate"
)

// Line limits. A server may send up to 8191 bytes of tags plus a 512-byte
// message; anything longer is skipped, not fatal.
const (
	maxLineBytes = 8191 + 512
	// lineQueue bounds how many parsed lines wait for the session loop;
	// when it is full the reader stops reading and TCP pushes back on the
	// server, so a flooding server cannot grow the bridge's memory.
	lineQueue = 64
)

// conn is one TCP (or TLS) connection to an IRC server: a reader goroutine
// that parses lines, and writes serialized under a lock and, for anything
// a user caused, paced by a token bucket.
type conn struct {
	nc      net.Conn
	log     *slog.Logger
	decode  lineDecoder
	limiter *rate.Limiter

	lines chan ircmsg.Message
	// done is closed when the reader stops; err says why.
	done chan struct{}
	err  error
	// quit is closed by close, so a reader waiting on a full queue stops.
	quit      chan struct{}
	closeOnce sync.Once

	wmu    sync.Mutex
	closed bool
}

// errPinMismatch marks a pinned certificate that does not match: the
// server changed its certificate or someone is in between. Retrying will
// not mend it, so it is permanent.
var errPinMismatch = errors.New("server certificate does not match the pinned tls-fingerprint")

func dial(ctx context.Context, cfg *config) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 60 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", cfg.addr)
	if err != nil {
		return nil, err
	}
	if !cfg.tls {
		return nc, nil
	}
	tc := &tls.Config{ServerName: cfg.serverName, MinVersion: tls.VersionTLS12}
	if cfg.clientCert != nil {
		tc.Certificates = []tls.Certificate{*cfg.clientCert}
	}
	if cfg.fingerprint != nil {
		// The pin replaces CA verification: that is what pinning a
		// self-signed server means.
		tc.InsecureSkipVerify = true
		pin := cfg.fingerprint
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errPinMismatch
			}
			sum := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(sum[:], pin) != 1 {
				return fmt.Errorf("%w: it is %x", errPinMismatch, sum)
			}
			return nil
		}
	}
	tlsConn := tls.Client(nc, tc)
	hctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if err := tlsConn.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", cfg.addr, err)
	}
	return tlsConn, nil
}

func newConn(nc net.Conn, cfg *config, log *slog.Logger) *conn {
	c := &conn{
		nc:      nc,
		log:     log,
		decode:  cfg.decode,
		limiter: rate.NewLimiter(rate.Limit(cfg.floodRate), cfg.floodBurst),
		lines:   make(chan ircmsg.Message, lineQueue),
		done:    make(chan struct{}),
		quit:    make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// readLoop reads and parses lines until the connection fails. A silent link
// gets a PING after pingInterval and is declared dead pingTimeout later.
func (c *conn) readLoop() {
	defer close(c.done)
	defer close(c.lines)
	r := bufio.NewReaderSize(c.nc, 4096)
	pinged := false
	for {
		wait := pingInterval
		if pinged {
			wait = pingTimeout
		}
		c.nc.SetReadDeadline(time.Now().Add(wait))
		raw, err := readLine(r)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if pinged {
					c.err = fmt.Errorf("no answer from the server for %s: ping timeout", pingInterval+pingTimeout)
					return
				}
				pinged = true
				c.write("PING :switchboard")
				continue
			}
			if errors.Is(err, errLineTooLong) {
				c.log.Warn("skipped a line longer than IRC allows", "limit", maxLineBytes)
				continue
			}
			c.err = err
			return
		}
		pinged = false
		if len(raw) == 0 {
			continue
		}
		msg, err := ircmsg.ParseLine(c.decode(raw))
		if err != nil {
			c.log.Warn("skipped a malformed line from the server", "err", err, "line", truncate(raw, 200))
			continue
		}
		select {
		case c.lines <- msg:
		case <-c.quit:
			c.err = net.ErrClosed
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLine returns the next line without its terminator. A line over
// maxLineBytes is read to its end and reported as errLineTooLong, so one
// bad line costs nothing but itself.
func readLine(r *bufio.Reader) ([]byte, error) {
	var long []byte
	tooLong := false
	for {
		frag, err := r.ReadSlice('\n')
		switch {
		case err == nil:
			if tooLong {
				return nil, errLineTooLong
			}
			if long != nil {
				frag = append(long, frag...)
			}
			frag = bytes.TrimRight(frag, "\r\n")
			return frag, nil
		case errors.Is(err, bufio.ErrBufferFull):
			if !tooLong {
				long = append(long, frag...)
				if len(long) > maxLineBytes {
					tooLong, long = true, nil
				}
			}
		default:
			return nil, err
		}
	}
}

// write sends a protocol line at once: registration, PONG and the like
// must not wait behind the flood limit.
func (c *conn) write(line string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.nc.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := c.nc.Write([]byte(line + "\r\n"))
	if err != nil {
		c.closed = true
		c.nc.Close()
	}
	return err
}

// errBadLine marks a line that cannot be written as IRC (a parameter
// with a space or a leading colon, a tag value that is not UTF-8): the
// fault is in the line, not the connection, so sending it again cannot
// succeed.
var errBadLine = errors.New("not a valid IRC line")

// encode serializes m, or returns an error wrapping errBadLine.
func encode(m ircmsg.Message) (string, error) {
	line, err := m.Line()
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", errBadLine, m.Command, err)
	}
	return trimCRLF(line), nil
}

func (c *conn) writeMsg(m ircmsg.Message) error {
	line, err := encode(m)
	if err != nil {
		return err
	}
	return c.write(line)
}

// writePaced sends a line the user caused (a message, a join) within the
// flood limit, waiting for a token. A line that cannot be encoded is
// refused before it costs one.
func (c *conn) writePaced(ctx context.Context, m ircmsg.Message) error {
	line, err := encode(m)
	if err != nil {
		return err
	}
	if err := c.limiter.Wait(ctx); err != nil {
		return err
	}
	return c.write(line)
}

// tryPaced sends a line that is not worth waiting for (typing, CTCP
// replies) only if the flood limit has room now.
func (c *conn) tryPaced(m ircmsg.Message) {
	if c.limiter.Allow() {
		_ = c.writeMsg(m)
	}
}

func (c *conn) close() {
	c.closeOnce.Do(func() {
		close(c.quit)
		c.wmu.Lock()
		c.closed = true
		c.wmu.Unlock()
		c.nc.Close()
	})
}

func trimCRLF(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(bytes.ToValidUTF8(b, []byte("?")))
}
