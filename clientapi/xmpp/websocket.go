package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// XMPP over WebSocket (RFC 7395): web clients such as Converse.js reach
// the same c2s sessions through the HTTPS port. The connection is
// adapted, not reimplemented: wsConn turns the client's framing elements
// (<open/>, <close/>) into the stream header and footer the TCP code
// reads, and splits what the port writes into one complete, namespaced
// element per WebSocket message, as the RFC requires. TLS is the HTTPS
// listener's, so STARTTLS is not offered; channel binding uses that
// TLS connection's state.

const nsFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// maxWebSocketMessage bounds one incoming WebSocket message: one stanza,
// with the same limit as a stanza on the TCP port.
const maxWebSocketMessage = maxStanzaBytes

// WebSocketHandler serves XMPP over WebSocket until ctx ends. Any origin
// may connect: the stream is authenticated by SASL inside it, never by
// a cookie the browser would attach, so a foreign page gains nothing
// (web clients are often served from another host).
func (s *Server) WebSocketHandler(ctx context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil {
			http.Error(w, "XMPP over WebSocket needs TLS", http.StatusUpgradeRequired)
			return
		}
		wc, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{"xmpp"},
			OriginPatterns: []string{"*"},
		})
		if err != nil {
			return // Accept has answered the request
		}
		if wc.Subprotocol() != "xmpp" {
			wc.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required (RFC 7395)")
			return
		}
		wc.SetReadLimit(maxWebSocketMessage)
		nc := newWSConn(wc, r)
		c := newConn(s, nc)
		state := *r.TLS
		c.wsTLS = &state
		s.track(c)
		defer s.untrack(c)
		c.serve(ctx)
	})
}

