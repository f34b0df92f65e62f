package xmpp

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func isStreamError(e *element, condition string) bool {
	return e != nil && e.Name.Space == nsStream && e.Name.Local == "error" && e.child(nsStreams, condition) != nil
}

// TestStartTLSRequired: nothing but STARTTLS is accepted on a plain stream.
func TestStartTLSRequired(t *testing.T) {
	p := startPort(t)
	c := dialRaw(t, p.addr, false)
	feats := c.openStream()
	if feats.child(nsTLS, "starttls").child(nsTLS, "required") == nil {
		t.Fatalf("features before TLS: %v", feats)
	}
	if feats.child(nsSASL, "mechanisms") != nil {
		t.Error("SASL offered before TLS")
	}
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHB3</auth>")
	if e := c.next(); !isStreamError(e, "policy-violation") {
		t.Errorf("auth before TLS answered %v, want policy-violation", e)
	}
}

// TestWhitespaceDuringNegotiation: whitespace between top-level elements
// (which real clients send, and which breaks some servers) is ignored.
func TestWhitespaceDuringNegotiation(t *testing.T) {
	p := startPort(t)
	c := dialRaw(t, p.addr, false)
	c.send("\n  ")
	c.openStream()
	c.send("\n \t ")
	c.startTLS()
	c.send("  \n")
	feats := c.openStream()
	mechs := feats.child(nsSASL, "mechanisms")
	if mechs == nil {
		t.Fatalf("no SASL mechanisms after STARTTLS: %v", feats)
	}
	var names []string
	for _, m := range mechs.Children {
		names = append(names, m.Text)
	}
	for _, want := range []string{"SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"} {
		if !strings.Contains(strings.Join(names, " "), want) {
			t.Errorf("mechanisms %v lack %s", names, want)
		}
	}
	c.send(" ")
	if r := c.authPlain("alice", p.password); r == nil || r.Name.Local != "success" {
		t.Fatalf("PLAIN answered %v", r)
	}
}

// TestWrongPasswordGetsFailure: a wrong password is answered with a SASL
// failure, not a hang.
func TestWrongPasswordGetsFailure(t *testing.T) {
	p := startPort(t)
	c := dialRaw(t, p.directAddr, true)
	c.openStream()
	r := c.authPlain("alice", "wrong")
	if r == nil || r.Name.Local != "failure" || r.child(nsSASL, "not-authorized") == nil {
		t.Fatalf("a wrong password answered %v, want <failure><not-authorized/>", r)
	}
	r = c.authPlain("nobody", "wrong")
	if r == nil || r.Name.Local != "failure" || r.child(nsSASL, "not-authorized") == nil {
		t.Fatalf("an unknown user answered %v, want the same as a wrong password", r)
	}
}

// TestMalformedStreamIsolated: one client's broken XML ends its own stream
// with not-well-formed; another client's session goes on.
func TestMalformedStreamIsolated(t *testing.T) {
	p := startPort(t)
	good := loginRaw(t, p, "good")
	bad := loginRaw(t, p, "bad")
	bad.send("<message to='bob@libera.example.org'><body>unclosed</message>")
	if e := bad.expect("a stream error", func(e *element) bool { return e.Name.Local == "error" }); !isStreamError(e, "not-well-formed") {
		t.Errorf("malformed XML answered %v", e)
	}
	good.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r := good.expect("the ping result", func(e *element) bool { return e.attr("id") == "p1" }); r.attr("type") != "result" {
		t.Errorf("ping on the other stream answered %v", r)
	}
}

// TestOversizedStanza ends the stream with policy-violation.
func TestOversizedStanza(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "big")
	c.send("<message to='bob@libera.example.org'><body>" + strings.Repeat("x", maxStanzaBytes+1024) + "</body></message>")
	if e := c.expect("a stream error", func(e *element) bool { return e.Name.Local == "error" }); !isStreamError(e, "policy-violation") {
		t.Errorf("an oversized stanza answered %v", e)
	}
}

// TestUnknownIQ gets service-unavailable.
func TestUnknownIQ(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "r")
	c.send("<iq type='get' id='u1'><query xmlns='urn:example:nothing'/></iq>")
	r := c.expect("the answer", func(e *element) bool { return e.attr("id") == "u1" })
	if r.attr("type") != "error" || r.child(nsClient, "error").child(nsStanzas, "service-unavailable") == nil {
		t.Errorf("an unknown iq answered %v", r)
	}
}

