package xmpp

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Namespaces of the stream layer.
const (
	nsClient   = "jabber:client"
	nsStream   = "http://etherx.jabber.org/streams"
	nsStreams  = "urn:ietf:params:xml:ns:xmpp-streams"
	nsTLS      = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL     = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind     = "urn:ietf:params:xml:ns:xmpp-bind"
	nsSession  = "urn:ietf:params:xml:ns:xmpp-session"
	nsStanzas  = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsSASLCB   = "urn:xmpp:sasl-cb:0"
	nsRosterVr = "urn:xmpp:features:rosterver"
	nsCaps     = "http://jabber.org/protocol/caps"
	capsNode   = "https://github.com/switchboard/switchboard"
)

// maxStanzaBytes bounds one stanza; a bigger one ends the stream with
// policy-violation.
const maxStanzaBytes = 256 << 10

// streamError ends a stream with a condition of RFC 6120 §4.9.3.
type streamError struct {
	condition string
	text      string
}

func (e *streamError) Error() string {
	if e.text != "" {
		return e.condition + ": " + e.text
	}
	return e.condition
}

func streamErr(condition, format string, args ...any) *streamError {
	return &streamError{condition: condition, text: fmt.Sprintf(format, args...)}
}

// countingReader counts bytes since the last reset, so one stanza cannot
// exceed maxStanzaBytes however it is split into tokens.
type countingReader struct {
	r     io.Reader
	n     int
	limit int
}

var errStanzaTooBig = errors.New("stanza too big")

func (c *countingReader) Read(p []byte) (int, error) {
	if c.n > c.limit {
		return 0, errStanzaTooBig
	}
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// writeTimeout bounds one write to a client that stopped reading.
const writeTimeout = 30 * time.Second

// readBufferSize is the buffer between a connection and its XML decoder.
const readBufferSize = 1024

// conn is one client connection, from accept to close.
type conn struct {
	srv *Server
	nc  net.Conn
	tls *tls.Conn // nil until TLS is up
	// wsTLS is the HTTPS connection's TLS state for a stream over
	// WebSocket (websocket.go); nil for TCP streams.
	wsTLS  *tls.ConnectionState
	remote netip.Addr
	log    *slog.Logger

	counter *countingReader
	br      *bufio.Reader
	dec     *xml.Decoder

	wmu sync.Mutex // serializes writes to nc
	// writeDeadline is the deadline last set for writes; see write.
	writeDeadline time.Time

	user     core.User
	authed   bool
	streamID string

	// stopped is set once the connection's reader is to stop: a read
	// deadline set after that (every element sets one) must not undo
	// the past deadline that wakes it.
	stopped atomic.Bool
}

// stopReading wakes the connection's reader, now and at its next read:
// the session was replaced, or the server shuts down.
func (c *conn) stopReading() {
	c.stopped.Store(true)
	c.nc.SetReadDeadline(aLongTimeAgo)
}

func newConn(srv *Server, nc net.Conn) *conn {
	c := &conn{srv: srv, nc: nc, log: srv.log}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.remote = ap.Addr().Unmap()
	}
	if t, ok := nc.(*tls.Conn); ok {
		c.tls = t
	}
	c.resetReader()
	return c
}

// resetReader starts reading afresh from the (possibly new TLS) conn.
func (c *conn) resetReader() {
	var r io.Reader = c.nc
	if c.tls != nil {
		r = c.tls
	}
	c.counter = &countingReader{r: r, limit: maxStanzaBytes}
	// Small: TLS already holds the whole decrypted record, so this
	// buffer only spares the decoder a call per byte, and every idle
	// device keeps one.
	c.br = bufio.NewReaderSize(c.counter, readBufferSize)
	c.restartStream()
}

// restartStream starts a new XML stream on the same bytes (after SASL).
func (c *conn) restartStream() {
	c.dec = xml.NewDecoder(c.br)
	c.dec.Strict = true
}

