package xmpp

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestBookmarksListJoinedChannels: once the network is in a channel, a
// fresh device finds it among its bookmarks, marked autojoin, in every
// form clients read (XEP-0402, XEP-0048 in PEP and in private storage),
// beside what the client stored itself.
func TestBookmarksListJoinedChannels(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "desktop")
	first.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	first.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })
	own := "#own@libera." + testDomain
	first.send("<iq type='set' id='p1'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsBookmarks + "'><item id='" + own +
		"'><conference xmlns='" + nsBookmarks + "' name='mine'/></item></publish></pubsub></iq>")
	if r := first.expect("publish result", func(e *element) bool { return e.attr("id") == "p1" }); r.attr("type") != "result" {
		t.Fatalf("publishing a bookmark: %v", r)
	}

	fresh := loginRaw(t, p, "phone")
	fresh.send("<iq type='get' id='b1'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsBookmarks + "'/></pubsub></iq>")
	res := fresh.expect("bookmarks", func(e *element) bool { return e.attr("id") == "b1" })
	items := map[string]*element{}
	if ps := res.child(nsPubSub, "pubsub"); ps != nil && ps.child(nsPubSub, "items") != nil {
		for _, it := range ps.child(nsPubSub, "items").Children {
			items[it.attr("id")] = it.child(nsBookmarks, "conference")
		}
	}
	if c := items[roomJID]; c == nil || c.attr("autojoin") != "true" || c.childText(nsBookmarks, "nick") != "alice" {
		t.Errorf("the joined channel's bookmark: %v (answer %v)", c, res)
	}
	if c := items[own]; c == nil || c.attr("name") != "mine" {
		t.Errorf("the client's own bookmark is missing: %v", res)
	}

	fresh.send("<iq type='get' id='b2'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsBookmarksLegacy + "'/></pubsub></iq>")
	legacy := fresh.expect("legacy bookmarks", func(e *element) bool { return e.attr("id") == "b2" })
	if !strings.Contains(legacy.String(), "jid='"+roomJID+"'") || !strings.Contains(legacy.String(), "autojoin='true'") {
		t.Errorf("XEP-0048 bookmarks in PEP: %v", legacy)
	}
	fresh.send("<iq type='get' id='b3'><query xmlns='" + nsPrivate + "'><storage xmlns='" + nsBookmarksLegacy + "'/></query></iq>")
	private := fresh.expect("private bookmarks", func(e *element) bool { return e.attr("id") == "b3" })
	if private.attr("type") != "result" || !strings.Contains(private.String(), "jid='"+roomJID+"'") {
		t.Errorf("XEP-0048 bookmarks in private storage: %v", private)
	}
}

// TestBookmarkRemovalPartsChannel: retracting a channel's bookmark, or
// turning its autojoin off, parts the channel for every device (the
// other device is told it left); a bookmark of a room no network is in
// is only the client's.
func TestBookmarkRemovalPartsChannel(t *testing.T) {
	for _, tc := range []struct{ name, change string }{
		{"retract", "<retract node='" + nsBookmarks + "' notify='true'><item id='" + roomJID + "'/></retract>"},
		{"autojoin off", "<publish node='" + nsBookmarks + "'><item id='" + roomJID + "'><conference xmlns='" + nsBookmarks +
			"' autojoin='false' name='go'/></item></publish>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startPort(t)
			desktop := loginRaw(t, p, "desktop")
			desktop.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
			desktop.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })
			phone := loginRaw(t, p, "phone")
			phone.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
			phone.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })

			phone.send("<iq type='set' id='c1'><pubsub xmlns='" + nsPubSub + "'>" + tc.change + "</pubsub></iq>")
			if r := phone.expect("the answer", func(e *element) bool { return e.attr("id") == "c1" }); r.attr("type") != "result" {
				t.Fatalf("changing the channel's bookmark answered %v", r)
			}
			if _, ok := p.hub.Room(p.user.ID, p.network.ID, "#go"); ok {
				t.Error("the channel is still joined on the network")
			}
			left := desktop.expect("the desktop's departure", func(e *element) bool {
				return e.Name.Local == "presence" && e.attr("from") == roomOccupant
			})
			if left.attr("type") != "unavailable" || !hasCode(left, mucSelf) {
				t.Errorf("the other device was told %v", left)
			}
		})
	}
	t.Run("not a joined channel", func(t *testing.T) {
		p := startPort(t)
		c := loginRaw(t, p, "desktop")
		c.send("<iq type='set' id='r1'><pubsub xmlns='" + nsPubSub + "'><retract node='" + nsBookmarks + "'><item id='#other@libera." +
			testDomain + "'/></retract></pubsub></iq>")
		if r := c.expect("the answer", func(e *element) bool { return e.attr("id") == "r1" }); r.attr("type") != "error" ||
			r.child(nsClient, "error").child(nsStanzas, "item-not-found") == nil {
			t.Errorf("retracting a bookmark that does not exist answered %v", r)
		}
	})
}

