package xmpp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"mellium.im/sasl"
	xmppc "mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
	xws "mellium.im/xmpp/websocket"

	"github.com/switchboard/switchboard/core"
)

// startWebSocket serves the port's WebSocket endpoint over HTTPS with the
// daemon's certificate and returns its wss:// URL.
func startWebSocket(t *testing.T, p *testPort) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(p.srv.WebSocketHandler(ctx))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.cert}}
	srv.StartTLS()
	t.Cleanup(func() { cancel(); srv.Close() })
	return strings.Replace(srv.URL, "https://", "wss://", 1) + WebSocketPath
}

// wsClient speaks RFC 7395 by hand: one element per message.
type wsClient struct {
	t *testing.T
	c *websocket.Conn
}

func dialWS(t *testing.T, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		Subprotocols: []string{"xmpp"},
		HTTPClient:   insecureHTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatal(err)
	}
}

// next reads one message, which must be exactly one well-formed element
// that declares its own namespace.
func (w *wsClient) next() *element {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, msg, err := w.c.Read(ctx)
	if err != nil {
		w.t.Fatalf("reading a WebSocket message: %v", err)
	}
	dec := xml.NewDecoder(bytes.NewReader(msg))
	tok, err := dec.Token()
	start, ok := tok.(xml.StartElement)
	if err != nil || !ok || start.Name.Space == "" {
		w.t.Fatalf("message %q is not one namespaced element", msg)
	}
	e, err := readElement(dec, start)
	if err != nil {
		w.t.Fatalf("message %q: %v", msg, err)
	}
	if rest, _ := dec.Token(); rest != nil {
		w.t.Fatalf("message %q holds more than one element", msg)
	}
	return e
}

func (w *wsClient) expect(what string, match func(*element) bool) *element {
	w.t.Helper()
	for range 50 {
		if e := w.next(); match(e) {
			return e
		}
	}
	w.t.Fatalf("no %s", what)
	return nil
}

// TestWebSocketSession: a client over WebSocket opens with <open/>,
// logs in with SASL (no STARTTLS offered: TLS is the HTTPS one), binds,
// reads the roster, gets a network's message and closes with <close/>;
// every message is one namespaced element.
func TestWebSocketSession(t *testing.T) {
	p := startPort(t)
	url := startWebSocket(t, p)
	w := dialWS(t, url)
	open := "<open xmlns='" + nsFraming + "' to='" + testDomain + "' version='1.0'/>"
	w.send(open)
	if o := w.next(); o.Name.Space != nsFraming || o.Name.Local != "open" || o.attr("from") != testDomain || o.attr("id") == "" {
		t.Fatalf("the server opened with %v", o)
	}
	feats := w.next()
	if feats.Name.Local != "features" || feats.child(nsSASL, "mechanisms") == nil || feats.child(nsTLS, "starttls") != nil {
		t.Fatalf("features before login %v: want SASL and no STARTTLS", feats)
	}
	plain := base64.StdEncoding.EncodeToString([]byte("\x00alice\x00" + p.password))
	w.send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + plain + "</auth>")
	if s := w.next(); s.Name.Local != "success" {
		t.Fatalf("PLAIN over wss answered %v", s)
	}
	w.send(open)
	w.next() // <open/>
	if f := w.next(); f.child(nsBind, "bind") == nil {
		t.Fatalf("features after login %v", f)
	}
	w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='" + nsBind + "'><resource>web</resource></bind></iq>")
	if r := w.next(); r.attr("type") != "result" || !strings.HasSuffix(r.child(nsBind, "bind").childText(nsBind, "jid"), "/web") {
		t.Fatalf("bind answered %v", r)
	}
	w.send("<iq xmlns='jabber:client' type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	w.expect("the roster", func(e *element) bool { return e.attr("id") == "r1" && e.attr("type") == "result" })

	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "over the web"))
	m := w.expect("bob's message", func(e *element) bool { return e.Name.Local == "message" })
	if m.Name.Space != nsClient || m.childText(nsClient, "body") != "over the web" || m.attr("from") != "bob@libera."+testDomain {
		t.Errorf("bob's message arrived as %v", m)
	}
	w.send("<close xmlns='" + nsFraming + "'/>")
	w.expect("the server's close", func(e *element) bool { return e.Name.Space == nsFraming && e.Name.Local == "close" })
}

