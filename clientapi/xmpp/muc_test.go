package xmpp

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

const roomOccupant = roomJID + "/alice"

// roomStanza reads the next stanza about the room, skipping the network's
// own presence and anything else not from the room.
func roomStanza(c *rawClient) *element {
	c.t.Helper()
	return c.expect("a stanza from "+roomJID, func(e *element) bool {
		from := e.attr("from")
		return from == roomJID || strings.HasPrefix(from, roomJID+"/")
	})
}

func statusCodes(p *element) []string {
	var out []string
	if x := p.child(nsMUCUser, "x"); x != nil {
		for _, c := range x.Children {
			if c.Name.Local == "status" {
				out = append(out, c.attr("code"))
			}
		}
	}
	return out
}

func hasCode(p *element, code string) bool { return containsCode(statusCodes(p), code) }

// storeRoomHistory puts n messages into #go's archive, as the network
// would have before any device joined.
func storeRoomHistory(t *testing.T, p *testPort, n int) {
	for i := range n {
		m := p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "carol", fmt.Sprintf("history %d", i))
		m.Message.Time = time.Now().Add(-time.Hour + time.Duration(i)*time.Minute)
		p.receive(t, m)
	}
}

// TestMUCJoinOrderAndLiveRoom: joining a channel the network is not in
// yet joins it there, then gives what XEP-0045 §7.2 orders: the other
// occupants with roles from channel modes, the device's own presence
// (110), the asked-for history with delays, the subject. Then the room is
// live: messages, joins, nick changes, a reflected message of its own;
// and leaving stops it for this device only.
func TestMUCJoinOrderAndLiveRoom(t *testing.T) {
	p := startPort(t)
	storeRoomHistory(t, p, 3)
	c := loginRaw(t, p, "desktop")
	c.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'><history maxstanzas='2'/></x></presence>")

	var others []string
	var self *element
	for self == nil {
		e := roomStanza(c)
		if e.Name.Local != "presence" {
			t.Fatalf("before its own presence the device got %v", e)
		}
		if hasCode(e, mucSelf) {
			self = e
			break
		}
		others = append(others, e.attr("from"))
		if e.attr("from") == roomJID+"/bob" {
			if item := e.child(nsMUCUser, "x").child(nsMUCUser, "item"); item.attr("role") != "moderator" || item.attr("jid") != "bob@libera."+testDomain {
				t.Errorf("bob, a channel operator, shown as %v", e)
			}
		}
	}
	if strings.Join(others, " ") != roomJID+"/bob "+roomJID+"/carol" {
		t.Errorf("occupants before self: %v", others)
	}
	if self.attr("from") != roomOccupant || !hasCode(self, mucNonAnonymous) {
		t.Errorf("self presence %v", self)
	}
	for i := 1; i <= 2; i++ {
		h := roomStanza(c)
		if h.attr("type") != "groupchat" || h.childText(nsClient, "body") != fmt.Sprintf("history %d", i) ||
			h.attr("from") != roomJID+"/carol" || h.child(nsDelay, "delay") == nil {
			t.Fatalf("history message %d: %v", i, h)
		}
	}
	subject := roomStanza(c)
	if subject.child(nsClient, "subject") == nil || subject.childText(nsClient, "subject") != "Go talk" {
		t.Fatalf("after the history came %v, want the subject", subject)
	}

	p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "dave", "hello room"))
	if m := roomStanza(c); m.attr("from") != roomJID+"/dave" || m.childText(nsClient, "body") != "hello room" || m.child(nsDelay, "delay") != nil ||
		m.child(nsSID, "stanza-id").attr("by") != roomJID {
		t.Errorf("live message %v (its stanza-id must be the room archive's)", m)
	}
	p.receive(t, core.MembershipEvent{Room: "#go", Change: core.MemberJoined, Member: core.Member{Nick: "erin"}})
	if e := roomStanza(c); e.Name.Local != "presence" || e.attr("from") != roomJID+"/erin" || e.attr("type") != "" {
		t.Errorf("erin's join shown as %v", e)
	}
	p.receive(t, core.MembershipEvent{Room: "#go", Change: core.MemberUpdated, Member: core.Member{Nick: "erin_"}, PreviousNick: "erin"})
	gone := roomStanza(c)
	if gone.attr("type") != "unavailable" || !hasCode(gone, mucNewNick) || gone.child(nsMUCUser, "x").child(nsMUCUser, "item").attr("nick") != "erin_" {
		t.Errorf("nick change shown as %v", gone)
	}
	if back := roomStanza(c); back.attr("from") != roomJID+"/erin_" || back.attr("type") != "" {
		t.Errorf("after the nick change came %v", back)
	}

	c.send("<message to='" + roomJID + "' type='groupchat' id='g1'><body>hi all</body></message>")
	echo := roomStanza(c)
	if echo.attr("id") != "g1" || echo.attr("from") != roomOccupant || echo.childText(nsClient, "body") != "hi all" {
		t.Errorf("the reflection of the device's own message: %v", echo)
	}
	select {
	case m := <-p.sent:
		if m.Peer.Remote != "#go" || m.Body != "hi all" {
			t.Errorf("the network got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the room message never reached the network")
	}

	// XEP-0410: the device is in the room under its nick.
	c.send("<iq type='get' id='sp1' to='" + roomOccupant + "'><ping xmlns='" + nsPing + "'/></iq>")
	if r := c.expect("the self-ping answer", func(e *element) bool { return e.attr("id") == "sp1" }); r.attr("type") != "result" {
		t.Errorf("a self-ping while joined answered %v", r)
	}
	c.send("<presence to='" + roomOccupant + "' type='unavailable'/>")
	if left := roomStanza(c); left.attr("type") != "unavailable" || !hasCode(left, mucSelf) {
		t.Errorf("leaving answered %v", left)
	}
	if _, ok := p.hub.Room(p.user.ID, p.network.ID, "#go"); !ok {
		t.Error("a device leaving the MUC parted the channel for everyone")
	}
	c.send("<iq type='get' id='sp2' to='" + roomOccupant + "'><ping xmlns='" + nsPing + "'/></iq>")
	if r := c.expect("the self-ping answer", func(e *element) bool { return e.attr("id") == "sp2" }); r.attr("type") != "error" ||
		r.child(nsClient, "error").child(nsStanzas, "not-acceptable") == nil {
		t.Errorf("a self-ping after leaving answered %v, want not-acceptable", r)
	}
	c.send("<message to='" + roomJID + "' type='groupchat' id='g2'><body>still here?</body></message>")
	if e := roomStanza(c); e.attr("type") != "error" || e.child(nsClient, "error").child(nsStanzas, "not-acceptable") == nil {
		t.Errorf("writing to a room the device left answered %v", e)
	}
}

