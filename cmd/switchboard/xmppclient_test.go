package main

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// xmppMessage is a message a test client received.
type xmppMessage struct {
	XMLName xml.Name `xml:"message"`
	ID      string   `xml:"id,attr"`
	From    string   `xml:"from,attr"`
	Type    string   `xml:"type,attr"`
	Body    string   `xml:"body"`
	// Received is the id a chat marker (XEP-0333) says reached its
	// recipient.
	Received struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:chat-markers:0 received"`
	// Replace, Reply and Displayed name messages by id (XEP-0308,
	// XEP-0461, XEP-0333); Composing is a chat state (XEP-0085).
	Replace struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:message-correct:0 replace"`
	Reply struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:reply:0 reply"`
	// Invite is a direct invitation (XEP-0249).
	Invite struct {
		JID    string `xml:"jid,attr"`
		Reason string `xml:"reason,attr"`
	} `xml:"jabber:x:conference x"`
	Displayed struct {
		ID string `xml:"id,attr"`
	} `xml:"urn:xmpp:chat-markers:0 displayed"`
	// Reactions are a sender's set for the message they name (XEP-0444).
	Reactions struct {
		ID    string   `xml:"id,attr"`
		Items []string `xml:"reaction"`
	} `xml:"urn:xmpp:reactions:0 reactions"`
	// Retracted names a PEP item a pubsub notification says is gone.
	Retracted struct {
		ID string `xml:"id,attr"`
	} `xml:"http://jabber.org/protocol/pubsub#event event>items>retract"`
	Composing *struct{} `xml:"http://jabber.org/protocol/chatstates composing"`
	Error     struct {
		Type string `xml:"type,attr"`
		Text string `xml:"urn:ietf:params:xml:ns:xmpp-stanzas text"`
	} `xml:"error"`
}

// xmppClient is a real XMPP client (mellium) logged in to the daemon's
// client port.
type xmppClient struct {
	t    testing.TB
	sess *xmpp.Session
	msgs chan xmppMessage
	pres chan xmppPresence // fedpresence_e2e_test.go
}

// dialXMPP logs user@domain in over STARTTLS at addr and sends initial
// presence; received messages arrive on msgs.
func dialXMPP(t testing.TB, addr, user, domain, password string) *xmppClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's certificate is self-signed; trust matters not here.
	tlsCfg := &tls.Config{InsecureSkipVerify: true, ServerName: domain}
	sess, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@"+domain), nc,
		xmpp.StartTLS(tlsCfg), xmpp.SASL("", password, sasl.ScramSha256, sasl.Plain), xmpp.BindResource())
	if err != nil {
		nc.Close()
		t.Fatalf("XMPP login of %s: %v", user, err)
	}
	c := &xmppClient{t: t, sess: sess, msgs: make(chan xmppMessage, 100), pres: make(chan xmppPresence, 100)}
	go func() {
		_ = sess.Serve(xmpp.HandlerFunc(func(tr xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local == "presence" {
				c.received(tr, start)
				return nil
			}
			if start.Name.Local != "message" {
				return nil
			}
			var m xmppMessage
			if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), tr)).Decode(&m); err != nil {
				return nil
			}
			select {
			case c.msgs <- m:
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(func() { sess.Close(); nc.Close() })
	if err := sess.Send(ctx, stanza.Presence{}.Wrap(nil)); err != nil {
		t.Fatal(err)
	}
	return c
}

// send writes a chat message to.
func (c *xmppClient) send(to, body string) {
	c.t.Helper()
	c.sendID(to, body, "")
}

// sendID writes a chat message with a stanza id.
func (c *xmppClient) sendID(to, body, id string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	msg := stanza.Message{ID: id, To: jid.MustParse(to), Type: stanza.ChatMessage}.Wrap(
		xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}}))
	if err := c.sess.Send(ctx, msg); err != nil {
		c.t.Fatal(err)
	}
}

// expect returns the first message with a body that match accepts.
func (c *xmppClient) expect(match func(xmppMessage) bool) xmppMessage {
	c.t.Helper()
	return c.expectAny(func(m xmppMessage) bool { return m.Body != "" && match(m) })
}

// expectAny returns the first message stanza that match accepts.
func (c *xmppClient) expectAny(match func(xmppMessage) bool) xmppMessage {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case m := <-c.msgs:
			if match(m) {
				return m
			}
		case <-timeout:
			c.t.Fatal("no matching XMPP message within 20 s")
		}
	}
}