// TestMelliumOverWebSocket: mellium, an XMPP library, logs in over
// WebSocket with SCRAM and sends a message that reaches the network.
func TestMelliumOverWebSocket(t *testing.T) {
	p := startPort(t)
	url := startWebSocket(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// mellium takes the stream for secure (and so offers SASL) only when
	// its WebSocket's local address, which x/net/websocket makes the
	// Origin, has the wss scheme.
	d := xws.Dialer{Origin: "wss://" + testDomain, TLSConfig: &tls.Config{InsecureSkipVerify: true}}
	conn, err := d.DialDirect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	addr := jid.MustParse("alice@" + testDomain + "/mellium-ws")
	sess, err := xws.NewSession(ctx, addr, conn, xmppc.SASL("", p.password, sasl.ScramSha256, sasl.ScramSha1), xmppc.BindResource())
	if err != nil {
		t.Fatalf("mellium could not log in over WebSocket: %v", err)
	}
	defer sess.Close()
	go sess.Serve(nil)
	msg := stanza.Message{To: jid.MustParse("bob@libera." + testDomain), Type: stanza.ChatMessage}
	body := struct {
		stanza.Message
		Body string `xml:"body"`
	}{Message: msg, Body: "hello from mellium over wss"}
	if err := sess.Encode(ctx, body); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-p.sent:
		if m.Body != "hello from mellium over wss" || m.Peer.Remote != "bob" {
			t.Errorf("the network got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message never reached the network")
	}
	if !p.logged("XMPP login", "user=alice", "mechanism=SCRAM-SHA-256") {
		t.Error("the login did not use SCRAM-SHA-256")
	}
}

// TestTranslateOut: one flush of several stanzas, a stream error and the
// stream's end become one message each, with their namespaces.
func TestTranslateOut(t *testing.T) {
	in := "<?xml version='1.0'?><stream:stream from='example.org' id='x1' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" +
		"<stream:features><bind xmlns='" + nsBind + "'/></stream:features>" +
		"<message to='a@example.org/b'><body>one &amp; two</body></message><r xmlns='urn:xmpp:sm:3'/>" +
		"<stream:error><conflict xmlns='" + nsStreams + "'/></stream:error></stream:stream>"
	got, err := translateOut([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"<open xmlns='" + nsFraming + "' from='example.org' id='x1' version='1.0' xml:lang='en'/>",
		"<stream:features xmlns:stream='" + nsStream + "'><bind xmlns='" + nsBind + "'/></stream:features>",
		"<message xmlns='jabber:client' to='a@example.org/b'><body>one &amp; two</body></message>",
		"<r xmlns='urn:xmpp:sm:3'/>",
		"<stream:error xmlns:stream='" + nsStream + "'><conflict xmlns='" + nsStreams + "'/></stream:error>",
		"<close xmlns='" + nsFraming + "'/>",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d messages %q, want %d", len(got), got, len(want))
	}
	for i := range want {
		if string(got[i]) != want[i] {
			t.Errorf("message %d = %s, want %s", i, got[i], want[i])
		}
	}
}

// insecureHTTPClient trusts the test server's self-signed certificate.
func insecureHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
}

// loginWS opens a stream over WebSocket and logs in with PLAIN as
// resource, answering the client.
func loginWS(t *testing.T, p *testPort, url, resource string) *wsClient {
	t.Helper()
	w := dialWS(t, url)
	open := "<open xmlns='" + nsFraming + "' to='" + testDomain + "' version='1.0'/>"
	w.send(open)
	w.next() // <open/>
	w.next() // features
	w.send("<auth xmlns='" + nsSASL + "' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+p.password)) + "</auth>")
	if s := w.next(); s.Name.Local != "success" {
		t.Fatalf("PLAIN answered %v", s)
	}
	w.send(open)
	w.next()
	w.next()
	w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='" + nsBind + "'><resource>" + resource + "</resource></bind></iq>")
	if r := w.next(); r.attr("type") != "result" {
		t.Fatalf("bind answered %v", r)
	}
	return w
}

// TestWebSocketStreamErrorReachesTheClient: a session replaced by a new
// login with its resource is told why (conflict) and closed with
// <close/>, over WebSocket as over TCP.
func TestWebSocketStreamErrorReachesTheClient(t *testing.T) {
	p := startPort(t)
	url := startWebSocket(t, p)
	first := loginWS(t, p, url, "tab")
	loginWS(t, p, url, "tab")
	e := first.expect("the stream error", func(e *element) bool { return e.Name.Local == "error" })
	if e.child(nsStreams, "conflict") == nil {
		t.Errorf("the replaced session got %v, want a conflict stream error", e)
	}
	first.expect("the close", func(e *element) bool { return e.Name.Space == nsFraming && e.Name.Local == "close" })
}