// TestMUCSecondDeviceJoinsWithoutRejoining: a device joining a channel
// the network is already in gets the current occupants, nick and topic
// from the Hub, and the network is not asked to join again.
func TestMUCSecondDeviceJoinsWithoutRejoining(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "desktop")
	first.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	first.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })
	b := <-p.bridge
	p.bridge <- b

	phone := loginRaw(t, p, "phone")
	phone.send("<presence to='" + roomJID + "/phonenick'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>")
	self := phone.expect("own presence", func(e *element) bool { return hasCode(e, mucSelf) })
	if self.attr("from") != roomOccupant || !hasCode(self, mucNickAssigned) {
		t.Errorf("a device asking for another nick got %v; want the network's nick with status 210", self)
	}
	if s := roomStanza(phone); s.childText(nsClient, "subject") != "Go talk" {
		t.Errorf("with no history asked for, the subject should follow at once; got %v", s)
	}
	if n := b.joins.Load(); n != 1 {
		t.Errorf("the network was asked to join %d times, want 1", n)
	}
}

// TestMUCJoinDuringBusyRoom: a device joining a channel the network is
// in while its messages flow gets the join's presences first, then one
// unbroken run of messages (history, then live) with none lost and none
// repeated, however the join and the network's messages interleave.
func TestMUCJoinDuringBusyRoom(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "desktop")
	first.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	first.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })

	const total = 400
	flood := make(chan error, 1)
	go func() {
		b := <-p.bridge
		p.bridge <- b
		for i := range total {
			m := p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "carol", fmt.Sprintf("line %d", i))
			if err := b.env.Inbound.Receive(context.Background(), m); err != nil {
				flood <- err
				return
			}
			if i == 50 {
				flood <- nil // the room is busy: join now
			}
		}
	}()
	if err := <-flood; err != nil {
		t.Fatal(err)
	}
	phone := loginRaw(t, p, "phone")
	phone.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	for {
		e := roomStanza(phone)
		if e.Name.Local != "presence" {
			t.Fatalf("before its own presence the device got %v", e)
		}
		if hasCode(e, mucSelf) {
			break
		}
	}
	next, subject := -1, false
	for next != total {
		e := roomStanza(phone)
		if e.child(nsClient, "subject") != nil {
			subject = true
			continue
		}
		var n int
		if _, err := fmt.Sscanf(e.childText(nsClient, "body"), "line %d", &n); err != nil {
			t.Fatalf("a room stanza that is not one of the lines: %v", e)
		}
		if next >= 0 && n != next {
			t.Fatalf("after line %d came line %d", next-1, n)
		}
		if subject == (e.child(nsDelay, "delay") != nil) {
			t.Fatalf("line %d: history must come before the subject, live messages after it: %v", n, e)
		}
		next = n + 1
	}
}