func (c *conn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	// A write may take up to writeTimeout. The deadline moves only when
	// a third of it has passed: setting it is a timer change, and a busy
	// room's every line is a write on every device's connection.
	if now := time.Now(); c.writeDeadline.Sub(now) < writeTimeout*2/3 {
		c.writeDeadline = now.Add(writeTimeout)
		c.nc.SetWriteDeadline(c.writeDeadline)
	}
	var w io.Writer = c.nc
	if c.tls != nil {
		w = c.tls
	}
	_, err := w.Write(b)
	return err
}

func (c *conn) writeEl(e *element) error { return c.write(e.bytes()) }

// sendStreamError writes the error and closes the stream.
func (c *conn) sendStreamError(se *streamError) {
	var b bytes.Buffer
	b.WriteString("<stream:error><")
	b.WriteString(se.condition)
	b.WriteString(" xmlns='" + nsStreams + "'/>")
	if se.text != "" {
		b.WriteString("<text xmlns='" + nsStreams + "'>")
		xml.EscapeText(&b, []byte(se.text))
		b.WriteString("</text>")
	}
	b.WriteString("</stream:error></stream:stream>")
	_ = c.write(b.Bytes())
}

// openStream reads the client's stream header and answers with ours and
// the features. Whitespace and an XML declaration may come first.
func (c *conn) openStream(features *element) error {
	c.nc.SetReadDeadline(time.Now().Add(negotiationTimeout))
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return c.xmlError(err)
		}
		switch t := tok.(type) {
		case xml.ProcInst, xml.Comment, xml.Directive:
			continue
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return streamErr("not-well-formed", "text before the stream header")
			}
			continue
		case xml.StartElement:
			if t.Name.Space != nsStream || t.Name.Local != "stream" {
				c.writeHeader()
				return streamErr("invalid-namespace", "expected <stream:stream xmlns:stream='%s'>", nsStream)
			}
			to, version, ns := "", "", ""
			for _, a := range t.Attr {
				switch {
				case a.Name.Local == "to" && a.Name.Space == "":
					to = a.Value
				case a.Name.Local == "version" && a.Name.Space == "":
					version = a.Value
				case a.Name.Local == "xmlns" && a.Name.Space == "":
					ns = a.Value
				}
			}
			if ns != nsClient {
				c.writeHeader()
				return streamErr("invalid-namespace", "this port serves jabber:client streams")
			}
			if !strings.EqualFold(to, c.srv.domain) {
				c.writeHeader()
				return streamErr("host-unknown", "this server serves %s", c.srv.domain)
			}
			if !strings.HasPrefix(version, "1.") {
				c.writeHeader()
				return streamErr("unsupported-version", "XMPP 1.0 streams only")
			}
			// The header and the features in one write: one TLS record
			// and system call fewer for each of a login's streams.
			var b bytes.Buffer
			b.WriteString(c.header())
			b.WriteString("<stream:features>")
			for _, f := range features.Children {
				f.write(&b, nsStream)
			}
			b.WriteString("</stream:features>")
			return c.write(b.Bytes())
		default:
			return streamErr("not-well-formed", "unexpected %T before the stream header", tok)
		}
	}
}

func (c *conn) writeHeader() { _ = c.write([]byte(c.header())) }

// header is the server's stream header, with a new stream id.
func (c *conn) header() string {
	c.streamID = randomID()
	return "<?xml version='1.0'?><stream:stream from='" + c.srv.domain + "' id='" + c.streamID +
		"' version='1.0' xml:lang='en' xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'>"
}

// errStreamClosed is the client's </stream:stream>: a clean goodbye, unlike
// a connection that just drops (io.EOF).
var errStreamClosed = errors.New("stream closed by the client")

