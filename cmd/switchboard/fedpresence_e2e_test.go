package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"
)

// xmppPresence is a presence stanza a test client received.
type xmppPresence struct {
	XMLName xml.Name `xml:"presence"`
	From    string   `xml:"from,attr"`
	Type    string   `xml:"type,attr"`
	Show    string   `xml:"show"`
	Status  string   `xml:"status"`
	// Codes are a group chat's (XEP-0045) status codes.
	Codes []struct {
		Code string `xml:"code,attr"`
	} `xml:"http://jabber.org/protocol/muc#user x>status"`
}

func (c *xmppClient) received(tr xml.TokenReader, start *xml.StartElement) {
	var p xmppPresence
	if err := xml.NewTokenDecoder(xmlstream.MultiReader(xmlstream.Token(*start), tr)).Decode(&p); err != nil {
		return
	}
	select {
	case c.pres <- p:
	default:
	}
}

// sendPresence sends a presence stanza of type typ to (empty: broadcast)
// with an optional show and status.
func (c *xmppClient) sendPresence(to, typ, show, status string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p := stanza.Presence{Type: stanza.PresenceType(typ)}
	if to != "" {
		p.To = jid.MustParse(to)
	}
	var inner []xml.TokenReader
	if show != "" {
		inner = append(inner, xmlstream.Wrap(xmlstream.Token(xml.CharData(show)), xml.StartElement{Name: xml.Name{Local: "show"}}))
	}
	if status != "" {
		inner = append(inner, xmlstream.Wrap(xmlstream.Token(xml.CharData(status)), xml.StartElement{Name: xml.Name{Local: "status"}}))
	}
	if err := c.sess.Send(ctx, p.Wrap(xmlstream.MultiReader(inner...))); err != nil {
		c.t.Fatal(err)
	}
}

// expectPresence returns the first presence stanza match accepts.
func (c *xmppClient) expectPresence(what string, match func(xmppPresence) bool) xmppPresence {
	c.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case p := <-c.pres:
			if match(p) {
				return p
			}
		case <-timeout:
			c.t.Fatalf("no presence: %s within 30 s", what)
		}
	}
}

// block puts addresses on the user's XEP-0191 block list.
func (c *xmppClient) block(addr string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	item := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Local: "item"}, Attr: []xml.Attr{{Name: xml.Name{Local: "jid"}, Value: addr}}})
	iq := stanza.IQ{Type: stanza.SetIQ}.Wrap(xmlstream.Wrap(item, xml.StartElement{Name: xml.Name{Space: "urn:xmpp:blocking", Local: "block"}}))
	resp, err := c.sess.SendIQ(ctx, iq)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Close()
	tok, err := resp.Token()
	if err != nil {
		c.t.Fatal(err)
	}
	if start, ok := tok.(xml.StartElement); !ok || !hasAttr(start, "type", "result") {
		c.t.Fatalf("blocking %s: %v", addr, tok)
	}
}

func hasAttr(s xml.StartElement, name, value string) bool {
	for _, a := range s.Attr {
		if a.Name.Local == name && a.Value == value {
			return true
		}
	}
	return false
}

// rosterOf fetches the client's roster: subscription by bare JID.
func (c *xmppClient) rosterOf() map[string]string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := roster.Fetch(ctx, c.sess)
	defer it.Close()
	out := make(map[string]string)
	for it.Next() {
		out[it.Item().JID.Bare().String()] = it.Item().Subscription
	}
	if err := it.Err(); err != nil {
		c.t.Fatal(err)
	}
	return out
}

type e2eContact struct {
	Addr, Subscription, Show, Status string
	Asked                            bool
}

// contactsOf returns the user's contacts and pending requests on network.
func contactsOf(t *testing.T, api *apiClient, network int64) (map[string]e2eContact, []string) {
	t.Helper()
	var out struct {
		Networks []struct {
			Network  int64
			Contacts []e2eContact
			Pending  []string
		}
	}
	api.do("GET", "/api/v1/contacts", nil, 200, &out)
	cs := make(map[string]e2eContact)
	for _, n := range out.Networks {
		if n.Network == network {
			for _, c := range n.Contacts {
				cs[c.Addr] = c
			}
			return cs, n.Pending
		}
	}
	return cs, nil
}