// TestMUCRefusedJoinAndPrivateMessages: a join the network refuses comes
// back as a presence error; a private message to an occupant is a direct
// message to that nick; a room shows as a MUC in service discovery.
func TestMUCRefusedJoinAndPrivateMessages(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	banned := "#banned@libera." + testDomain
	c.send("<presence to='" + banned + "/alice'><x xmlns='" + nsMUC + "'/></presence>")
	e := c.expect("the refusal", func(e *element) bool { return strings.HasPrefix(e.attr("from"), banned) })
	if e.attr("type") != "error" || e.child(nsClient, "error").child(nsStanzas, "not-allowed") == nil ||
		!strings.Contains(e.child(nsClient, "error").childText(nsStanzas, "text"), "banned") {
		t.Errorf("a refused join answered %v", e)
	}

	c.send("<message to='" + roomJID + "/bob' type='chat' id='pm1'><body>psst</body></message>")
	select {
	case m := <-p.sent:
		if m.Peer.Kind != core.Direct || m.Peer.Remote != "bob" || m.Body != "psst" {
			t.Errorf("a private message to an occupant went out as %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the private message never reached the network")
	}

	c.send("<iq type='get' id='d1' to='" + roomJID + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
	info := c.expect("disco#info", func(e *element) bool { return e.attr("id") == "d1" })
	var conference, muc bool
	for _, ch := range info.child(nsDiscoInfo, "query").Children {
		conference = conference || (ch.Name.Local == "identity" && ch.attr("category") == "conference")
		muc = muc || (ch.Name.Local == "feature" && ch.attr("var") == nsMUC)
	}
	if !conference || !muc {
		t.Errorf("a room's disco#info: %v", info)
	}

	c.send("<presence to='" + roomJID + "'/>")
	if e := c.expect("an error", func(e *element) bool { return e.attr("from") == roomJID }); e.attr("type") != "error" {
		t.Errorf("a join without a nick answered %v", e)
	}
}

// TestSlixmppJoinsRoom: slixmpp, a real client, joins a channel, gets the
// occupants, its own presence with status 110, history and subject, then
// a live message.
func TestSlixmppJoinsRoom(t *testing.T) {
	p := startPort(t)
	storeRoomHistory(t, p, 2)
	c := p.slix(t, "laptop", false)
	c.Expect(t, slixWait, slixEv("session_start"))
	c.Do(t, map[string]any{"cmd": "join", "room": roomJID, "nick": "alice", "history": 5})
	c.Expect(t, slixWait, func(ev map[string]any) bool {
		return ev["event"] == "presence" && ev["from"] == roomJID+"/bob" && strings.Contains(ev["xml"].(string), "moderator")
	})
	c.Expect(t, slixWait, func(ev map[string]any) bool {
		return ev["event"] == "presence" && ev["from"] == roomOccupant && strings.Contains(ev["xml"].(string), "code=\"110\"")
	})
	h := c.Expect(t, slixWait, slixEv("message", "body", "history 1"))
	if h["from"] != roomJID+"/carol" || h["delay"] == nil || h["type"] != "groupchat" {
		t.Errorf("history arrived as %v", h)
	}
	c.Expect(t, slixWait, slixEv("message", "subject", "Go talk"))
	p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "dave", "live now"))
	if m := c.Expect(t, slixWait, slixEv("message", "body", "live now")); m["from"] != roomJID+"/dave" {
		t.Errorf("live room message %v", m)
	}
}

// TestMUCBigMemberListKeepsTheStream: a rejoin's member list of a big
// channel is one Hub event but thousands of presences; the device gets
// them all and its stream stays up (the port writes as it goes rather
// than queueing past its limit).
func TestMUCBigMemberListKeepsTheStream(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	c.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>")
	c.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })
	const n = 3000
	members := make([]core.Member, 0, n+1)
	members = append(members, core.Member{Nick: "alice"})
	for i := range n {
		members = append(members, core.Member{Nick: fmt.Sprintf("user%d", i)})
	}
	p.receive(t, core.RoomMembersEvent{Room: "#go", Members: members})
	seen := 0
	for seen < n {
		e := c.next()
		if e == nil {
			t.Fatalf("the stream ended after %d of %d occupants", seen, n)
		}
		if e.Name.Local == "presence" && strings.HasPrefix(e.attr("from"), roomJID+"/user") {
			seen++
		}
	}
	c.send("<iq type='get' id='alive'><ping xmlns='" + nsPing + "'/></iq>")
	c.expect("a ping answer", func(e *element) bool { return e.attr("id") == "alive" })
}