// TestSameResourceReplaces: a second login with the same resource replaces
// the first with a conflict stream error.
func TestSameResourceReplaces(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "phone")
	second := loginRaw(t, p, "phone")
	if e := first.expect("the conflict", func(e *element) bool { return e.Name.Local == "error" }); !isStreamError(e, "conflict") {
		t.Errorf("the replaced stream got %v", e)
	}
	second.send("<iq type='get' id='p2'><ping xmlns='urn:xmpp:ping'/></iq>")
	second.expect("the ping result", func(e *element) bool { return e.attr("id") == "p2" && e.attr("type") == "result" })
}

// TestMessagesCarbonsAndRoster: a message from one device goes to the
// network and, as a carbon, to the user's other device; a message from the
// network reaches both with its archive id; the roster lists the contact.
func TestMessagesCarbonsAndRoster(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "desktop")
	b := loginRaw(t, p, "phone")
	b.send("<iq type='set' id='c1'><enable xmlns='urn:xmpp:carbons:2'/></iq>")
	b.expect("carbons enabled", func(e *element) bool { return e.attr("id") == "c1" && e.attr("type") == "result" })
	for _, c := range []*rawClient{a, b} {
		c.send("<presence/>")
	}

	a.send("<message to='Bob@libera.example.org' type='chat' id='m1'><body>hi bob</body><request xmlns='urn:xmpp:receipts'/></message>")
	a.expect("the receipt", func(e *element) bool { return e.child(nsReceipts, "received").attr("id") == "m1" })
	select {
	case m := <-p.sent:
		if m.Peer != (core.Peer{Kind: core.Direct, Remote: "bob"}) || m.Body != "hi bob" {
			t.Errorf("the network was handed %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the message never reached the network")
	}
	carbon := b.expect("the sent carbon", func(e *element) bool { return e.child(nsCarbons, "sent") != nil })
	fwd := carbon.child(nsCarbons, "sent").child(nsForward, "forwarded").child(nsClient, "message")
	if fwd.attr("to") != "bob@libera.example.org" || fwd.childText(nsClient, "body") != "hi bob" || fwd.child(nsSID, "stanza-id") == nil {
		t.Errorf("carbon carries %v", fwd)
	}

	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "hello alice"))
	var ids []string
	for _, c := range []*rawClient{a, b} {
		m := c.expect("bob's message", func(e *element) bool { return e.childText(nsClient, "body") == "hello alice" })
		if m.attr("from") != "bob@libera.example.org" || m.attr("type") != "chat" {
			t.Errorf("bob's message came as %v", m)
		}
		sid := m.child(nsSID, "stanza-id")
		if sid == nil || sid.attr("by") != "alice@example.org" {
			t.Fatalf("no stanza-id by the user's archive: %v", m)
		}
		if _, err := core.ParseMessageID(sid.attr("id")); err != nil {
			t.Errorf("stanza-id %q is not an archive id: %v", sid.attr("id"), err)
		}
		ids = append(ids, sid.attr("id"))
	}
	if ids[0] != ids[1] {
		t.Errorf("the two devices got different archive ids %v", ids)
	}

	a.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	r := a.expect("the roster", func(e *element) bool { return e.attr("id") == "r1" })
	q := r.child(nsRoster, "query")
	if q == nil || len(q.Children) != 1 || q.Children[0].attr("jid") != "bob@libera.example.org" ||
		q.Children[0].childText(nsRoster, "group") != "libera" || q.attr("ver") == "" {
		t.Fatalf("roster: %v", r)
	}
	a.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster' ver='" + q.attr("ver") + "'/></iq>")
	if r := a.expect("the roster", func(e *element) bool { return e.attr("id") == "r2" }); r.child(nsRoster, "query") != nil {
		t.Errorf("an unchanged roster was sent again: %v", r)
	}
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "carol"}, "carol", "new here"))
	push := a.expect("the roster push", func(e *element) bool { return e.Name.Local == "iq" && e.attr("type") == "set" })
	if it := push.child(nsRoster, "query").child(nsRoster, "item"); it == nil || it.attr("jid") != "carol@libera.example.org" {
		t.Errorf("roster push: %v", push)
	}
}

