package xmppload

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/xdg-go/scram"
)

const (
	nsTLS    = "urn:ietf:params:xml:ns:xmpp-tls"
	nsSASL   = "urn:ietf:params:xml:ns:xmpp-sasl"
	nsBind   = "urn:ietf:params:xml:ns:xmpp-bind"
	nsRoster = "jabber:iq:roster"
	nsPing   = "urn:xmpp:ping"
	nsMUC    = "http://jabber.org/protocol/muc"
	nsClient = "jabber:client"

	scramSHA256 = "SCRAM-SHA-256"
)

// StepTimeout bounds each step of a login and each request.
const StepTimeout = 30 * time.Second

// Client is one device's stream.
type Client struct {
	domain string
	nc     net.Conn
	conn   net.Conn // nc, then the TLS conn over it
	br     *bufio.Reader
	dec    *xml.Decoder
}

// NewScram returns a SCRAM-SHA-256 client for user; share one between a
// user's devices so that only the first login derives the keys.
func NewScram(user, password string) (*scram.Client, error) {
	return scram.SHA256.NewClient(user, password, "")
}

// Dial connects to the client port at addr for domain.
func Dial(addr, domain string) (*Client, error) {
	nc, err := net.DialTimeout("tcp", addr, StepTimeout)
	if err != nil {
		return nil, err
	}
	c := &Client{domain: domain, nc: nc}
	c.readFrom(nc)
	return c, nil
}

// Device dials, logs in as resource, fetches the roster and goes online:
// what an app does before its user sees anything.
func Device(addr, domain string, sc *scram.Client, resource string) (*Client, error) {
	c, err := Dial(addr, domain)
	if err != nil {
		return nil, err
	}
	if err = c.Login(sc, resource); err == nil {
		if err = c.Roster(); err == nil {
			err = c.GoOnline()
		}
	}
	if err != nil {
		c.nc.Close()
		return nil, fmt.Errorf("device %s: %w", resource, err)
	}
	return c, nil
}

func (c *Client) readFrom(conn net.Conn) {
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 8<<10)
	c.dec = xml.NewDecoder(c.br)
}

// Send writes raw XML.
func (c *Client) Send(s string) error {
	_, err := io.WriteString(c.conn, s)
	return err
}

// Next reads the next top-level element.
func (c *Client) Next() (*Element, error) {
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			e := &Element{}
			if err := c.dec.DecodeElement(e, &t); err != nil {
				return nil, err
			}
			return e, nil
		case xml.EndElement:
			return nil, errors.New("the server closed the stream")
		}
	}
}

func (c *Client) openStream() (*Element, error) {
	if err := c.Send("<?xml version='1.0'?><stream:stream to='" + c.domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"); err != nil {
		return nil, err
	}
	for {
		tok, err := c.dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading the stream header: %w", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "stream" {
			break
		}
	}
	return c.Next()
}

// IQ sends an iq and returns its result; every other stanza before it is
// handed to other (which may be nil).
func (c *Client) IQ(id, typ, to, payload string, other func(*Element)) (*Element, error) {
	c.nc.SetDeadline(time.Now().Add(StepTimeout))
	defer c.nc.SetDeadline(time.Time{})
	var toAttr string
	if to != "" {
		toAttr = " to='" + xmlEscape(to) + "'"
	}
	if err := c.Send("<iq type='" + typ + "' id='" + id + "'" + toAttr + ">" + payload + "</iq>"); err != nil {
		return nil, err
	}
	for {
		e, err := c.Next()
		if err != nil {
			return nil, err
		}
		if e.XMLName.Local == "iq" && e.Attr("id") == id {
			if e.Attr("type") != "result" {
				return nil, fmt.Errorf("iq %s answered with an error: %s", id, e.describe())
			}
			return e, nil
		}
		if other != nil {
			other(e)
		}
	}
}