// A room message is rendered once without a 'to'; each device's link
// writes its own opening in front of it.
func TestAddressedTo(t *testing.T) {
	tmpl := []byte("<message from='#go@irc.example.org/bob' type='groupchat'><body>hi</body></message>")
	r := addressedTo(tmpl, messageOpening("alice@example.org/it's"))
	got := string(r.head) + string(r.body)
	want := "<message to='alice@example.org/it&apos;s' from='#go@irc.example.org/bob' type='groupchat'><body>hi</body></message>"
	if got != want {
		t.Fatalf("addressed:\n got %s\nwant %s", got, want)
	}
	if &r.body[0] != &tmpl[len(messageTemplate)] {
		t.Error("the rendering was copied; it should be shared by every device")
	}
	other := []byte("<presence/>")
	if r := addressedTo(other, messageOpening("a@b/c")); r.head != nil || string(r.body) != "<presence/>" {
		t.Errorf("a rendering that is no message: %q %q, want it unchanged", r.head, r.body)
	}
}

// TestReactionInIRCRoomRefused: an IRC channel carries no reactions, so
// a device's reaction there is refused at once and nothing is stored or
// sent (an XMPP group chat's is carried: TestXMPPRoomEndToEnd).
func TestReactionInIRCRoomRefused(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	joinRoomRaw(t, c)
	p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "bob", "react to me"))
	line := roomStanza(c)
	id := line.child(nsSID, "stanza-id").attr("id")
	c.send("<message to='" + roomJID + "' type='groupchat' id='r1'><reactions xmlns='urn:xmpp:reactions:0' id='" + id + "'><reaction>👍</reaction></reactions></message>")
	e := c.expect("the refusal", func(e *element) bool { return e.attr("id") == "r1" })
	if e.attr("type") != "error" || e.child(nsClient, "error").child(nsStanzas, "feature-not-implemented") == nil {
		t.Fatalf("a reaction in an IRC channel answered %v", e)
	}
	conv, err := p.st.Conversations(t.Context(), p.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, cv := range conv {
		page, err := p.st.Messages(t.Context(), core.PageQuery{User: p.user.ID, Conversation: cv.ID, Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page {
			if m.Kind == core.KindReaction {
				t.Errorf("stored %+v", m)
			}
		}
	}
}

// TestInvitationsShown: the user's invitation to a channel reaches the
// device as a direct invitation (XEP-0249) to the room's address here,
// which clients offer to join, with the reason and a body for clients
// without it; someone else's invitation into a room the device is in
// shows there as the inviter's line.
func TestInvitationsShown(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	invite := p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "#secret come and see")
	invite.Message.Kind = core.KindInvite
	p.receive(t, invite)
	m := c.expect("the invitation", func(e *element) bool { return e.child(nsConference, "x") != nil })
	x := m.child(nsConference, "x")
	if m.attr("from") != "bob@libera."+testDomain || x.attr("jid") != "#secret@libera."+testDomain || x.attr("reason") != "come and see" ||
		body(m) != "bob invites you to #secret@libera."+testDomain+": come and see" {
		t.Errorf("the invitation came as %v", m)
	}

	joinRoomRaw(t, c)
	notify := p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "bob", "carol")
	notify.Message.Kind = core.KindInvite
	p.receive(t, notify)
	if line := roomStanza(c); line.attr("from") != roomJID+"/bob" || body(line) != "/me invited carol" {
		t.Errorf("bob's invitation of carol showed in the room as %v", line)
	}
}

// TestInvitationsSent: a direct invitation (XEP-0249) to a contact and a
// mediated one (XEP-0045 §7.8.2) through the room both reach the room's
// network as an invitation of the contact; a direct one naming no room
// is refused.
func TestInvitationsSent(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	invited := func(want string) {
		t.Helper()
		select {
		case got := <-p.invites:
			if got != want {
				t.Errorf("the network was asked %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the network was never asked %q", want)
		}
	}
	c.send("<message to='bob@libera." + testDomain + "' id='d1'><x xmlns='jabber:x:conference' jid='" + roomJID + "' reason='join us'/></message>")
	invited("#go bob join us")
	c.send("<message to='" + roomJID + "' id='m1'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='carol@libera." + testDomain + "'><reason>and you</reason></invite></x></message>")
	invited("#go carol and you")
	c.send("<message to='bob@libera." + testDomain + "' id='d2'><x xmlns='jabber:x:conference' jid='carol@libera." + testDomain + "'/></message>")
	if e := c.expect("the refusal", func(e *element) bool { return e.attr("id") == "d2" }); e.attr("type") != "error" ||
		e.child(nsClient, "error").child(nsStanzas, "bad-request") == nil {
		t.Errorf("a direct invitation to a contact, not a room, answered %v", e)
	}
}