// TestProfanityAutojoinsBookmarkedChannel: profanity, a real client,
// reads its bookmarks on connect and joins the channel the network is in
// without being told, then shows the channel's messages.
func TestProfanityAutojoinsBookmarkedChannel(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "desktop")
	first.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	first.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })

	prof := startProfanity(t, profanityOpts{JID: "alice@" + testDomain, Password: p.password, Port: portOf(t, p.addr)})
	prof.Login(t)
	deadline := time.Now().Add(slixWait)
	for !profanityInRoom(p) {
		if time.Now().After(deadline) {
			t.Fatalf("profanity did not join %s from its bookmarks; screen:\n%s", roomJID, prof.Screen(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "dave", "welcome back, autojoined"))
	prof.Type(t, "/win 2")
	prof.WaitFor(t, slixWait, "welcome back, autojoined")
}

// profanityInRoom reports whether a session other than the raw client's
// "desktop" is an occupant of #go.
func profanityInRoom(p *testPort) bool {
	for _, s := range p.srv.userSessions(p.user.ID) {
		if s.resource != "desktop" && s.muc.joined(roomJID) {
			return true
		}
	}
	return false
}

// TestBookmarksCompat: XEP-0402 §5. Bookmarks a client saves in the old
// private-storage form become XEP-0402 items (and a URL bookmark stays
// in the old form); one saved as an XEP-0402 item shows in the old
// forms; a room dropped from the old form is retracted from the new.
func TestBookmarksCompat(t *testing.T) {
	p := startPort(t)
	gajim := loginRaw(t, p, "gajim")
	conversations := loginRaw(t, p, "conversations")
	conversations.send("<presence/>") // PEP events go to available devices

	gajim.send("<iq type='get' id='d1' to='alice@" + testDomain + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
	if info := gajim.expect("account disco", func(e *element) bool { return e.attr("id") == "d1" }).String(); !strings.Contains(info, "var='"+nsBookmarksCompat+"'") {
		t.Errorf("the account does not advertise %s: %s", nsBookmarksCompat, info)
	}

	room1, room2 := "#one@libera."+testDomain, "#two@libera."+testDomain
	gajim.send("<iq type='set' id='s1'><query xmlns='" + nsPrivate + "'><storage xmlns='" + nsBookmarksLegacy + "'>" +
		"<conference jid='" + room1 + "' name='One' autojoin='true'><nick>al</nick></conference>" +
		"<conference jid='" + room2 + "' name='Two'/>" +
		"<url name='docs' url='https://example.org/docs'/></storage></query></iq>")
	if r := gajim.expect("the store result", func(e *element) bool { return e.attr("id") == "s1" }); r.attr("type") != "result" {
		t.Fatalf("storing old-form bookmarks: %v", r)
	}
	bookmarks := func(c *rawClient, id string) map[string]*element {
		c.send("<iq type='get' id='" + id + "'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsBookmarks + "'/></pubsub></iq>")
		res := c.expect("the bookmarks", func(e *element) bool { return e.attr("id") == id })
		out := map[string]*element{}
		if ps := res.child(nsPubSub, "pubsub"); ps != nil && ps.child(nsPubSub, "items") != nil {
			for _, it := range ps.child(nsPubSub, "items").Children {
				out[it.attr("id")] = it.child(nsBookmarks, "conference")
			}
		}
		return out
	}
	got := bookmarks(conversations, "b1")
	if c := got[room1]; c == nil || c.attr("name") != "One" || c.attr("autojoin") != "true" || c.childText(nsBookmarks, "nick") != "al" {
		t.Errorf("#one as an XEP-0402 item: %v", c)
	}
	if c := got[room2]; c == nil || c.attr("autojoin") != "false" {
		t.Errorf("#two as an XEP-0402 item: %v", c)
	}

	// A bookmark saved the new way shows in both old forms.
	room3 := "#three@libera." + testDomain
	conversations.send("<iq type='set' id='p1'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsBookmarks + "'><item id='" + room3 +
		"'><conference xmlns='" + nsBookmarks + "' name='Three' autojoin='true'/></item></publish></pubsub></iq>")
	conversations.expect("the publish result", func(e *element) bool { return e.attr("id") == "p1" && e.attr("type") == "result" })
	gajim.send("<iq type='get' id='g1'><query xmlns='" + nsPrivate + "'><storage xmlns='" + nsBookmarksLegacy + "'/></query></iq>")
	private := gajim.expect("the old form", func(e *element) bool { return e.attr("id") == "g1" }).String()
	for _, want := range []string{"jid='" + room1 + "'", "jid='" + room2 + "'", "jid='" + room3 + "'", "url='https://example.org/docs'", "<nick>al</nick>"} {
		if !strings.Contains(private, want) {
			t.Errorf("private storage lacks %s: %s", want, private)
		}
	}
	gajim.send("<iq type='get' id='g2'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsBookmarksLegacy + "'/></pubsub></iq>")
	if pep := gajim.expect("the old PEP form", func(e *element) bool { return e.attr("id") == "g2" }).String(); !strings.Contains(pep, "jid='"+room3+"'") {
		t.Errorf("the storage:bookmarks node lacks #three: %s", pep)
	}

	// The old form rewritten without #two: its item goes.
	gajim.send("<iq type='set' id='s2'><query xmlns='" + nsPrivate + "'><storage xmlns='" + nsBookmarksLegacy + "'>" +
		"<conference jid='" + room1 + "' name='One' autojoin='true'><nick>al</nick></conference>" +
		"<conference jid='" + room3 + "' name='Three' autojoin='true'/></storage></query></iq>")
	gajim.expect("the store result", func(e *element) bool { return e.attr("id") == "s2" && e.attr("type") == "result" })
	conversations.expect("the retraction's notification", func(e *element) bool {
		ev := e.child(nsPubSubEvent, "event")
		return ev != nil && strings.Contains(ev.String(), "retract id='"+room2+"'")
	})
	got = bookmarks(conversations, "b2")
	if got[room2] != nil || got[room1] == nil || got[room3] == nil {
		t.Errorf("after the rewrite the XEP-0402 items are %v", got)
	}
}

// TestPrivateBookmarksNotifyOldPEPReaders: a change written to the old
// form in private storage reaches, as a notification, the devices that
// read the old form in PEP (#compat-pep), as a change made the new way
// does.
func TestPrivateBookmarksNotifyOldPEPReaders(t *testing.T) {
	p := startPort(t)
	gajim := loginRaw(t, p, "gajim")
	phone := loginRaw(t, p, "phone")
	phone.send("<presence/>") // PEP events go to available devices
	room := "#one@libera." + testDomain
	gajim.send("<iq type='set' id='s1'><query xmlns='" + nsPrivate + "'><storage xmlns='" + nsBookmarksLegacy + "'>" +
		"<conference jid='" + room + "' name='One' autojoin='true'/></storage></query></iq>")
	gajim.expect("the store result", func(e *element) bool { return e.attr("id") == "s1" && e.attr("type") == "result" })
	ev := phone.expect("the storage:bookmarks notification", func(e *element) bool {
		ev := e.child(nsPubSubEvent, "event")
		return ev != nil && ev.child(nsPubSubEvent, "items") != nil && ev.child(nsPubSubEvent, "items").attr("node") == nsBookmarksLegacy
	})
	if !strings.Contains(ev.String(), "jid='"+room+"'") {
		t.Errorf("the storage:bookmarks notification lacks %s: %s", room, ev)
	}
}

// TestStoredBookmarkWinsWhateverItsCase: a bookmark the client stored for
// a channel under another case of its address is the channel's only
// bookmark; the generated one is not listed beside it.
func TestStoredBookmarkWinsWhateverItsCase(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "desktop")
	c.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'/></presence>")
	c.expect("the subject", func(e *element) bool { return e.child(nsClient, "subject") != nil })
	upper := strings.ToUpper(roomJID[:3]) + roomJID[3:]
	c.send("<iq type='set' id='p1'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsBookmarks + "'><item id='" + upper +
		"'><conference xmlns='" + nsBookmarks + "' name='mine' autojoin='true'/></item></publish></pubsub></iq>")
	c.expect("the publish result", func(e *element) bool { return e.attr("id") == "p1" && e.attr("type") == "result" })
	c.send("<iq type='get' id='b1'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsBookmarks + "'/></pubsub></iq>")
	res := c.expect("bookmarks", func(e *element) bool { return e.attr("id") == "b1" })
	n := strings.Count(strings.ToLower(res.String()), "id='"+strings.ToLower(roomJID)+"'")
	if n != 1 {
		t.Errorf("the channel has %d bookmarks, want the client's alone: %v", n, res)
	}
}
