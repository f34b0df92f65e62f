package main

import (
	"context"
	"encoding/xml"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/internal/testpeer"
)

// joinMUC sends the presence that joins a group chat (XEP-0045 §7.2).
func (c *xmppClient) joinMUC(occupant string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x := xmlstream.Wrap(nil, xml.StartElement{Name: xml.Name{Space: "http://jabber.org/protocol/muc", Local: "x"}})
	if err := c.sess.Send(ctx, stanza.Presence{To: jid.MustParse(occupant)}.Wrap(x)); err != nil {
		c.t.Fatal(err)
	}
}

// self reports whether p is the client's own presence in a room (110).
func (p xmppPresence) self() bool {
	for _, c := range p.Codes {
		if c.Code == "110" {
			return true
		}
	}
	return false
}

// TestJoinedChannelSurvivesRestart: a channel joined from an XMPP client
// is joined again by a restarted daemon before any device connects, as a
// ZNC or soju user expects; a channel the client left is not.
func TestJoinedChannelSurvivesRestart(t *testing.T) {
	ircAddr := testpeer.StartNgircd(t)
	dir := filepath.Join(t.TempDir(), "data")
	d, addr := startDaemon(t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	api := loginAPI(t, dir, addr, "alice", "pw")
	bob := dialIRC(t, ircAddr, "bob")
	bob.send("JOIN #kept")
	bob.send("JOIN #left")
	bob.waitFor(" 366 bob #left ")
	api.do("POST", "/api/v1/networks", map[string]any{"name": "e2e", "kind": "irc",
		"settings": map[string]string{"addr": "irc://" + ircAddr, "nick": "alice"}}, 201, nil)

	alice := dialXMPP(t, d.xmpp[0], "alice", "localhost", "pw")
	alice.joinMUC("#kept@e2e.localhost/alice")
	bob.waitFor(":alice!")
	alice.joinMUC("#left@e2e.localhost/alice")
	bob.waitFor("JOIN :#left")
	alice.expectPresence("alice's own presence in #left", func(p xmppPresence) bool {
		return p.From == "#left@e2e.localhost/alice" && p.self()
	})
	// On this port a client's unavailable presence ends only its own
	// occupancy; removing the bookmark leaves the channel for good.
	alice.sendRaw(`<iq type='set' id='retract-1'><pubsub xmlns='http://jabber.org/protocol/pubsub'>` +
		`<retract node='urn:xmpp:bookmarks:1' notify='true'><item id='#left@e2e.localhost'/></retract></pubsub></iq>`)
	if line := bob.waitFor(" PART "); !strings.Contains(line, "#left") {
		t.Fatalf("alice parted with %q, want #left", line)
	}
	// The notification follows the retraction's answer.
	alice.expectAny(func(m xmppMessage) bool { return m.Retracted.ID == "#left@e2e.localhost" })
	d.stop()

	// alice's connection ends with the daemon; the restarted one, with
	// no device attached, joins #kept and only #kept.
	bob.waitFor("QUIT")
	d2, _ := startDaemon(t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("restarted daemon log:\n%s", d2.logText())
		}
	})
	if line := bob.waitFor(":alice!"); !strings.Contains(line, "JOIN :#kept") {
		t.Fatalf("after the restart alice's first line is %q, want her JOIN of #kept", line)
	}
	bob.send("NAMES #left")
	if line := bob.waitFor(" 353 "); strings.Contains(line, "alice") {
		t.Errorf("the restarted daemon joined the channel the client left: %q", line)
	}
	d2.stop()
}