// track registers a connection served outside Serve's accept loop, so
// Wait waits for it.
func (s *Server) track(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.conns[c] = struct{}{}
	s.wg.Add(1)
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// wsConn adapts a WebSocket carrying RFC 7395 framing to the byte
// stream of RFC 6120 that conn reads and writes.
type wsConn struct {
	c      *websocket.Conn
	local  net.Addr
	remote net.Addr

	rbuf []byte // translated bytes not yet read

	// The WebSocket is read by its own goroutine: a read cancelled by
	// a context closes a coder/websocket connection, and conn wakes its
	// reader with a past deadline before it writes the stream's last
	// words (an error, the final flush), which must still go out.
	msgs      chan wsMessage
	deadlineC chan struct{} // the read deadline changed
	closed    chan struct{}
	closeOnce sync.Once

	mu            sync.Mutex
	readDeadline  time.Time
	writeDeadline time.Time
}

type wsMessage struct {
	b   []byte
	err error
}

func newWSConn(c *websocket.Conn, r *http.Request) *wsConn {
	w := &wsConn{c: c, local: wsAddr(r.Host), remote: wsAddr(r.RemoteAddr),
		msgs: make(chan wsMessage), deadlineC: make(chan struct{}, 1), closed: make(chan struct{})}
	go w.readMessages()
	return w
}

// readMessages hands the client's messages to Read until the connection
// fails or is closed.
func (w *wsConn) readMessages() {
	for {
		typ, msg, err := w.c.Read(context.Background())
		if err == nil && typ != websocket.MessageText {
			err = errors.New("a binary WebSocket message: RFC 7395 frames XMPP as text")
		}
		select {
		case w.msgs <- wsMessage{b: msg, err: err}:
		case <-w.closed:
			return
		}
		if err != nil {
			return
		}
	}
}

type wsAddr string

func (a wsAddr) Network() string { return "websocket" }
func (a wsAddr) String() string  { return string(a) }

func (w *wsConn) LocalAddr() net.Addr  { return w.local }
func (w *wsConn) RemoteAddr() net.Addr { return w.remote }

// Read returns the client's next message, translated: <open/> becomes
// a stream header, <close/> the stream's end, stanzas pass unchanged.
func (w *wsConn) Read(p []byte) (int, error) {
	for len(w.rbuf) == 0 {
		w.mu.Lock()
		deadline := w.readDeadline
		w.mu.Unlock()
		var expired <-chan time.Time
		if !deadline.IsZero() {
			if !deadline.After(time.Now()) {
				return 0, os.ErrDeadlineExceeded
			}
			t := time.NewTimer(time.Until(deadline))
			expired = t.C
			defer t.Stop() // at most one timer a call: deadlines change rarely
		}
		select {
		case m := <-w.msgs:
			if m.err != nil {
				if websocket.CloseStatus(m.err) != -1 {
					return 0, io.EOF
				}
				return 0, m.err
			}
			w.rbuf = translateIn(m.b)
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		case <-w.deadlineC: // look at the new deadline
		case <-w.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, w.rbuf)
	w.rbuf = w.rbuf[n:]
	return n, nil
}

// translateIn turns the framing elements into what a TCP stream says.
func translateIn(msg []byte) []byte {
	name, attrs, ok := framingElement(msg)
	if !ok {
		return msg
	}
	switch name {
	case "open":
		var b bytes.Buffer
		b.WriteString("<stream:stream xmlns='" + nsClient + "' xmlns:stream='" + nsStream + "'")
		for _, a := range attrs {
			if a.Name.Space == "" && (a.Name.Local == "to" || a.Name.Local == "version" || a.Name.Local == "from") {
				b.WriteString(" " + a.Name.Local + "='")
				escapeAttr(&b, a.Value)
				b.WriteString("'")
			}
		}
		b.WriteString(">")
		return b.Bytes()
	case "close":
		return []byte("</stream:stream>")
	}
	return msg
}

// framingElement reports whether msg is an RFC 7395 framing element.
func framingElement(msg []byte) (string, []xml.Attr, bool) {
	trimmed := bytes.TrimSpace(msg)
	if !bytes.HasPrefix(trimmed, []byte("<open")) && !bytes.HasPrefix(trimmed, []byte("<close")) {
		return "", nil, false
	}
	dec := xml.NewDecoder(bytes.NewReader(trimmed))
	tok, err := dec.Token()
	if err != nil {
		return "", nil, false
	}
	start, ok := tok.(xml.StartElement)
	if !ok || start.Name.Space != nsFraming {
		return "", nil, false
	}
	return start.Name.Local, start.Attr, true
}

// Write splits what the port wrote (a stream header, several stanzas of
// one flush, a stream error and the stream's end) into one WebSocket
// message per top-level element, each carrying its namespaces.
func (w *wsConn) Write(p []byte) (int, error) {
	msgs, err := translateOut(p)
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	deadline := w.writeDeadline
	w.mu.Unlock()
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if !deadline.IsZero() {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	defer cancel()
	for _, m := range msgs {
		if err := w.c.Write(ctx, websocket.MessageText, m); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// translateOut cuts the port's output into top-level elements: the
// stream header becomes <open/>, its end <close/>, and elements that
// relied on the stream's namespaces declare them.
func translateOut(p []byte) ([][]byte, error) {
	var out [][]byte
	dec := xml.NewDecoder(bytes.NewReader(p))
	depth := 0
	var start int64
	var first xml.StartElement
	for {
		offset := dec.InputOffset()
		tok, err := dec.RawToken()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("splitting output for WebSocket: %w", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Space == "stream" && t.Name.Local == "stream" && depth == 0 {
				out = append(out, openElement(t))
				continue // the stream element stays open over the stream
			}
			if depth == 0 {
				start, first = offset, t
			}
			depth++
		case xml.EndElement:
			if t.Name.Space == "stream" && t.Name.Local == "stream" && depth == 0 {
				out = append(out, []byte("<close xmlns='"+nsFraming+"'/>"))
				continue
			}
			depth--
			if depth == 0 {
				out = append(out, declareNamespaces(p[start:dec.InputOffset()], first))
			}
		}
	}
}

func openElement(header xml.StartElement) []byte {
	var b bytes.Buffer
	b.WriteString("<open xmlns='" + nsFraming + "'")
	for _, a := range header.Attr {
		name := a.Name.Local
		if a.Name.Space == "xml" {
			name = "xml:" + name
		} else if a.Name.Space != "" || name == "xmlns" {
			continue
		}
		b.WriteString(" " + name + "='")
		escapeAttr(&b, a.Value)
		b.WriteString("'")
	}
	b.WriteString("/>")
	return b.Bytes()
}

// declareNamespaces adds to a top-level element the declarations it
// inherited from the stream header: jabber:client for stanzas, the
// stream prefix for stream features and errors.
func declareNamespaces(el []byte, start xml.StartElement) []byte {
	var decl string
	switch {
	case start.Name.Space == "stream":
		decl = " xmlns:stream='" + nsStream + "'"
	case start.Name.Space == "" && !hasXMLNS(start):
		decl = " xmlns='" + nsClient + "'"
	default:
		return el
	}
	i := bytes.IndexAny(el, " />")
	if i < 0 {
		return el
	}
	out := make([]byte, 0, len(el)+len(decl))
	out = append(out, el[:i]...)
	out = append(out, decl...)
	return append(out, el[i:]...)
}

func hasXMLNS(start xml.StartElement) bool {
	for _, a := range start.Attr {
		if a.Name.Space == "" && a.Name.Local == "xmlns" {
			return true
		}
	}
	return false
}

// Close ends the WebSocket; conn has written </stream:stream> (sent as
// <close/>) when the end is orderly.
func (w *wsConn) Close() error {
	w.closeOnce.Do(func() { close(w.closed) })
	return w.c.Close(websocket.StatusNormalClosure, "")
}

func (w *wsConn) SetDeadline(t time.Time) error {
	w.SetReadDeadline(t)
	return w.SetWriteDeadline(t)
}

func (w *wsConn) SetReadDeadline(t time.Time) error {
	w.mu.Lock()
	w.readDeadline = t
	w.mu.Unlock()
	select {
	case w.deadlineC <- struct{}{}: // wake a waiting Read, as a net.Conn's deadline does
	default:
	}
	return nil
}

func (w *wsConn) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeDeadline = t
	return nil
}

// tlsState is the TLS connection the stream runs over: its own, or the
// HTTPS connection a WebSocket came in on.
func (c *conn) tlsState() *tls.ConnectionState {
	if c.wsTLS != nil {
		return c.wsTLS
	}
	if c.tls != nil {
		cs := c.tls.ConnectionState()
		return &cs
	}
	return nil
}

// isWebSocket reports whether the stream came in over WebSocket, where
// TLS is already up and STARTTLS is not offered.
func (c *conn) isWebSocket() bool { return c.wsTLS != nil }

var _ net.Conn = (*wsConn)(nil)

// WebSocketPath is where the HTTPS listener serves XMPP over WebSocket.
const WebSocketPath = "/xmpp-websocket"
