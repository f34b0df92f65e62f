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