// TestOwnResources: an iq to another of the user's resources reaches it
// (and its answer comes back); one to a resource that is not online gets
// service-unavailable; a message to the bare account reaches the other
// devices.
func TestOwnResources(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "desktop")
	b := loginRaw(t, p, "phone")
	a.send("<iq type='get' id='v1' to='alice@example.org/phone'><query xmlns='jabber:iq:version'/></iq>")
	q := b.expect("the routed iq", func(e *element) bool { return e.attr("id") == "v1" })
	if q.attr("from") != "alice@example.org/desktop" {
		t.Errorf("routed iq came from %q", q.attr("from"))
	}
	b.send("<iq type='result' id='v1' to='alice@example.org/desktop'><query xmlns='jabber:iq:version'><name>phone</name></query></iq>")
	r := a.expect("the answer", func(e *element) bool { return e.attr("id") == "v1" })
	if r.attr("type") != "result" || r.attr("from") != "alice@example.org/phone" {
		t.Errorf("the answer came as %v", r)
	}
	a.send("<iq type='get' id='v2' to='alice@example.org/tablet'><query xmlns='jabber:iq:version'/></iq>")
	r = a.expect("the error", func(e *element) bool { return e.attr("id") == "v2" })
	if r.attr("type") != "error" || r.child(nsClient, "error").child(nsStanzas, "service-unavailable") == nil {
		t.Errorf("an iq to an offline resource answered %v", r)
	}
	a.send("<message to='alice@example.org' type='chat'><body>note to self</body></message>")
	b.expect("the note", func(e *element) bool { return body(e) == "note to self" })
}

// TestBoundStreamHasNoReadDeadline: the negotiation's timeout does not
// follow a bound stream, which may sit idle for hours.
func TestBoundStreamHasNoReadDeadline(t *testing.T) {
	defer func(d time.Duration) { negotiationTimeout = d }(negotiationTimeout)
	negotiationTimeout = 500 * time.Millisecond
	p := startPort(t)
	c := loginRaw(t, p, "idle")
	time.Sleep(1500 * time.Millisecond)
	c.send("<iq type='get' id='late'><ping xmlns='urn:xmpp:ping'/></iq>")
	c.expect("the ping result", func(e *element) bool { return e.attr("id") == "late" && e.attr("type") == "result" })
}