// TestFedPresenceThreeDaemons runs three daemons on loopback with static
// peer maps. alice@a.test's XMPP client asks to see bob@b.test's
// presence; bob's device allows it through the HTTP API; bob's status
// changes reach alice's client, also offline when b stops and available
// when it is back; bob revokes, alice asks again and cancels; carol of a
// domain bob blocked cannot subscribe.
func TestFedPresenceThreeDaemons(t *testing.T) {
	nodes := fedNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	for _, n := range nodes {
		n.start(t)
	}
	alice := loginAPI(t, a.dir, a.addr, "alice", "pw-a")
	bob := loginAPI(t, b.dir, b.addr, "bob", "pw-b")
	carol := loginAPI(t, c.dir, c.addr, "carol", "pw-c")
	aliceNet, bobNet, carolNet := waitFedNetwork(t, alice), waitFedNetwork(t, bob), waitFedNetwork(t, carol)
	aliceX := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	bobX := dialXMPP(t, b.d.xmpp[0], "bob", "b.test", "pw-b")
	bobEvents, closeBob := bob.events("")

	// alice asks from XMPP; bob's devices see the request.
	aliceX.sendPresence("bob@b.test", "subscribe", "", "")
	bobX.expectPresence("alice's request on bob's client", func(p xmppPresence) bool {
		return p.From == "alice@a.test" && p.Type == "subscribe"
	})
	ev := nextEvent(t, bobEvents, "subscription")
	var sub struct {
		Network       int64
		Contact, Kind string
	}
	if err := json.Unmarshal([]byte(ev.data), &sub); err != nil || sub.Contact != "alice@a.test" || sub.Kind != "subscribe" || sub.Network != bobNet {
		t.Fatalf("bob's subscription event %s", ev.data)
	}
	closeBob()
	waitLong(t, "alice's request pending for bob", func() bool {
		_, pending := contactsOf(t, bob, bobNet)
		return fmt.Sprint(pending) == "[alice@a.test]"
	})
	if cs, _ := contactsOf(t, alice, aliceNet); !cs["bob@b.test"].Asked {
		t.Errorf("alice's contacts %+v: bob not asked", cs)
	}

	// bob allows through the HTTP API: alice's client sees the approval
	// and bob's presence, then each change of it.
	bob.do("POST", fmt.Sprintf("/api/v1/networks/%d/contacts/alice@a.test/subscription", bobNet), map[string]string{"action": "allow"}, 202, nil)
	aliceX.expectPresence("bob's approval", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "subscribed" })
	aliceX.expectPresence("bob available", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "" && p.Show == "" })
	bobX.sendPresence("", "", "away", "lunch")
	aliceX.expectPresence("bob away", func(p xmppPresence) bool {
		return p.From == "bob@b.test" && p.Type == "" && p.Show == "away" && p.Status == "lunch"
	})
	waitLong(t, "alice's contact list shows bob away", func() bool {
		cs, _ := contactsOf(t, alice, aliceNet)
		return cs["bob@b.test"] == e2eContact{Addr: "bob@b.test", Subscription: "to", Show: "away", Status: "lunch"}
	})
	// A device of alice's that comes later is shown bob's presence at
	// once.
	aliceX2 := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	aliceX2.expectPresence("bob away on alice's second device", func(p xmppPresence) bool {
		return p.From == "bob@b.test" && p.Show == "away" && p.Status == "lunch"
	})
	aliceX2.sendPresence("", "unavailable", "", "") // alice's status is her first device's again
	if r := aliceX2.rosterOf(); r["bob@b.test"] != "to" {
		t.Errorf("alice's roster %v", r)
	}
	if r := bobX.rosterOf(); r["alice@a.test"] != "from" {
		t.Errorf("bob's roster %v", r)
	}
	if cs, pending := contactsOf(t, bob, bobNet); cs["alice@a.test"].Subscription != "from" || len(pending) != 0 {
		t.Errorf("bob's contacts %+v pending %v", cs, pending)
	}

	// A domain bob blocked cannot subscribe: carol's request fails back
	// to her, and bob never sees it.
	bobX.block("c.test")
	carolEvents, closeCarol := carol.events("")
	carol.do("POST", fmt.Sprintf("/api/v1/networks/%d/contacts/bob@b.test/subscription", carolNet), map[string]string{"action": "ask"}, 202, nil)
	for {
		ev := nextEvent(t, carolEvents, "subscription")
		if strings.Contains(ev.data, `"kind":"unsubscribed"`) && strings.Contains(ev.data, "does not accept") {
			break
		}
	}
	closeCarol()
	if cs, _ := contactsOf(t, carol, carolNet); cs["bob@b.test"].Asked || cs["bob@b.test"].Subscription != "none" {
		t.Errorf("carol's contacts after the refusal %+v", cs)
	}
	if _, pending := contactsOf(t, bob, bobNet); len(pending) != 0 {
		t.Errorf("bob has pending requests %v from a blocked domain", pending)
	}

	// b stops: alice sees bob offline; b is back: available again.
	b.d.stop()
	aliceX.expectPresence("bob offline", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "unavailable" })
	b.start(t)
	aliceX.expectPresence("bob back", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "" })
	bob = newAPIClient(t, b.addr, b.dir)
	var login struct{ Token string }
	bob.do("POST", "/api/v1/tokens", map[string]string{"username": "bob", "password": "pw-b"}, 201, &login)
	bob.token = login.Token
	bobX = dialXMPP(t, b.d.xmpp[0], "bob", "b.test", "pw-b")

	// bob revokes from XMPP.
	bobX.sendPresence("alice@a.test", "unsubscribed", "", "")
	aliceX.expectPresence("bob's revocation", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "unsubscribed" })
	waitLong(t, "alice no longer follows bob", func() bool {
		cs, _ := contactsOf(t, alice, aliceNet)
		return cs["bob@b.test"].Subscription == "none" && cs["bob@b.test"].Show == "offline"
	})

	// alice asks again, bob allows from XMPP, alice cancels.
	aliceX.sendPresence("bob@b.test", "subscribe", "", "")
	bobX.expectPresence("alice's second request", func(p xmppPresence) bool { return p.From == "alice@a.test" && p.Type == "subscribe" })
	bobX.sendPresence("alice@a.test", "subscribed", "", "")
	aliceX.expectPresence("bob's second approval", func(p xmppPresence) bool { return p.From == "bob@b.test" && p.Type == "subscribed" })
	aliceX.sendPresence("bob@b.test", "unsubscribe", "", "")
	bobX.expectPresence("alice's cancel", func(p xmppPresence) bool { return p.From == "alice@a.test" && p.Type == "unsubscribe" })
	waitLong(t, "bob's list after alice's cancel", func() bool {
		cs, _ := contactsOf(t, bob, bobNet)
		return cs["alice@a.test"].Subscription == "none"
	})
	if cs, _ := contactsOf(t, alice, aliceNet); cs["bob@b.test"].Subscription != "none" {
		t.Errorf("alice's contacts after her cancel %+v", cs)
	}

	// The same domain, in-process: dave@a.test follows alice@a.test.
	dave := loginAPI(t, a.dir, a.addr, "dave", "pw-d")
	daveNet := waitFedNetwork(t, dave)
	daveX := dialXMPP(t, a.d.xmpp[0], "dave", "a.test", "pw-d")
	daveX.sendPresence("alice@a.test", "subscribe", "", "")
	aliceX.expectPresence("dave's request", func(p xmppPresence) bool { return p.From == "dave@a.test" && p.Type == "subscribe" })
	aliceX.sendPresence("dave@a.test", "subscribed", "", "")
	daveX.expectPresence("alice's approval", func(p xmppPresence) bool { return p.From == "alice@a.test" && p.Type == "subscribed" })
	aliceX.sendPresence("", "", "dnd", "writing")
	daveX.expectPresence("alice dnd", func(p xmppPresence) bool {
		return p.From == "alice@a.test" && p.Show == "dnd" && p.Status == "writing"
	})
	if cs, _ := contactsOf(t, dave, daveNet); cs["alice@a.test"].Subscription != "to" {
		t.Errorf("dave's contacts %+v", cs)
	}
	if r := daveX.rosterOf(); r["alice@a.test"] != "to" {
		t.Errorf("dave's roster %v", r)
	}

	c.d.stop("federation event failed") // carol's refused request
	b.d.stop()
	a.d.stop()
}