// nextElement reads the next top-level element of the stream, skipping
// whitespace keepalives. It returns errStreamClosed at </stream:stream>.
func (c *conn) nextElement(timeout time.Duration) (*element, error) {
	for {
		// A bound stream has no read deadline: devices idle for hours,
		// TCP keepalive finds dead peers, and stream management covers
		// lost links. Negotiation steps are bounded.
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		c.nc.SetReadDeadline(deadline)
		if c.stopped.Load() {
			// Stopped between the last read and this one: the deadline
			// just set replaced the one meant to wake this read.
			c.nc.SetReadDeadline(aLongTimeAgo)
		}
		c.counter.n = c.br.Buffered() // what is already read counts toward the next stanza only
		tok, err := c.dec.Token()
		if err != nil {
			return nil, c.xmlError(err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, streamErr("not-well-formed", "text between stanzas")
			}
		case xml.EndElement:
			return nil, errStreamClosed
		case xml.StartElement:
			e, err := readElement(c.dec, t)
			if err != nil {
				return nil, c.xmlError(err)
			}
			// The reader stops a stanza that keeps going; this catches
			// one that ended within the last read.
			if c.counter.n-c.br.Buffered() > maxStanzaBytes {
				return nil, c.xmlError(errStanzaTooBig)
			}
			return e, nil
		case xml.Comment, xml.ProcInst, xml.Directive:
			return nil, streamErr("restricted-xml", "comments, processing instructions and DTDs are not allowed")
		}
	}
}

// xmlError maps a read failure to the stream error it deserves.
func (c *conn) xmlError(err error) error {
	var se *streamError
	var syn *xml.SyntaxError
	var ne net.Error
	switch {
	case errors.As(err, &se):
		return se
	case errors.As(err, &syn) && syn.Msg == "unexpected EOF":
		// The connection ended mid-stream: lost, not malformed, and
		// resumable under stream management.
		return io.EOF
	case errors.Is(err, errStanzaTooBig), errors.Is(err, errTooDeep):
		return streamErr("policy-violation", "stanza larger than %d bytes or nested too deep", maxStanzaBytes)
	case errors.As(err, &syn):
		return streamErr("not-well-formed", "%s", syn.Msg)
	case errors.As(err, &ne) && ne.Timeout():
		return streamErr("connection-timeout", "")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return io.EOF
	}
	if strings.Contains(err.Error(), "stanza has more than") {
		return streamErr("policy-violation", "%s", err)
	}
	return err
}

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// negotiationTimeout bounds each step before the session is bound.
var negotiationTimeout = 60 * time.Second

// negotiate runs STARTTLS and SASL, and offers resource binding on the
// restarted stream.
func (c *conn) negotiate(ctx context.Context) error {
	switch {
	case c.isWebSocket():
		// TLS is the HTTPS connection's.
	case c.tls == nil:
		// Before TLS: offer only STARTTLS, and require it.
		feats := el(nsStream, "features").add(el(nsTLS, "starttls").add(el(nsTLS, "required")))
		if err := c.openStream(feats); err != nil {
			return err
		}
		e, err := c.nextElement(negotiationTimeout)
		if err != nil {
			return err
		}
		if e.Name.Space != nsTLS || e.Name.Local != "starttls" {
			return streamErr("policy-violation", "STARTTLS is required")
		}
		if err := c.write([]byte("<proceed xmlns='" + nsTLS + "'/>")); err != nil {
			return err
		}
		tc := tls.Server(c.nc, c.srv.tlsConfig)
		hctx, cancel := context.WithTimeout(ctx, negotiationTimeout)
		err = tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		c.tls = tc
		c.resetReader()
	default:
		hctx, cancel := context.WithTimeout(ctx, negotiationTimeout)
		err := c.tls.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
	}
	if err := c.authenticate(ctx); err != nil {
		return err
	}
	c.restartStream()
	feats := el(nsStream, "features").add(
		el(nsBind, "bind"),
		el(nsSession, "session").add(el(nsSession, "optional")),
		el(nsRosterVr, "ver"),
		el(nsSM, "sm"),
		el(nsCSI, "csi"),
		el(nsCaps, "c", "hash", "sha-1", "node", capsNode, "ver", c.srv.capsVer),
	)
	return c.openStream(feats)
}
