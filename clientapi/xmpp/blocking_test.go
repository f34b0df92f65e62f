package xmpp

import (
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestBlocking: a blocked contact's messages stop reaching the devices,
// in private and in rooms, sending to it is refused, every device hears of
// the change, and unblocking restores delivery.
func TestBlocking(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "desktop")
	b := loginRaw(t, p, "phone")
	a.send("<iq type='set' id='bl1'><block xmlns='urn:xmpp:blocking'><item jid='Bob@libera.example.org'/></block></iq>")
	a.expect("the block result", func(e *element) bool { return e.attr("id") == "bl1" && e.attr("type") == "result" })
	push := b.expect("the block push", func(e *element) bool { return e.child(nsBlocking, "block") != nil })
	if it := push.child(nsBlocking, "block").child(nsBlocking, "item"); it.attr("jid") != "bob@libera.example.org" {
		t.Errorf("block push %v", push)
	}

	bob, carol := core.Peer{Kind: core.Direct, Remote: "bob"}, core.Peer{Kind: core.Direct, Remote: "carol"}
	room := core.Peer{Kind: core.Room, Remote: "#go"}
	p.receive(t, p.incoming(bob, "bob", "from bob"), p.incoming(room, "Bob", "bob in a room"), p.incoming(carol, "carol", "from carol"))
	m := a.expect("a message", func(e *element) bool { return e.Name.Local == "message" })
	if body(m) != "from carol" {
		t.Errorf("with bob blocked the first message shown is %q, want carol's", body(m))
	}

	a.send("<message to='bob@libera.example.org' type='chat' id='x1'><body>hi</body></message>")
	errMsg := a.expect("the refusal", func(e *element) bool { return e.attr("id") == "x1" })
	if errMsg.attr("type") != "error" || errMsg.child(nsClient, "error").child(nsBlockingErrors, "blocked") == nil {
		t.Errorf("sending to a blocked contact answered %v", errMsg)
	}

	a.send("<iq type='get' id='bl2'><blocklist xmlns='urn:xmpp:blocking'/></iq>")
	list := a.expect("the block list", func(e *element) bool { return e.attr("id") == "bl2" })
	items := list.child(nsBlocking, "blocklist").Children
	if len(items) != 1 || items[0].attr("jid") != "bob@libera.example.org" {
		t.Errorf("block list %v", list)
	}

	a.send("<iq type='set' id='bl3'><unblock xmlns='urn:xmpp:blocking'/></iq>")
	a.expect("the unblock result", func(e *element) bool { return e.attr("id") == "bl3" && e.attr("type") == "result" })
	p.receive(t, p.incoming(bob, "bob", "bob again"))
	a.expect("bob's message after unblocking", func(e *element) bool { return body(e) == "bob again" })
}

// TestBlockingADomain: a domain item blocks every address on it (XEP-0016
// order): the network's contacts and its rooms' lines, not another
// network's.
func TestBlockingADomain(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "desktop")
	a.send("<iq type='set' id='bl1'><block xmlns='urn:xmpp:blocking'><item jid='libera.example.org'/></block></iq>")
	a.expect("the block result", func(e *element) bool { return e.attr("id") == "bl1" && e.attr("type") == "result" })
	bob, room := core.Peer{Kind: core.Direct, Remote: "bob"}, core.Peer{Kind: core.Room, Remote: "#go"}
	p.receive(t, p.incoming(bob, "bob", "from bob"), p.incoming(room, "carol", "carol in a room"))
	a.send("<message to='bob@libera.example.org' type='chat' id='x1'><body>hi</body></message>")
	m := a.expect("a message", func(e *element) bool { return e.Name.Local == "message" })
	if m.attr("id") != "x1" || m.child(nsClient, "error").child(nsBlockingErrors, "blocked") == nil {
		t.Errorf("with the network's domain blocked the device got %v first, want the refusal of its own send", m)
	}
	a.send("<iq type='set' id='bl2'><unblock xmlns='urn:xmpp:blocking'><item jid='libera.example.org'/></unblock></iq>")
	a.expect("the unblock result", func(e *element) bool { return e.attr("id") == "bl2" && e.attr("type") == "result" })
	p.receive(t, p.incoming(bob, "bob", "bob again"))
	a.expect("bob's message after unblocking", func(e *element) bool { return body(e) == "bob again" })
}
