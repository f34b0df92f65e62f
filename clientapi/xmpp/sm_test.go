package xmpp

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func body(e *element) string { return e.childText(nsClient, "body") }

// TestStreamResumption: a device that loses its connection resumes its
// session and gets exactly what it had not acknowledged, including what
// arrived while it was away.
func TestStreamResumption(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "phone")
	c.send("<enable xmlns='urn:xmpp:sm:3' resume='true'/>")
	enabled := c.expect("enabled", func(e *element) bool { return e.Name.Local == "enabled" })
	id := enabled.attr("id")
	if id == "" || enabled.attr("resume") != "true" {
		t.Fatalf("enable answered %v", enabled)
	}
	bob := core.Peer{Kind: core.Direct, Remote: "bob"}
	for i := range 3 {
		p.receive(t, p.incoming(bob, "bob", fmt.Sprintf("before %d", i)))
	}
	for i := range 3 {
		c.expect("a message", func(e *element) bool { return body(e) == fmt.Sprintf("before %d", i) })
	}
	// Acknowledge the first two only, then lose the link.
	c.send("<a xmlns='urn:xmpp:sm:3' h='2'/><r xmlns='urn:xmpp:sm:3'/>")
	a := c.expect("the port's ack", func(e *element) bool { return e.Name.Local == "a" })
	if h, _ := strconv.Atoi(a.attr("h")); h != 0 {
		t.Errorf("the port reports %d stanzas handled, want 0 (nonzas do not count)", h)
	}
	c.nc.Close()
	time.Sleep(100 * time.Millisecond)
	p.receive(t, p.incoming(bob, "bob", "while away"))

	r := relogin(t, p)
	r.send("<resume xmlns='urn:xmpp:sm:3' previd='" + id + "' h='2'/>")
	if e := r.next(); e == nil || e.Name.Local != "resumed" || e.attr("previd") != id {
		t.Fatalf("resume answered %v", e)
	}
	var got []string
	for len(got) < 2 {
		e := r.expect("a resent message", func(e *element) bool { return e.Name.Local == "message" })
		got = append(got, body(e))
	}
	if got[0] != "before 2" || got[1] != "while away" {
		t.Errorf("after resuming got %q, want the unacknowledged message then the one sent while away", got)
	}
	// The session goes on: a ping is answered on the new connection.
	r.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.expect("the ping result", func(e *element) bool { return e.attr("id") == "p1" && e.attr("type") == "result" })
}

// TestResumeUnknownSession fails cleanly, and the client can still bind.
func TestResumeUnknownSession(t *testing.T) {
	p := startPort(t)
	r := relogin(t, p)
	r.send("<resume xmlns='urn:xmpp:sm:3' previd='nope' h='0'/>")
	if e := r.next(); e == nil || e.Name.Local != "failed" || e.child(nsStanzas, "item-not-found") == nil {
		t.Fatalf("resuming an unknown session answered %v", e)
	}
	r.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	r.expect("the bind result", func(e *element) bool { return e.attr("id") == "b1" && e.attr("type") == "result" })
}

// TestClientStateIndication: while inactive, presence waits and chat
// states are dropped, but messages go out at once; becoming active sends
// the latest presence.
func TestClientStateIndication(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "phone")
	c.send("<presence/><inactive xmlns='urn:xmpp:csi:0'/>")
	c.send("<iq type='get' id='sync'><ping xmlns='urn:xmpp:ping'/></iq>")
	c.expect("the ping", func(e *element) bool { return e.attr("id") == "sync" })
	bob := core.Peer{Kind: core.Direct, Remote: "bob"}
	p.receive(t,
		core.PresenceEvent{Contact: "bob", Status: core.Status{Show: core.ShowAway, Text: "lunch"}},
		core.PresenceEvent{Contact: "bob", Status: core.Status{Show: core.ShowAway, Text: "still lunch"}},
		core.TypingEvent{Peer: bob, Sender: "bob", Direction: core.Incoming, State: core.StateComposing},
		p.incoming(bob, "bob", "urgent"),
	)
	first := c.expect("the message", func(e *element) bool {
		return e.Name.Local == "message" || e.Name.Local == "presence" && e.attr("from") == "bob@libera."+testDomain
	})
	if body(first) != "urgent" {
		t.Fatalf("while inactive the device got %v first, want the message", first)
	}
	c.send("<active xmlns='urn:xmpp:csi:0'/>")
	pres := c.expect("the held presence", func(e *element) bool { return e.Name.Local == "presence" && e.attr("from") == "bob@libera."+testDomain })
	if pres.childText(nsClient, "status") != "still lunch" {
		t.Errorf("after becoming active got %v, want the latest presence only", pres)
	}
}

// TestSlixmppResumesAfterDrop: slixmpp with stream management drops its
// TCP connection, resumes, and gets the message sent in between.
func TestSlixmppResumesAfterDrop(t *testing.T) {
	p := startPort(t)
	c := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: p.password, Host: "127.0.0.1", Port: portOf(t, p.addr),
		Resource: "phone", SM: true})
	c.Expect(t, slixWait, slixEv("session_start"))
	c.Expect(t, slixWait, slixEv("sm_enabled"))
	c.Do(t, map[string]any{"cmd": "drop"})
	c.Expect(t, slixWait, slixEv("disconnected"))
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "sent while you were away"))
	c.Expect(t, slixWait, slixEv("resumed"))
	c.Expect(t, slixWait, slixEv("message", "body", "sent while you were away"))
}
