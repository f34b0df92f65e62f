package main

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// sendStanza sends one stanza.
func (c *xmppClient) sendStanza(st xml.TokenReader) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Send(ctx, st); err != nil {
		c.t.Fatal(err)
	}
}

// elem is an element with attributes (name=value pairs) around inner.
func elem(space, local string, inner xml.TokenReader, attrs ...string) xml.TokenReader {
	start := xml.StartElement{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		start.Attr = append(start.Attr, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
	}
	return xmlstream.Wrap(inner, start)
}

// joinRoom joins a room by MUC presence and waits for the subject, which
// ends the join (XEP-0045 §7.2).
func (c *xmppClient) joinRoom(room, nick string) {
	c.t.Helper()
	c.joinMUC(room + "/" + nick) // rooms_e2e_test.go
	c.expectAny(func(m xmppMessage) bool { return m.From == room && m.Type == "groupchat" && m.Body == "" })
}

// sayInRoom sends a groupchat message to room.
func (c *xmppClient) sayInRoom(room, body string) {
	c.t.Helper()
	c.sendStanza(stanza.Message{To: jid.MustParse(room), Type: stanza.GroupChatMessage}.Wrap(
		elem("", "body", xmlstream.Token(xml.CharData(body)))))
}

// heardInRoom waits for a room message of body from the occupant sender.
func (c *xmppClient) heardInRoom(room, sender, body string) {
	c.t.Helper()
	m := c.expect(func(m xmppMessage) bool { return m.Type == "groupchat" && m.Body == body })
	if m.From != room+"/"+sender {
		c.t.Fatalf("%q came from %q, want %s/%s", body, m.From, room, sender)
	}
}

// leaveRoom parts the room for all the user's devices: the bookmark's
// autojoin turned off (XEP-0402), as a client's "leave" does.
func (c *xmppClient) leaveRoom(room string) {
	c.t.Helper()
	conference := elem("urn:xmpp:bookmarks:1", "conference", nil, "autojoin", "false")
	publish := elem("", "publish", elem("", "item", conference, "id", room), "node", "urn:xmpp:bookmarks:1")
	c.sendStanza(stanza.IQ{Type: stanza.SetIQ, ID: "leave-1"}.Wrap(elem("http://jabber.org/protocol/pubsub", "pubsub", publish)))
}

const nsMUCUser = "http://jabber.org/protocol/muc#user"

// homeLogged reports whether the node logged msg about member.
func homeLogged(n *fedNode, msg, member string) bool {
	for _, line := range strings.Split(n.d.logText(), "\n") {
		if strings.Contains(line, `msg="`+msg+`"`) && strings.Contains(line, "member="+member) {
			return true
		}
	}
	return false
}

// roomHistory is the user's stored history of a room: "in:body" or
// "out:body", oldest first.
func roomHistory(t *testing.T, api *apiClient, room string) []string {
	return bodiesOf(conversationWith(t, api, room))
}

// TestFedRoomThreeServers: a room hosted on a.test with members on b.test
// and c.test, joined from real XMPP clients by MUC presence. Messages
// from each server reach the others' clients and every member's history;
// a non-member cannot post; a member whose server was down gets what was
// said meanwhile exactly once, in order; a member who left gets nothing
// more.
func TestFedRoomThreeServers(t *testing.T) {
	nodes := fedNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	for _, n := range nodes {
		n.start(t)
	}
	alice := loginAPI(t, a.dir, a.addr, "alice", "pw-a")
	bob := loginAPI(t, b.dir, b.addr, "bob", "pw-b")
	carol := loginAPI(t, c.dir, c.addr, "carol", "pw-c")
	dave := loginAPI(t, c.dir, c.addr, "dave", "pw-d")
	for _, api := range []*apiClient{alice, bob, dave} {
		waitFedNetwork(t, api)
	}
	carolFed, daveFed := waitFedNetwork(t, carol), waitFedNetwork(t, dave)
	const room = "#lobby@a.test"
	aliceX := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	bobX := dialXMPP(t, b.d.xmpp[0], "bob", "b.test", "pw-b")
	carolX := dialXMPP(t, c.d.xmpp[0], "carol", "c.test", "pw-c")
	aliceX.joinRoom(room, "alice") // creates it on a
	bobX.joinRoom(room, "bob")
	carolX.joinRoom(room, "carol")

	aliceX.sayInRoom(room, "hello from a")
	bobX.heardInRoom(room, "alice@a.test", "hello from a")
	carolX.heardInRoom(room, "alice@a.test", "hello from a")
	bobX.sayInRoom(room, "hello from b")
	aliceX.heardInRoom(room, "bob@b.test", "hello from b")
	carolX.heardInRoom(room, "bob@b.test", "hello from b")
	// carol writes through the HTTP API, by the room's address.
	carol.do("POST", fmt.Sprintf("/api/v1/networks/%d/messages", carolFed),
		map[string]string{"to": room, "body": "hello from c"}, 201, nil)
	aliceX.heardInRoom(room, "carol@c.test", "hello from c")
	bobX.heardInRoom(room, "carol@c.test", "hello from c")

	said := []string{"hello from a", "hello from b", "hello from c"}
	historyOf := func(self int, extra ...string) []string {
		var out []string
		for i, s := range append(said, extra...) {
			dir := "in:"
			if i == self {
				dir = "out:"
			}
			out = append(out, dir+s)
		}
		return out
	}
	for i, api := range []*apiClient{alice, bob, carol} {
		want := historyOf(i)
		waitLong(t, "the room's history", func() bool { return fmt.Sprint(roomHistory(t, api, room)) == fmt.Sprint(want) })
	}

	// dave of c.test never joined: the home refuses what he posts.
	daveEvents, closeDave := dave.events("")
	dave.do("POST", fmt.Sprintf("/api/v1/networks/%d/messages", daveFed),
		map[string]string{"to": room, "body": "let me in"}, 201, nil)
	if ev := nextEvent(t, daveEvents, "send_failed"); !strings.Contains(ev.data, "not a member") {
		t.Errorf("dave's send failed with %s", ev.data)
	}
	closeDave()

	// c goes down; alice says three things; c comes back.
	c.d.stop("not a member of the room") // dave's message
	var away []string
	for i := 1; i <= 3; i++ {
		away = append(away, fmt.Sprintf("while c was away %d", i))
		aliceX.sayInRoom(room, away[i-1])
		bobX.heardInRoom(room, "alice@a.test", away[i-1])
	}
	waitLong(t, "a retries c", func() bool { return strings.Contains(a.d.logText(), "federation delivery failed; will retry") })
	c.start(t)
	want := historyOf(2, away...)
	waitLong(t, "carol's history after c returned", func() bool { return len(roomHistory(t, carol, room)) >= len(want) })
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
	if got := roomHistory(t, carol, room); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("carol's history:\n%q\nwant\n%q", got, want)
	}

	// carol's new client joins the room her restarted server is in.
	carolX = dialXMPP(t, c.d.xmpp[0], "carol", "c.test", "pw-c")
	carolX.joinRoom(room, "carol")

	// bob leaves; what is said after reaches carol, not bob.
	bobX.leaveRoom(room)
	waitLong(t, "a took bob's leave", func() bool { return homeLogged(a, "a member left a room", "bob@b.test") })
	aliceX.sayInRoom(room, "after bob left")
	waitLong(t, "carol hears it", func() bool { return len(roomHistory(t, carol, room)) == len(want)+1 })
	time.Sleep(500 * time.Millisecond)
	if got := roomHistory(t, bob, room); len(got) != len(historyOf(1, away...)) {
		t.Fatalf("bob's history after he left: %q", got)
	}

	// alice invites bob back (XEP-0045 mediated invitation).
	aliceX.sendStanza(stanza.Message{To: jid.MustParse(room)}.Wrap(elem(nsMUCUser, "x",
		elem(nsMUCUser, "invite", elem(nsMUCUser, "reason", xmlstream.Token(xml.CharData("come back"))), "to", "bob@b.test"))))
	// bob's client gets it from her as a direct invitation (XEP-0249),
	// which it offers to accept.
	if m := bobX.expect(func(m xmppMessage) bool { return m.Invite.JID != "" }); m.From != "alice@a.test" ||
		m.Invite.JID != "#lobby@a.test" || m.Invite.Reason != "come back" || m.Body != "alice invites you to #lobby@a.test: come back" {
		t.Errorf("bob's invitation: %+v", m)
	}

	// erin, a user of the home itself, joins through the HTTP API: her
	// server fetches the room's history for her, and what she posts
	// reaches the others.
	erin := loginAPI(t, a.dir, a.addr, "erin", "pw-e")
	erinFed := waitFedNetwork(t, erin)
	roomPath := fmt.Sprintf("/api/v1/networks/%d/rooms/%s", erinFed, url.PathEscape(room))
	erin.do("PUT", fmt.Sprintf("/api/v1/networks/%d/rooms/%s", erinFed, url.PathEscape("bob@b.test")), nil, 400, nil)
	erin.do("PUT", fmt.Sprintf("/api/v1/networks/%d/rooms/%s", erinFed, url.PathEscape("#nowhere@b.test")), nil, 422, nil)
	erin.do("PUT", roomPath, nil, 204, nil)
	var backfill []string
	for _, s := range append(append(said, away...), "after bob left") {
		backfill = append(backfill, "in:"+s)
	}
	waitLong(t, "erin's history of the room", func() bool { return fmt.Sprint(roomHistory(t, erin, room)) == fmt.Sprint(backfill) })
	erin.do("POST", fmt.Sprintf("/api/v1/networks/%d/messages", erinFed), map[string]string{"to": room, "body": "hello from erin"}, 201, nil)
	aliceX.heardInRoom(room, "erin@a.test", "hello from erin")
	carolX.heardInRoom(room, "erin@a.test", "hello from erin")
	waitLong(t, "carol hears erin", func() bool { return len(roomHistory(t, carol, room)) == len(want)+2 })
	erin.do("DELETE", roomPath, nil, 204, nil)
	waitLong(t, "a took erin's leave", func() bool { return homeLogged(a, "a member left a room", "erin@a.test") })
}
