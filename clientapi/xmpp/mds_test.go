package xmpp

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// mdsEvent reports whether e is an MDS node event for item id at upto.
func mdsEvent(e *element, id, upto string) bool {
	ev := e.child(nsPubSubEvent, "event")
	if ev == nil {
		return false
	}
	items := ev.child(nsPubSubEvent, "items")
	if items == nil || items.attr("node") != nsMDS {
		return false
	}
	it := items.child(nsPubSubEvent, "item")
	if it == nil || it.attr("id") != id {
		return false
	}
	d := it.child(nsMDS, "displayed")
	return d != nil && d.child(nsSID, "stanza-id").attr("id") == upto
}

// TestMDSSyncsReadPositions: a displayed item published on the MDS node
// (XEP-0490) moves the user's read marker and reaches the other devices;
// a read position set another way (a chat marker here, the HTTP API
// alike) reaches them as the node's event too; and a fresh device reads
// the latest position from the node.
func TestMDSSyncsReadPositions(t *testing.T) {
	p := startPort(t)
	a := loginRaw(t, p, "a")
	b := loginRaw(t, p, "b")
	for _, c := range []*rawClient{a, b} {
		c.send("<presence/>")
	}
	bob := "bob@libera." + testDomain
	ids := make([]string, 2)
	for i, body := range []string{"first", "second"} {
		p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", body))
		got := a.expect(body, func(e *element) bool { return e.childText(nsClient, "body") == body })
		ids[i] = got.child(nsSID, "stanza-id").attr("id")
	}

	a.send("<iq type='set' id='m1'><pubsub xmlns='" + nsPubSub + "'><publish node='" + nsMDS + "'><item id='" + bob + "'>" +
		"<displayed xmlns='" + nsMDS + "'><stanza-id xmlns='" + nsSID + "' by='alice@" + testDomain + "' id='" + ids[0] + "'/></displayed>" +
		"</item></publish></pubsub></iq>")
	if r := a.expect("the publish result", func(e *element) bool { return e.attr("id") == "m1" }); r.attr("type") != "result" {
		t.Fatalf("publishing to MDS: %v", r)
	}
	b.expect("the MDS event", func(e *element) bool { return mdsEvent(e, bob, ids[0]) })
	convs, err := p.st.Conversations(context.Background(), p.user.ID)
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations %v, %v", convs, err)
	}
	userMarker := func() string {
		ms, err := p.st.ReadMarkers(context.Background(), p.user.ID, convs[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.Device == "" {
				return m.Upto.String()
			}
		}
		return ""
	}
	if got := userMarker(); got != ids[0] {
		t.Errorf("after the MDS publish the user's read marker is %q, want %s", got, ids[0])
	}

	a.send("<message to='" + bob + "' type='chat' id='mk'><displayed xmlns='" + nsChatMarkers + "' id='" + ids[1] + "'/></message>")
	b.expect("the MDS event of a chat marker", func(e *element) bool { return mdsEvent(e, bob, ids[1]) })

	fresh := loginRaw(t, p, "fresh")
	fresh.send("<iq type='get' id='g1'><pubsub xmlns='" + nsPubSub + "'><items node='" + nsMDS + "'/></pubsub></iq>")
	res := fresh.expect("the node's items", func(e *element) bool { return e.attr("id") == "g1" })
	items := res.child(nsPubSub, "pubsub").child(nsPubSub, "items")
	if items == nil || len(items.Children) != 1 || items.Children[0].attr("id") != bob ||
		items.Children[0].child(nsMDS, "displayed").child(nsSID, "stanza-id").attr("id") != ids[1] {
		t.Errorf("a fresh device reads %v, want bob's conversation at %s", res, ids[1])
	}
}
