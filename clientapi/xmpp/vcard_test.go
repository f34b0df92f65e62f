package xmpp

import (
	"strings"
	"testing"
)

// TestOwnVCard: before any is set, the user's vCard carries the account's
// name; a client sets it, and every device of the user reads it back
// whole, by the bare JID or without one, also after logging in again.
// Setting another address's vCard is refused, and another user neither
// reads nor changes it.
func TestOwnVCard(t *testing.T) {
	p := startAdhocPort(t)
	desktop := loginAs(t, p.testPort, "alice", p.password, "desktop")
	vcard := func(r *element) *element {
		t.Helper()
		v := r.child(nsVCard, "vCard")
		if r.attr("type") != "result" || v == nil {
			t.Fatalf("a vCard get answered %v", r)
		}
		return v
	}
	if v := vcard(desktop.iq("get", "", "<vCard xmlns='"+nsVCard+"'/>")); v.childText(nsVCard, "NICKNAME") != "alice" {
		t.Errorf("the vCard before any was set: %v, want the nickname alice", v)
	}

	const photo = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
	set := "<vCard xmlns='" + nsVCard + "'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME>" +
		"<PHOTO><TYPE>image/png</TYPE><BINVAL>" + photo + "</BINVAL></PHOTO></vCard>"
	if r := desktop.iq("set", "", set); r.attr("type") != "result" {
		t.Fatalf("setting the vCard answered %v", r)
	}
	check := func(who string, v *element) {
		t.Helper()
		ph := v.child(nsVCard, "PHOTO")
		if v.childText(nsVCard, "FN") != "Alice Liddell" || v.childText(nsVCard, "NICKNAME") != "al" ||
			ph == nil || ph.childText(nsVCard, "BINVAL") != photo || ph.childText(nsVCard, "TYPE") != "image/png" {
			t.Errorf("%s read the vCard %v, want the one set", who, v)
		}
	}
	check("the device that set it", vcard(desktop.iq("get", "", "<vCard xmlns='"+nsVCard+"'/>")))
	phone := loginAs(t, p.testPort, "alice", p.password, "phone")
	check("another device, by the bare JID", vcard(phone.iq("get", "alice@"+testDomain, "<vCard xmlns='"+nsVCard+"'/>")))
	desktop.send("</stream:stream>")
	again := loginAs(t, p.testPort, "alice", p.password, "laptop")
	check("a new login", vcard(again.iq("get", "", "<vCard xmlns='"+nsVCard+"'/>")))

	// An IRC contact's vCard is the network's, not something to set.
	if r := again.iq("set", "bob@libera."+testDomain, "<vCard xmlns='"+nsVCard+"'><FN>Not Bob</FN></vCard>"); errCondition(r) != "forbidden" {
		t.Errorf("setting a contact's vCard answered %v, want forbidden", r)
	}
	if v := vcard(again.iq("get", "bob@libera."+testDomain, "<vCard xmlns='"+nsVCard+"'/>")); v.childText(nsVCard, "FN") != "bob" {
		t.Errorf("the contact's vCard after a refused set: %v", v)
	}

	bob := loginAs(t, p.testPort, "bob", bobPassword, "pc")
	if v := vcard(bob.iq("get", "", "<vCard xmlns='"+nsVCard+"'/>")); strings.Contains(v.String(), "Alice") || v.childText(nsVCard, "NICKNAME") != "bob" {
		t.Errorf("bob's own vCard: %v, want only his name", v)
	}
	if r := bob.iq("get", "alice@"+testDomain, "<vCard xmlns='"+nsVCard+"'/>"); strings.Contains(r.String(), "Alice") {
		t.Errorf("bob read alice's vCard: %v", r)
	}
	if r := bob.iq("set", "alice@"+testDomain, "<vCard xmlns='"+nsVCard+"'><FN>Mallory</FN></vCard>"); errCondition(r) != "forbidden" {
		t.Errorf("bob setting alice's vCard answered %v, want forbidden", r)
	}
	check("alice after bob's attempt", vcard(again.iq("get", "", "<vCard xmlns='"+nsVCard+"'/>")))
	// Nor is it reachable as private XML storage.
	if r := again.iq("get", "", "<query xmlns='"+nsPrivate+"'><vCard xmlns='"+nsVCard+"'/></query>"); strings.Contains(r.String(), "Alice") {
		t.Errorf("the vCard came back through private storage: %v", r)
	}
}

// TestSlixmppPublishesVCard: slixmpp's own XEP-0054 plugin publishes the
// user's vCard with a photo, and a second slixmpp device reads it back
// from the server.
func TestSlixmppPublishesVCard(t *testing.T) {
	p := startPort(t)
	const photo = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
	desktop := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: p.password, Port: portOf(t, p.addr), Resource: "desktop"})
	desktop.Expect(t, slixWait, slixEv("session_start"))
	desktop.Do(t, map[string]any{"cmd": "vcard_set", "fn": "Alice Liddell", "nickname": "al", "photo": photo})
	if ev := desktop.Expect(t, slixWait, func(ev map[string]any) bool { return ev["cmd"] == "vcard_set" }); ev["event"] != "vcard_set" {
		t.Fatalf("slixmpp's vCard publish: %v", ev)
	}
	phone := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: p.password, Port: portOf(t, p.addr), Resource: "phone"})
	phone.Expect(t, slixWait, slixEv("session_start"))
	phone.Do(t, map[string]any{"cmd": "vcard_get", "jid": "alice@" + testDomain})
	ev := phone.Expect(t, slixWait, func(ev map[string]any) bool { return ev["cmd"] == "vcard_get" })
	if ev["event"] != "vcard" || ev["fn"] != "Alice Liddell" || ev["nickname"] != "al" ||
		ev["photo_type"] != "image/png" || ev["photo"] != photo {
		t.Errorf("the other device read the vCard %v", ev)
	}
}
