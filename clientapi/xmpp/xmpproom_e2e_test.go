package xmpp

// Issue 5's "XMPP group chats as rooms", end to end through real software
// only: Prosody with its MUC service and a slixmpp occupant (bob) there,
// the real XMPP bridge logged in to it as alice, the Hub and the SQLite
// store, this port, and slixmpp devices. The port has no XMPP-specific
// code for it: the bridge's room events are the IRC bridge's.

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	bridge "github.com/switchboard/switchboard/bridges/xmpp"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestXMPPRoomEndToEnd: a Prosody group chat as a MUC room in slixmpp,
// through the real XMPP bridge. Device A joins (the bridge joins the
// room on Prosody; bob, its owner there, is a moderator; A's own
// presence has 110; the subject follows); bob and A talk both ways, A
// reacts to bob's message (XEP-0444, by each side's stanza-id), and A's
// message is reflected to A with its id; bob's subject change
// reaches A; device B joins asking for history and gets the talk
// delayed, then the subject; A leaves and the bridge stays in the room,
// so B still hears bob. Each message is stored once.
func TestXMPPRoomEndToEnd(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	upstream := "lounge@" + p.MUCDomain
	bob := startSlix(t, slixOpts{JID: "bob@" + p.Domain, Password: "pw", Port: p.Port, Resource: "laptop"})
	bob.Expect(t, slixWait, slixEv("session_start"))
	if _, self := joinRoom(t, bob, upstream, "bob", 0); self["type"] == "error" {
		t.Fatalf("bob cannot join %s: %v", upstream, self)
	}
	bob.Do(t, map[string]any{"cmd": "raw", "xml": "<message to='" + upstream + "' type='groupchat'><subject>Welcome</subject></message>"})
	bob.Expect(t, e2eWait, slixEv("message", "subject", "Welcome"))

	r := startRig(t, bridge.Kind(), core.Network{Name: "xmppnet", Kind: core.KindXMPP, Enabled: true, Settings: core.Settings{
		"jid": "alice@" + p.Domain, "password": "pw", "tls-fingerprint": p.Fingerprint(),
		"addr": net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))}})
	r.waitConnected(t)
	room := `lounge\40` + p.MUCDomain + "@xmppnet." + testDomain

	// 1. A joins: the bridge joins on Prosody, bob is a moderator, A's
	// own presence carries 110, and the subject follows.
	a := r.slix(t, "A")
	others, self := joinRoom(t, a, room, "alice", 0)
	bob.Expect(t, e2eWait, slixEv("presence", "from", upstream+"/alice"))
	if others["bob"] != "moderator" || len(others) != 1 {
		t.Errorf("A sees occupants %v, want bob as moderator", others)
	}
	if self["from"] != room+"/alice" {
		t.Errorf("A's own presence from %v", self["from"])
	}
	a.Expect(t, e2eWait, slixEv("message", "subject", "Welcome"))

	// 2. bob → A as groupchat from bob's occupant address; A → bob as a
	// groupchat from alice's, reflected to A with A's id.
	bob.Do(t, map[string]any{"cmd": "send", "to": upstream, "type": "groupchat", "body": "hello from Prosody", "id": "b1"})
	got := a.Expect(t, e2eWait, slixEv("message", "body", "hello from Prosody"))
	if got["type"] != "groupchat" || got["from"] != room+"/bob" || got["delay"] != nil {
		t.Errorf("bob's message reached A as %v", got)
	}
	// A's reaction to bob's message names it by the stanza-id the port
	// gave it; bob sees it name his message by the id Prosody gave it.
	bobsOwn := bob.Expect(t, e2eWait, slixEv("message", "body", "hello from Prosody"))
	a.Do(t, map[string]any{"cmd": "raw", "xml": "<message to='" + room + "' type='groupchat' id='r1'>" +
		"<reactions xmlns='urn:xmpp:reactions:0' id='" + fmt.Sprint(got["stanza_id"]) + "'><reaction>👍</reaction></reactions></message>"})
	reaction := bob.Expect(t, e2eWait, slixEv("message", "from", upstream+"/alice", "reactions_id", bobsOwn["stanza_id"]))
	if rs, _ := reaction["reactions"].([]any); len(rs) != 1 || rs[0] != "👍" || reaction["type"] != "groupchat" {
		t.Errorf("A's reaction reached bob as %v", reaction)
	}
	a.Do(t, map[string]any{"cmd": "send", "to": room, "type": "groupchat", "body": "hello from the port", "id": "a1"})
	if up := bob.Expect(t, e2eWait, slixEv("message", "body", "hello from the port")); up["from"] != upstream+"/alice" || up["type"] != "groupchat" {
		t.Errorf("A's message reached bob as %v", up)
	}
	if echo := a.Expect(t, e2eWait, slixEv("message", "body", "hello from the port")); echo["from"] != room+"/alice" || echo["id"] != "a1" {
		t.Errorf("A's own message reflected as %v", echo)
	}

	// 3. bob's subject change, set by bob.
	bob.Do(t, map[string]any{"cmd": "raw", "xml": "<message to='" + upstream + "' type='groupchat'><subject>release on friday</subject></message>"})
	subj := a.Expect(t, e2eWait, slixEv("message", "subject", "release on friday"))
	if subj["type"] != "groupchat" || subj["from"] != room+"/bob" {
		t.Errorf("the subject reached A as %v", subj)
	}

	// 4. B joins asking for history: the two messages, delayed and from
	// their occupants, then the subject.
	b := r.slix(t, "B")
	if others, _ = joinRoom(t, b, room, "alice", 10); others["bob"] != "moderator" {
		t.Errorf("B sees occupants %v", others)
	}
	history := joinHistory(t, b, room, "release on friday")
	if want := []string{room + "/bob: hello from Prosody", room + "/alice: reactions [👍]", room + "/alice: hello from the port"}; strings.Join(history, "\n") != strings.Join(want, "\n") {
		t.Errorf("B's history on join:\n%s\nwant:\n%s", strings.Join(history, "\n"), strings.Join(want, "\n"))
	}

	// 5. Private messages with the occupant bob: A's goes to bob's
	// occupant address and comes to bob from alice's; bob's answer is a
	// direct conversation with his occupant address.
	a.Do(t, map[string]any{"cmd": "send", "to": room + "/bob", "type": "chat", "body": "psst", "id": "pm1"})
	if pm := bob.Expect(t, e2eWait, slixEv("message", "body", "psst")); pm["from"] != upstream+"/alice" || pm["type"] != "chat" {
		t.Errorf("A's private message reached bob as %v", pm)
	}
	bob.Do(t, map[string]any{"cmd": "send", "to": upstream + "/alice", "type": "chat", "body": "psst back", "id": "pm2"})
	occupant := `lounge\40` + p.MUCDomain + `\2fbob@xmppnet.` + testDomain
	if pm := a.Expect(t, e2eWait, slixEv("message", "body", "psst back")); pm["from"] != occupant && !strings.HasPrefix(fmt.Sprint(pm["from"]), occupant+"/") {
		t.Errorf("bob's private answer reached A as %v, want from %s", pm, occupant)
	}

	// 6. A leaves: its own unavailable presence comes back, the bridge
	// stays in the room for B, and bob sees no one leave before his next
	// message comes back to him.
	a.Do(t, map[string]any{"cmd": "presence", "type": "unavailable", "to": room + "/alice"})
	a.Expect(t, e2eWait, slixEv("presence", "from", room+"/alice", "type", "unavailable"))
	bob.Do(t, map[string]any{"cmd": "send", "to": upstream, "type": "groupchat", "body": "are you still there?", "id": "b2"})
	aliceLeft := false
	bob.Expect(t, e2eWait, func(ev map[string]any) bool {
		if ev["event"] == "presence" && ev["from"] == upstream+"/alice" && ev["type"] == "unavailable" {
			aliceLeft = true
		}
		return ev["event"] == "message" && ev["body"] == "are you still there?"
	})
	if aliceLeft {
		t.Error("the bridge left the room on Prosody when device A left it")
	}
	b.Expect(t, e2eWait, slixEv("message", "body", "are you still there?", "from", room+"/bob"))
	if st, ok := r.hub.Room(r.user.ID, r.network.ID, upstream); !ok || !st.Joined || st.Self != "alice" {
		t.Errorf("after A left, the Hub's room: %+v, %v", st, ok)
	}

	// Each message once in the store, however many devices saw it.
	ctx := context.Background()
	convs, err := r.st.Conversations(ctx, r.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, c := range convs {
		if c.Network == r.network.ID && c.Kind == core.Room && c.Remote == upstream {
			page, err := r.st.Messages(ctx, core.PageQuery{User: r.user.ID, Conversation: c.ID, Order: core.OldestFirst, Limit: 50})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range page {
				stored = append(stored, m.Body)
			}
		}
	}
	if want := []string{"hello from Prosody", "👍", "hello from the port", "are you still there?"}; strings.Join(stored, "|") != strings.Join(want, "|") {
		t.Errorf("stored %q, want %q", stored, want)
	}
}
