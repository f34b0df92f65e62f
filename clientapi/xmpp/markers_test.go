package xmpp

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestDisplayedMarkerSyncsDevices: a displayed marker (XEP-0333) from one
// device stores that device's read position and the user's, and reaches
// the user's other device as the sent carbon of the marker; a marker for
// an id the port never gave moves nothing.
func TestDisplayedMarkerSyncsDevices(t *testing.T) {
	p := startPort(t)
	desktop := loginRaw(t, p, "desktop")
	phone := loginRaw(t, p, "phone")
	phone.send("<iq type='set' id='c1'><enable xmlns='" + nsCarbons + "'/></iq>")
	phone.expect("carbons enabled", func(e *element) bool { return e.attr("id") == "c1" })

	bob := "bob@libera." + testDomain
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "read me"))
	got := desktop.expect("bob's message", func(e *element) bool { return e.childText(nsClient, "body") == "read me" })
	id := got.child(nsSID, "stanza-id").attr("id")
	phone.expect("bob's message", func(e *element) bool { return e.childText(nsClient, "body") == "read me" })

	convs, err := p.st.Conversations(context.Background(), p.user.ID)
	if err != nil || len(convs) != 1 {
		t.Fatalf("conversations %v, %v", convs, err)
	}
	desktop.send("<message to='" + bob + "' type='chat' id='m1'><displayed xmlns='" + nsChatMarkers + "' id='not-an-archive-id'/></message>")
	// The reader handles stanzas in order: once the ping is answered the
	// marker before it has been handled.
	desktop.send("<iq type='get' id='after-m1'><ping xmlns='" + nsPing + "'/></iq>")
	desktop.expect("the ping answer", func(e *element) bool { return e.attr("id") == "after-m1" })
	if ms, err := p.st.ReadMarkers(context.Background(), p.user.ID, convs[0].ID); err != nil || len(ms) != 0 {
		t.Fatalf("a marker for an id the port never gave stored %v (%v)", ms, err)
	}
	desktop.send("<message to='" + bob + "' type='chat' id='m2'><displayed xmlns='" + nsChatMarkers + "' id='" + id + "'/></message>")
	carbon := phone.expect("the marker's carbon", func(e *element) bool { return e.child(nsCarbons, "sent") != nil })
	fwd := carbon.child(nsCarbons, "sent").child(nsForward, "forwarded").child(nsClient, "message")
	if fwd == nil || fwd.attr("to") != bob || fwd.child(nsChatMarkers, "displayed").attr("id") != id {
		t.Fatalf("the phone got %v, want a sent carbon of displayed %s to bob", carbon, id)
	}

	markers, err := p.st.ReadMarkers(context.Background(), p.user.ID, convs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	byDevice := map[string]string{}
	for _, m := range markers {
		byDevice[m.Device] = m.Upto.String()
	}
	if byDevice[""] != id || byDevice["desktop"] != id || len(byDevice) != 2 {
		t.Errorf("stored read markers %v, want the user's and desktop's at %s", byDevice, id)
	}
}
