package xmpp

// Replies (XEP-0461), reactions (XEP-0444) and links (XEP-0066) in
// group chats, against a real Prosody: bob, a plain mellium client, in
// the room with the bridge's account alice.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// roomSID is the stanza-id the room stamped on a message it reflected.
func roomSID(t testing.TB, room string, m stanzaMessage) string {
	t.Helper()
	for _, s := range m.StanzaIDs {
		if s.By == room && s.ID != "" {
			return s.ID
		}
	}
	t.Fatalf("the room stamped no stanza-id on %q", m.body())
	return ""
}

// TestProsodyRoomExtras: what an occupant's reply, reaction or link
// says reaches the store, from the room's archive on the join and live
// (a reply or reaction to the account's own message too, which the
// store knows by another id than the room), and a device's reply,
// reaction, link and correction reach the occupant with the elements
// that say them, naming messages by the ids the room gave them.
func TestProsodyRoomExtras(t *testing.T) {
	p, start := startMUC(t)
	room := "extras@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")

	// Before alice is in: the join's gap fill reads these from the
	// room's archive.
	bob.say(room, "early-1", "an early word")
	earlySID := roomSID(t, room, bob.waitGroupchat(10*time.Second, room, "an early word"))
	bob.raw(`<message to='%s' type='groupchat' id='early-2'><reactions xmlns='urn:xmpp:reactions:0' id='%s'><reaction>👀</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>`, room, earlySID)
	bob.raw(`<message to='%s' type='groupchat' id='early-3'><body>&gt; an early word
and its answer</body><reply xmlns='urn:xmpp:reply:0' to='%s/bob' id='%s'/></message>`, room, room, earlySID)
	bob.raw(`<message to='%s' type='groupchat' id='early-4'><body>https://files.example/early.png</body><x xmlns='jabber:x:oob'><url>https://files.example/early.png</url><desc>early</desc></x></message>`, room)
	bob.waitGroupchat(10*time.Second, room, "https://files.example/early.png")

	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	ctx := context.Background()
	if err := s.hub.JoinRoom(ctx, s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	early := s.waitMessage(10*time.Second, "the early message", func(m *core.Message) bool { return m.Body == "an early word" })
	archived := s.waitMessage(10*time.Second, "the archived link", func(m *core.Message) bool { return m.Body == "https://files.example/early.png" })
	if len(archived.Attachments) != 1 || archived.Attachments[0].URL != "https://files.example/early.png" || archived.Attachments[0].Name != "early" {
		t.Errorf("archived link stored with attachments %+v", archived.Attachments)
	}
	byBody := map[string]*core.Message{}
	var archivedReaction *core.Message
	for _, m := range s.stored(room) {
		byBody[m.Body] = m
		if m.Kind == core.KindReaction {
			archivedReaction = m
		}
	}
	if r := byBody["> an early word\nand its answer"]; r == nil || r.ReplyTo.ID != early.ID {
		t.Errorf("archived reply stored as %+v, want a reply to message %d", r, early.ID)
	}
	if archivedReaction == nil || archivedReaction.Body != "👀" || archivedReaction.ReplyTo.ID != early.ID || archivedReaction.Sender.Addr != "bob" {
		t.Errorf("archived reaction stored as %+v, want bob's 👀 to message %d", archivedReaction, early.ID)
	}

	// Live, from bob.
	bob.say(room, "b-1", "first")
	first := s.waitMessage(10*time.Second, "bob's message", func(m *core.Message) bool { return m.Body == "first" })
	firstSID := roomSID(t, room, bob.waitGroupchat(10*time.Second, room, "first"))
	if first.OriginID != firstSID {
		t.Fatalf("bob's message stored by %q, the room's id is %q", first.OriginID, firstSID)
	}
	sent := func(m *core.Message) *core.Message {
		t.Helper()
		m.Network, m.Peer = s.net.ID, core.Peer{Kind: core.Room, Remote: room}
		if m.Kind == "" {
			m.Kind = core.KindChat
		}
		out, err := s.hub.Send(ctx, s.dev, m)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	mine := sent(&core.Message{Body: "mine"})
	mineSID := roomSID(t, room, bob.waitGroupchat(10*time.Second, room, "mine"))
	mineOrigin := s.waitOrigin(room, mine.ID)

	bob.raw(`<message to='%s' type='groupchat' id='b-2'><body>&gt; first
agreed</body><reply xmlns='urn:xmpp:reply:0' to='%s/bob' id='%s'/></message>`, room, room, firstSID)
	reply := s.waitMessage(10*time.Second, "bob's reply", func(m *core.Message) bool { return strings.HasSuffix(m.Body, "agreed") })
	if reply.ReplyTo.ID != first.ID {
		t.Errorf("bob's reply points at %+v, want message %d", reply.ReplyTo, first.ID)
	}
	bob.raw(`<message to='%s' type='groupchat' id='b-3'><body>&gt; mine
yours</body><reply xmlns='urn:xmpp:reply:0' to='%s/alice' id='%s'/></message>`, room, room, mineSID)
	toMine := s.waitMessage(10*time.Second, "bob's reply to alice", func(m *core.Message) bool { return strings.HasSuffix(m.Body, "yours") })
	if toMine.ReplyTo.ID != mine.ID {
		t.Errorf("bob's reply to alice's message points at %+v, want message %d (%s in the room, %s stored)", toMine.ReplyTo, mine.ID, mineSID, mineOrigin)
	}
	bob.raw(`<message to='%s' type='groupchat' id='b-4'><reactions xmlns='urn:xmpp:reactions:0' id='%s'><reaction>👍</reaction><reaction>🎉</reaction><reaction>👍</reaction></reactions><store xmlns='urn:xmpp:hints'/></message>`, room, mineSID)
	reaction := s.waitMessage(10*time.Second, "bob's reactions", func(m *core.Message) bool { return m.Kind == core.KindReaction && m.Body != "👀" })
	if reaction.Body != "👍\n🎉" || reaction.ReplyTo.ID != mine.ID || reaction.Sender.Addr != "bob" || reaction.Direction != core.Incoming {
		t.Errorf("bob's reactions stored as %+v, want 👍 🎉 to message %d", reaction, mine.ID)
	}
	bob.raw(`<message to='%s' type='groupchat' id='b-5'><reactions xmlns='urn:xmpp:reactions:0' id='%s'/><store xmlns='urn:xmpp:hints'/></message>`, room, mineSID)
	withdrawn := s.waitMessage(10*time.Second, "bob's withdrawal", func(m *core.Message) bool { return m.Kind == core.KindReaction && m.Body == "" })
	if withdrawn.ReplyTo.ID != mine.ID {
		t.Errorf("bob's withdrawal points at %+v, want message %d", withdrawn.ReplyTo, mine.ID)
	}
	const url = "https://files.example/cat.png"
	bob.raw(`<message to='%s' type='groupchat' id='b-6'><body>%s</body><x xmlns='jabber:x:oob'><url>%s</url><desc>a cat</desc></x></message>`, room, url, url)
	link := s.waitMessage(10*time.Second, "bob's link", func(m *core.Message) bool { return m.Body == url })
	if len(link.Attachments) != 1 || link.Attachments[0].URL != url || link.Attachments[0].Name != "a cat" {
		t.Errorf("bob's link stored with attachments %+v", link.Attachments)
	}

	// The device to the room.
	sent(&core.Message{Body: "answering bob", ReplyTo: core.MessageRef{ID: first.ID}})
	ans := bob.waitGroupchat(10*time.Second, room, "answering bob")
	if ans.Reply == nil || ans.Reply.ID != firstSID || ans.Reply.To != room+"/bob" {
		t.Errorf("alice's reply reached bob as %+v, want to %s of %s/bob", ans.Reply, firstSID, room)
	}
	sent(&core.Message{Body: "answering myself", ReplyTo: core.MessageRef{ID: mine.ID}})
	self := bob.waitGroupchat(10*time.Second, room, "answering myself")
	if self.Reply == nil || self.Reply.ID != mineSID || self.Reply.To != room+"/alice" {
		t.Errorf("alice's reply to herself reached bob as %+v, want to %s of %s/alice", self.Reply, mineSID, room)
	}
	began := time.Now()
	r := sent(&core.Message{Kind: core.KindReaction, Body: "🍕\n👍", ReplyTo: core.MessageRef{ID: first.ID}})
	if r.ReplyTo.ID != first.ID {
		t.Errorf("the reaction was stored as %+v", r)
	}
	rx := bob.waitMessage(10*time.Second, "alice's reaction", func(m stanzaMessage) bool { return m.Type == "groupchat" && m.Reactions != nil })
	if rx.Reactions.ID != firstSID || strings.Join(rx.Reactions.Items, " ") != "🍕 👍" || len(rx.Bodies) != 0 || rx.From != room+"/alice" {
		t.Errorf("alice's reaction reached bob as %+v from %s, want 🍕 👍 to %s", rx.Reactions, rx.From, firstSID)
	}
	// The room's echo of a reaction, which has no body, is what Send
	// waits for; it must be recognised, not waited out.
	if waited := time.Since(began); waited >= roomEchoTimeout {
		t.Errorf("sending the reaction took %s: the room's echo was not recognised", waited)
	}
	sent(&core.Message{Kind: core.KindReaction, Body: "❤", ReplyTo: core.MessageRef{ID: mine.ID}})
	rx = bob.waitMessage(10*time.Second, "alice's reaction to herself", func(m stanzaMessage) bool { return m.Type == "groupchat" && m.Reactions != nil })
	if rx.Reactions.ID != mineSID || strings.Join(rx.Reactions.Items, " ") != "❤" {
		t.Errorf("alice's reaction to her own message reached bob as %+v, want ❤ to %s", rx.Reactions, mineSID)
	}
	sent(&core.Message{Attachments: []core.Attachment{{URL: "https://files.example/dog.png", Name: "a dog"}}})
	file := bob.waitGroupchat(10*time.Second, room, "https://files.example/dog.png")
	if len(file.Links) != 1 || file.Links[0].URL != "https://files.example/dog.png" || file.Links[0].Desc != "a dog" {
		t.Errorf("alice's link reached bob as %+v", file.Links)
	}
	sent(&core.Message{Body: "mine, fixed", CorrectionOf: core.MessageRef{ID: mine.ID}})
	fixed := bob.waitGroupchat(10*time.Second, room, "mine, fixed")
	if fixed.Replace == nil || fixed.Replace.ID != mineOrigin {
		t.Errorf("alice's correction reached bob as %+v, want it to replace %s", fixed.Replace, mineOrigin)
	}

	// Each message stored once: the echoes of the device's sends are
	// not stored again, the reactions included.
	kinds := map[core.MessageKind]int{}
	for _, m := range s.stored(room) {
		kinds[m.Kind]++
	}
	if kinds[core.KindReaction] != 5 {
		t.Errorf("%d reactions stored, want 5 (bob's three, alice's two): %v", kinds[core.KindReaction], s.roomBodies(room))
	}

	// Corrections: bob's of his own message seen live, by the id he gave
	// it; a second one of the same message; and, once bob left, carol's
	// under the nick bob had, which must not correct bob's message.
	bob.say(room, "b-7", "tpyo")
	typo := s.waitMessage(10*time.Second, "bob's typo", func(m *core.Message) bool { return m.Body == "tpyo" })
	bob.raw(`<message to='%s' type='groupchat' id='b-8'><body>typo</body><replace xmlns='urn:xmpp:message-correct:0' id='b-7'/><origin-id xmlns='urn:xmpp:sid:0' id='b-8'/></message>`, room)
	fix := s.waitMessage(10*time.Second, "bob's correction", func(m *core.Message) bool { return m.Body == "typo" })
	if fix.CorrectionOf.ID != typo.ID {
		t.Errorf("bob's correction points at %+v, want message %d", fix.CorrectionOf, typo.ID)
	}
	bob.raw(`<message to='%s' type='groupchat' id='b-9'><body>typo!</body><replace xmlns='urn:xmpp:message-correct:0' id='b-7'/></message>`, room)
	fix2 := s.waitMessage(10*time.Second, "bob's second correction", func(m *core.Message) bool { return m.Body == "typo!" })
	if fix2.CorrectionOf.ID != typo.ID {
		t.Errorf("bob's second correction points at %+v, want message %d", fix2.CorrectionOf, typo.ID)
	}
	bob.leave(room, "bob")
	s.waitEvent(10*time.Second, "bob leaving", memberChange(room, "bob", core.MemberLeft))
	carol := dialClient(t, p, "carol", "pw", "tablet")
	carol.join(room, "bob")
	carol.raw(`<message to='%s' type='groupchat' id='c-1'><body>not yours</body><replace xmlns='urn:xmpp:message-correct:0' id='b-7'/></message>`, room)
	forged := s.waitMessage(10*time.Second, "carol's forged correction", func(m *core.Message) bool { return m.Body == "not yours" })
	if !forged.CorrectionOf.IsZero() {
		t.Errorf("carol, under bob's old nick, corrected bob's message: %+v", forged.CorrectionOf)
	}
}

// TestRoomExtrasBounded: a hostile occupant's reaction set, links and
// ids are cut to the 1:1 path's limits, a correction of a message the
// bridge did not see from that occupant is not taken for one, a reaction from the room
// itself is dropped, and the archive's copies carry the same.
func TestRoomExtrasBounded(t *testing.T) {
	s, in := roomSession()
	s.muc.rooms[testRoom].mamQuery = "q"
	var reactions, links strings.Builder
	for i := range 40 {
		fmt.Fprintf(&reactions, "<reaction>r%d</reaction><reaction>%s</reaction>", i, strings.Repeat("x", core.MaxReactionBytes+1))
		fmt.Fprintf(&links, "<x xmlns='jabber:x:oob'><url>https://example.org/%d</url><desc>%s</desc></x>", i, strings.Repeat("d", 2*maxNameLength))
	}
	long := strings.Repeat("i", 4*maxRefLength)
	for _, c := range []struct {
		name, raw string
		check     func(*core.Message) string
	}{
		{"reactions", `<message from='room@conference.example.org/bob' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='` + long + `'>` + reactions.String() + `</reactions><body>fallback</body></message>`,
			func(m *core.Message) string {
				if m.Kind != core.KindReaction || len(m.Reactions()) != core.MaxReactions || m.Reactions()[0] != "r0" || len(m.ReplyTo.OriginID) != maxRefLength || len(m.Attachments) != 0 {
					return "not cut to the limits"
				}
				return ""
			}},
		{"links", `<message from='room@conference.example.org/bob' type='groupchat'><body>many</body>` + links.String() + `<reply xmlns='urn:xmpp:reply:0' id='` + long + `'/></message>`,
			func(m *core.Message) string {
				if len(m.Attachments) != maxAttachments || len(m.Attachments[0].Name) != maxNameLength || len(m.ReplyTo.OriginID) != maxRefLength {
					return "not cut to the limits"
				}
				return ""
			}},
		{"correction", `<message from='room@conference.example.org/bob' type='groupchat'><body>fixed</body><replace xmlns='urn:xmpp:message-correct:0' id='S1'/></message>`,
			func(m *core.Message) string {
				if !m.CorrectionOf.IsZero() || m.Body != "fixed" || m.Kind != core.KindChat {
					return "a room's correction taken for one"
				}
				return ""
			}},
		{"archived reaction", `<message from='room@conference.example.org'><result xmlns='urn:xmpp:mam:2' queryid='q' id='A1'><forwarded xmlns='urn:xmpp:forward:0'><message from='room@conference.example.org/bob' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='S0'><reaction>👍</reaction></reactions></message></forwarded></result></message>`,
			func(m *core.Message) string {
				if m.Kind != core.KindReaction || m.Body != "👍" || m.ReplyTo.OriginID != "S0" || m.OriginID != "A1" {
					return "archived reaction lost"
				}
				return ""
			}},
	} {
		in.events = nil
		s.muc.rooms[testRoom].mamPage = nil
		if !feed(s, c.raw) {
			t.Fatalf("%s: not taken as a room's", c.name)
		}
		events := append(in.events, s.muc.rooms[testRoom].mamPage...)
		if len(events) != 1 {
			t.Fatalf("%s: %d events", c.name, len(events))
		}
		m := events[0].(core.MessageEvent).Message
		m.User, m.Network = 1, 1
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if why := c.check(m); why != "" {
			t.Errorf("%s: %s: %+v", c.name, why, m)
		}
	}
	in.events = nil
	feed(s, `<message from='room@conference.example.org' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='S0'><reaction>👍</reaction></reactions></message>`)
	if len(in.events) != 0 {
		t.Errorf("the room's own reaction stored: %+v", in.events)
	}
}

// TestRoomIDsBounded: the account's own messages' ids are remembered
// for the newest maxOwnIDs only, both ways alike, and ids longer than
// any room or client writes are not remembered at all.
func TestRoomIDsBounded(t *testing.T) {
	var p roomIDs
	for i := range maxOwnIDs + 10 {
		p.add(fmt.Sprintf("s%d", i), fmt.Sprintf("o%d", i))
	}
	p.add(strings.Repeat("s", maxOwnIDLength+1), "o-long")
	p.add("s-long", strings.Repeat("o", maxOwnIDLength+1))
	if len(p.order) != maxOwnIDs || len(p.originOf) != maxOwnIDs || len(p.stanzaOf) != maxOwnIDs {
		t.Fatalf("%d, %d, %d ids remembered, want %d", len(p.order), len(p.originOf), len(p.stanzaOf), maxOwnIDs)
	}
	if _, ok := p.originOf["s9"]; ok {
		t.Error("the oldest is still remembered")
	}
	last := fmt.Sprint(maxOwnIDs + 9)
	if p.originOf["s"+last] != "o"+last || p.stanzaOf["o"+last] != "s"+last {
		t.Error("the newest is not remembered both ways")
	}

	var q senderIDs
	for i := range maxSenderIDs {
		q.add("bob", fmt.Sprintf("S%d", i), fmt.Sprintf("b%d", i), fmt.Sprintf("o%d", i))
	}
	q.add(strings.Repeat("n", maxNickLength+1), "S-long", "x")
	q.add("carol", "S-c", "c1", strings.Repeat("i", maxOwnIDLength+1))
	q.add("carol", "S-again", "c1") // an id used twice keeps naming the first
	if len(q.order) != maxSenderIDs || len(q.stored) != maxSenderIDs {
		t.Fatalf("%d, %d sender ids remembered, want %d", len(q.order), len(q.stored), maxSenderIDs)
	}
	if got, ok := q.lookup("carol", "c1"); !ok || got != "S-c" {
		t.Errorf("carol's c1 is %q, %v", got, ok)
	}
	if _, ok := q.lookup("carol", "S-c"); ok {
		t.Error("a stored id taken for the sender's")
	}
	q.forget("carol")
	if _, ok := q.lookup("carol", "c1"); ok || len(q.order) != len(q.stored) {
		t.Errorf("carol's ids outlive her leaving: %d, %d", len(q.order), len(q.stored))
	}
	if got, ok := q.lookup("bob", fmt.Sprintf("o%d", maxSenderIDs-1)); !ok || got != fmt.Sprintf("S%d", maxSenderIDs-1) {
		t.Errorf("bob's newest is %q, %v", got, ok)
	}
}

// TestRoomEchoOfReaction: the room's echo of a reaction the account
// sent, which has no body, resolves the send waiting for it and is not
// stored again; it teaches the room's id of it.
func TestRoomEchoOfReaction(t *testing.T) {
	s, in := roomSession()
	echo := make(chan error, 1)
	r := s.muc.rooms[testRoom]
	r.echoes = map[string]chan error{"mine-1": echo}
	feed(s, `<message from='room@conference.example.org/alice' type='groupchat' id='mine-1'><reactions xmlns='urn:xmpp:reactions:0' id='S0'><reaction>👍</reaction></reactions><origin-id xmlns='urn:xmpp:sid:0' id='mine-1'/><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='S9'/></message>`)
	select {
	case err := <-echo:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the echo of the reaction did not resolve the send")
	}
	if len(in.events) != 0 {
		t.Errorf("the echo was stored: %+v", in.events)
	}
	if r.own.originOf["S9"] != "mine-1" {
		t.Errorf("the room's id of the account's message not learned: %+v", r.own)
	}
}