// TestPrivateMessageHasNoCarbons: XEP-0280 §6, a message with <private/>
// (with or without the <no-copy/> hint the sending client should add)
// reaches the network but no other device as a carbon; the next ordinary
// message does.
func TestPrivateMessageHasNoCarbons(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "desktop")
	b := loginRaw(t, p, "phone")
	b.send("<iq type='set' id='c1'><enable xmlns='" + nsCarbons + "'/></iq>")
	b.expect("carbons enabled", func(e *element) bool { return e.attr("id") == "c1" && e.attr("type") == "result" })
	a.send("<message to='bob@libera." + testDomain + "' type='chat' id='m1'><body>just from here</body>" +
		"<private xmlns='" + nsCarbons + "'/><no-copy xmlns='" + nsHints + "'/></message>")
	a.send("<message to='bob@libera." + testDomain + "' type='chat' id='m1b'><body>no hint, still private</body>" +
		"<private xmlns='" + nsCarbons + "'/></message>")
	a.send("<message to='bob@libera." + testDomain + "' type='chat' id='m2'><body>for every device</body></message>")
	for _, want := range []string{"just from here", "no hint, still private", "for every device"} {
		select {
		case m := <-p.sent:
			if m.Body != want {
				t.Errorf("the network got %q, want %q", m.Body, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%q never reached the network", want)
		}
	}
	carbon := b.expect("a sent carbon", func(e *element) bool { return e.child(nsCarbons, "sent") != nil })
	if got := carbon.child(nsCarbons, "sent").child(nsForward, "forwarded").child(nsClient, "message").childText(nsClient, "body"); got != "for every device" {
		t.Errorf("the first carbon is of %q; the private message must have none", got)
	}
}

// TestRepliesAndLinks: replies (XEP-0461) and files shared by address
// (XEP-0066) reach devices from the network, and go from a device to the
// network, as the message model carries them.
func TestRepliesAndLinks(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "phone")
	bob := core.Peer{Kind: core.Direct, Remote: "bob"}
	first := p.incoming(bob, "bob", "lunch?")
	p.receive(t, first)
	c.expect("bob's question", func(e *element) bool { return body(e) == "lunch?" })
	answer := p.incoming(bob, "bob", "https://example.org/menu.png")
	answer.Message.ReplyTo = core.MessageRef{ID: first.Message.ID}
	answer.Message.Attachments = []core.Attachment{{URL: "https://example.org/menu.png", Name: "menu"}}
	p.receive(t, answer)
	got := c.expect("bob's reply", func(e *element) bool { return body(e) == "https://example.org/menu.png" })
	if r := got.child(nsReply, "reply"); r == nil || r.attr("id") != first.Message.ID.String() {
		t.Errorf("the reply reached the device as %v", got)
	}
	if x := got.child(nsOOB, "x"); x == nil || x.childText(nsOOB, "url") != "https://example.org/menu.png" || x.childText(nsOOB, "desc") != "menu" {
		t.Errorf("the link reached the device as %v", got)
	}

	c.send("<message to='bob@libera." + testDomain + "' type='chat' id='r1'><body>https://example.org/ok.jpg yes!</body>" +
		"<reply xmlns='" + nsReply + "' id='" + answer.Message.ID.String() + "'/>" +
		"<x xmlns='" + nsOOB + "'><url>https://example.org/ok.jpg</url></x>" +
		"<x xmlns='" + nsOOB + "'><url>javascript:alert(1)</url></x></message>")
	select {
	case m := <-p.sent:
		if m.ReplyTo.ID != answer.Message.ID || len(m.Attachments) != 1 || m.Attachments[0].URL != "https://example.org/ok.jpg" {
			t.Errorf("the network got reply %+v and links %+v", m.ReplyTo, m.Attachments)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reply never reached the network")
	}
}

// TestReactions: reactions (XEP-0444) from a device go to the network
// as one reaction message with the whole set, naming the message by its
// archive id; a bad set is refused with a stanza error; a contact's
// reactions reach the device without a body, naming the message by the
// id the device knows it by (its own for what it sent).
func TestReactions(t *testing.T) {
	p := startPort(t)
	c := loginRaw(t, p, "phone")
	bob := core.Peer{Kind: core.Direct, Remote: "bob"}
	question := p.incoming(bob, "bob", "lunch?")
	p.receive(t, question)
	c.expect("bob's question", func(e *element) bool { return body(e) == "lunch?" })

	to := "bob@libera." + testDomain
	c.send("<message to='" + to + "' type='chat' id='x1'><reactions xmlns='" + nsReactions + "' id='" + question.Message.ID.String() + "'>" +
		"<reaction>👍</reaction><reaction>🍕</reaction><reaction>👍</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>")
	select {
	case m := <-p.sent:
		if m.Kind != core.KindReaction || m.ReplyTo.ID != question.Message.ID || m.Body != "👍\n🍕" {
			t.Errorf("the network got %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the reactions never reached the network")
	}
	c.send("<message to='" + to + "' type='chat' id='x2'><reactions xmlns='" + nsReactions + "'><reaction>👍</reaction></reactions></message>")
	c.expect("the refusal of reactions naming nothing", func(e *element) bool {
		return e.attr("id") == "x2" && e.attr("type") == "error" && e.child(nsClient, "error").child(nsStanzas, "bad-request") != nil
	})

	// The device's own message, which it knows by its id m1.
	c.send("<message to='" + to + "' type='chat' id='m1'><body>pizza?</body></message>")
	var mine *core.Message
	select {
	case mine = <-p.sent:
	case <-time.After(10 * time.Second):
		t.Fatal("the message never reached the network")
	}
	reaction := p.incoming(bob, "bob", "🍕")
	reaction.Message.Kind, reaction.Message.ReplyTo = core.KindReaction, core.MessageRef{ID: mine.ID}
	p.receive(t, reaction)
	got := c.expect("bob's reaction", func(e *element) bool { return e.child(nsReactions, "reactions") != nil })
	rx := got.child(nsReactions, "reactions")
	if rx.attr("id") != "m1" || rx.childText(nsReactions, "reaction") != "🍕" || got.child(nsClient, "body") != nil || got.child(nsReply, "reply") != nil {
		t.Errorf("bob's reaction reached the device as %v", got)
	}
}

// TestStoppedConnStaysStopped: a reader stopped before its next read
// (the session was replaced between the bind and the read loop) does
// not block in that read, though each read sets its own deadline.
func TestStoppedConnStaysStopped(t *testing.T) {
	p := startPort(t)
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	c := newConn(p.srv, server)
	c.resetReader()
	c.stopReading()
	done := make(chan error, 1)
	go func() {
		_, err := c.nextElement(0)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a stopped connection read an element")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a stopped connection's read blocked")
	}
}

// TestOwnDevicesSeeEachOthersPresence: a user is subscribed to their own
// presence (RFC 6121 §4.2.2, §4.4.2). A device's available presence goes
// to each of the user's available devices, itself included; a device that
// becomes available is shown the others'; a device whose session ends
// without a word is shown to the others as unavailable; a device that is
// not available is told nothing.
func TestOwnDevicesSeeEachOthersPresence(t *testing.T) {
	p := startPort(t)
	const desktop, phone = "alice@example.org/desktop", "alice@example.org/phone"
	ownPresence := func(from string) func(*element) bool {
		return func(e *element) bool { return e.Name.Local == "presence" && e.attr("from") == from }
	}
	a := loginRaw(t, p, "desktop")
	a.send("<presence><show>away</show><status>lunch</status></presence>")
	if echo := a.expect("its own presence", ownPresence(desktop)); echo.childText(nsClient, "show") != "away" || echo.attr("to") != desktop {
		t.Errorf("the desktop's own presence came back as %v", echo)
	}
	w := loginRaw(t, p, "watch") // never available
	b := loginRaw(t, p, "phone")
	b.send("<presence/>")
	if got := b.expect("the desktop's presence", ownPresence(desktop)); got.childText(nsClient, "status") != "lunch" || got.attr("to") != phone {
		t.Errorf("the phone was shown the desktop as %v", got)
	}
	if got := a.expect("the phone's presence", ownPresence(phone)); got.attr("type") != "" || got.attr("to") != desktop {
		t.Errorf("the desktop was shown the phone as %v", got)
	}
	b.nc.Close() // gone without a word, and without stream management
	if got := a.expect("the phone gone", ownPresence(phone)); got.attr("type") != "unavailable" {
		t.Errorf("the desktop was shown the phone's end as %v", got)
	}
	// The watch, never available, got none of it: its next stanza is the
	// answer to its ping.
	w.send("<iq type='get' id='w1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
	if got := w.next(); got.attr("id") != "w1" {
		t.Errorf("the watch, not available, got %v", got)
	}
}

// TestManyDevicesDoNotShareTheirPresence: past maxDevicesSharingPresence
// devices, a device that becomes available is shown only its own
// presence, and the others are not shown its: n devices sharing would
// cost n² stanzas.
func TestManyDevicesDoNotShareTheirPresence(t *testing.T) {
	defer func(n int) { maxDevicesSharingPresence = n }(maxDevicesSharingPresence)
	maxDevicesSharingPresence = 2
	p := startPort(t)
	presenceFrom := func(from string) func(*element) bool {
		return func(e *element) bool { return e.Name.Local == "presence" && e.attr("from") == from }
	}
	a := loginRaw(t, p, "a")
	a.send("<presence/>")
	a.expect("its own presence", presenceFrom("alice@example.org/a"))
	b := loginRaw(t, p, "b")
	b.send("<presence/>")
	b.expect("a's presence", presenceFrom("alice@example.org/a"))
	a.expect("b's presence", presenceFrom("alice@example.org/b"))
	c := loginRaw(t, p, "c") // the third device: past the bound
	c.send("<presence/><iq type='get' id='c1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		e := c.next()
		if e.attr("id") == "c1" {
			break
		}
		if e.Name.Local == "presence" && e.attr("from") != "alice@example.org/c" && strings.HasPrefix(e.attr("from"), "alice@example.org/") {
			t.Fatalf("the third device was shown %v", e)
		}
	}
	c.nc.Close()
	for deadline := time.Now().Add(10 * time.Second); len(p.srv.userSessions(p.user.ID)) > 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the third device's session did not end")
		}
	}
	a.send("<iq type='get' id='a1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>")
	for {
		e := a.next()
		if e.attr("id") == "a1" {
			break
		}
		if e.Name.Local == "presence" && e.attr("from") == "alice@example.org/c" {
			t.Fatalf("a was shown the third device: %v", e)
		}
	}
}
