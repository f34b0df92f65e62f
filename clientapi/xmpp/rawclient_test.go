package xmpp

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient speaks XMPP byte by byte, for what no well-behaved client
// sends: malformed XML, whitespace in odd places, oversized stanzas.
type rawClient struct {
	t    testing.TB
	nc   net.Conn
	conn net.Conn // nc, or the TLS conn over it
	dec  *xml.Decoder
}

func dialRaw(t testing.TB, addr string, directTLS bool) *rawClient {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, nc: nc, conn: nc}
	if directTLS {
		c.conn = tls.Client(nc, &tls.Config{InsecureSkipVerify: true, ServerName: testDomain})
	}
	c.dec = xml.NewDecoder(c.conn)
	t.Cleanup(func() { nc.Close() })
	return c
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("writing %q: %v", s, err)
	}
}

// openStream sends a stream header and returns the features.
func (c *rawClient) openStream() *element {
	c.t.Helper()
	c.send("<?xml version='1.0'?><stream:stream to='" + testDomain + "' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	for {
		tok, err := c.token()
		if err != nil {
			c.t.Fatalf("reading the stream header: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			break
		}
	}
	return c.next()
}

func (c *rawClient) token() (xml.Token, error) {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	return c.dec.Token()
}

// next reads the next top-level element; nil at the end of the stream.
func (c *rawClient) next() *element {
	c.t.Helper()
	for {
		tok, err := c.token()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			c.t.Fatalf("reading: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e, err := readElement(c.dec, t)
			if err != nil {
				c.t.Fatalf("reading <%s>: %v", t.Name.Local, err)
			}
			return e
		case xml.EndElement:
			return nil
		}
	}
}

// expect reads until an element that match accepts.
func (c *rawClient) expect(what string, match func(*element) bool) *element {
	c.t.Helper()
	for {
		e := c.next()
		if e == nil {
			c.t.Fatalf("the stream ended before %s", what)
		}
		if match(e) {
			return e
		}
	}
}

func (c *rawClient) startTLS() {
	c.t.Helper()
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	if e := c.next(); e == nil || e.Name.Local != "proceed" {
		c.t.Fatalf("STARTTLS answered with %v", e)
	}
	c.conn = tls.Client(c.nc, &tls.Config{InsecureSkipVerify: true, ServerName: testDomain})
	c.dec = xml.NewDecoder(c.conn)
}

// authPlain runs SASL PLAIN and returns the server's answer.
func (c *rawClient) authPlain(user, password string) *element {
	c.t.Helper()
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
		base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+password)) + "</auth>")
	return c.next()
}

// relogin authenticates a new connection over STARTTLS with PLAIN, up to
// the point of binding or resuming.
func relogin(t testing.TB, p *testPort) *rawClient {
	t.Helper()
	c := dialRaw(t, p.addr, false)
	c.openStream()
	c.startTLS()
	c.openStream()
	if r := c.authPlain("alice", p.password); r == nil || r.Name.Local != "success" {
		t.Fatalf("PLAIN login answered %v", r)
	}
	c.dec = xml.NewDecoder(c.conn)
	if feats := c.openStream(); feats.child(nsBind, "bind") == nil || feats.child(nsSM, "sm") == nil {
		t.Fatalf("no bind or stream management offered after login: %v", feats)
	}
	return c
}

// loginRaw logs in over STARTTLS with PLAIN and binds resource.
func loginRaw(t testing.TB, p *testPort, resource string) *rawClient {
	t.Helper()
	c := relogin(t, p)
	c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource + "</resource></bind></iq>")
	r := c.next()
	if r == nil || r.attr("type") != "result" || !strings.HasSuffix(r.child(nsBind, "bind").childText(nsBind, "jid"), "/"+resource) {
		t.Fatalf("bind answered %v", r)
	}
	return c
}