// Login negotiates STARTTLS, SCRAM-SHA-256 with sc, and binds resource.
func (c *Client) Login(sc *scram.Client, resource string) error {
	c.nc.SetDeadline(time.Now().Add(StepTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if _, err := c.openStream(); err != nil {
		return err
	}
	if err := c.Send("<starttls xmlns='" + nsTLS + "'/>"); err != nil {
		return err
	}
	if e, err := c.Next(); err != nil || e.XMLName.Local != "proceed" {
		return fmt.Errorf("STARTTLS answered %s, %v", e.describe(), err)
	}
	// The daemon's certificate is self-signed for its domain.
	tc := tls.Client(c.nc, &tls.Config{InsecureSkipVerify: true, ServerName: c.domain})
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	c.readFrom(tc)
	feats, err := c.openStream()
	if err != nil {
		return err
	}
	offered := false
	for _, m := range feats.Child(nsSASL, "mechanisms").childrenOrNil() {
		offered = offered || m.Text == scramSHA256
	}
	if !offered {
		return fmt.Errorf("no %s offered: %s", scramSHA256, feats.describe())
	}
	conv := sc.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return err
	}
	if err := c.Send("<auth xmlns='" + nsSASL + "' mechanism='" + scramSHA256 + "'>" + b64(first) + "</auth>"); err != nil {
		return err
	}
	ch, err := c.Next()
	if err != nil || ch.XMLName.Local != "challenge" {
		return fmt.Errorf("SCRAM first message answered %s, %v", ch.describe(), err)
	}
	serverFirst, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ch.Text))
	if err != nil {
		return err
	}
	final, err := conv.Step(string(serverFirst))
	if err != nil {
		return err
	}
	if err := c.Send("<response xmlns='" + nsSASL + "'>" + b64(final) + "</response>"); err != nil {
		return err
	}
	ok, err := c.Next()
	if err != nil || ok.XMLName.Local != "success" {
		return fmt.Errorf("SCRAM final message answered %s, %v", ok.describe(), err)
	}
	serverFinal, err := base64.StdEncoding.DecodeString(strings.TrimSpace(ok.Text))
	if err != nil {
		return err
	}
	if _, err := conv.Step(string(serverFinal)); err != nil || !conv.Valid() {
		return fmt.Errorf("the server's signature does not verify: %v", err)
	}
	c.dec = xml.NewDecoder(c.br)
	if feats, err = c.openStream(); err != nil {
		return err
	}
	if feats.Child(nsBind, "bind") == nil {
		return fmt.Errorf("no bind feature after login: %s", feats.describe())
	}
	_, err = c.IQ("bind", "set", "", "<bind xmlns='"+nsBind+"'><resource>"+xmlEscape(resource)+"</resource></bind>", nil)
	return err
}

// Roster fetches the roster.
func (c *Client) Roster() error {
	_, err := c.IQ("roster", "get", "", "<query xmlns='"+nsRoster+"'/>", nil)
	return err
}

// GoOnline sends initial presence and returns once the server has handled
// it: a ping sent after it is answered after it.
func (c *Client) GoOnline() error {
	if err := c.Send("<presence/>"); err != nil {
		return err
	}
	return c.Ping()
}

// Ping asks the server for a pong.
func (c *Client) Ping() error {
	_, err := c.IQ("ping", "get", "", "<ping xmlns='"+nsPing+"'/>", nil)
	return err
}

// JoinRoom joins a MUC room as occupant (room@service/nick) without
// history and returns at its subject, the join's last stanza.
func (c *Client) JoinRoom(occupant string) error {
	c.nc.SetDeadline(time.Now().Add(StepTimeout))
	defer c.nc.SetDeadline(time.Time{})
	if err := c.Send("<presence to='" + xmlEscape(occupant) + "'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>"); err != nil {
		return err
	}
	for {
		e, err := c.Next()
		if err != nil {
			return err
		}
		if e.XMLName.Local == "presence" && e.Attr("type") == "error" {
			return fmt.Errorf("joining %s refused: %s", occupant, e.describe())
		}
		if e.XMLName.Local == "message" && e.Child(nsClient, "subject") != nil {
			return nil
		}
	}
}

// Raw is the decrypted stream for a reader that scans bytes itself,
// after the last element Next read.
func (c *Client) Raw() *bufio.Reader { return c.br }

// SetDeadline sets the connection's deadline.
func (c *Client) SetDeadline(t time.Time) error { return c.nc.SetDeadline(t) }

// Close ends the stream and closes the connection.
func (c *Client) Close() {
	c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	_ = c.Send("</stream:stream>")
	c.nc.Close()
}

func (e *Element) childrenOrNil() []*Element {
	if e == nil {
		return nil
	}
	return e.Children
}

// describe renders e for an error message.
func (e *Element) describe() string {
	if e == nil {
		return "nothing"
	}
	b, err := xml.Marshal(e)
	if err != nil {
		return "<" + e.XMLName.Local + ">"
	}
	return string(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func xmlEscape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return strings.ReplaceAll(b.String(), "'", "&#39;")
}
