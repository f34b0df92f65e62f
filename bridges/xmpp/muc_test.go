package xmpp

// Group chats against a real Prosody with its MUC service: the bridge as
// alice, plain mellium clients as the other occupants.

import (
	"context"
	"encoding/xml"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// raw sends one stanza written out as XML.
func (c *client) raw(format string, args ...any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.xs.Send(ctx, xml.NewDecoder(strings.NewReader(fmt.Sprintf(format, args...)))); err != nil {
		c.t.Fatal(err)
	}
}

// iq sends an iq written out as XML and fails the test unless the answer
// is a result.
func (c *client) iq(format string, args ...any) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := c.xs.SendIQ(ctx, xml.NewDecoder(strings.NewReader(fmt.Sprintf(format, args...))))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Close()
	tok, err := resp.Token()
	if err != nil {
		c.t.Fatal(err)
	}
	start, _ := tok.(xml.StartElement)
	for _, a := range start.Attr {
		if a.Name.Local == "type" && a.Value != "result" {
			var rest strings.Builder
			enc := xml.NewEncoder(&rest)
			for {
				t, err := resp.Token()
				if err != nil {
					break
				}
				enc.EncodeToken(t)
			}
			enc.Flush()
			c.t.Fatalf("iq answered %s: %s", a.Value, rest.String())
		}
	}
}

// join enters room as nick and waits for the room's self-presence.
func (c *client) join(room, nick string) {
	c.t.Helper()
	c.raw(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`, room, nick)
	c.waitPresence(10*time.Second, "self in "+room, func(p stanzaPresence) bool {
		return p.From == room+"/"+nick && p.MUCUser.has(statusSelf)
	})
}

func (c *client) leave(room, nick string) {
	c.t.Helper()
	c.raw(`<presence to='%s/%s' type='unavailable'/>`, room, nick)
}

func (c *client) say(room, id, body string) {
	c.t.Helper()
	c.raw(`<message to='%s' type='groupchat' id='%s'><body>%s</body><origin-id xmlns='urn:xmpp:sid:0' id='%s'/></message>`, room, id, body, id)
}

func (c *client) setSubject(room, subject string) {
	c.t.Helper()
	c.raw(`<message to='%s' type='groupchat'><subject>%s</subject></message>`, room, subject)
}

// waitGroupchat returns the room message with body as the client got it.
func (c *client) waitGroupchat(timeout time.Duration, room, body string) stanzaMessage {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.msgs:
			if m.Type == "groupchat" && strings.HasPrefix(m.From, room+"/") && m.body() == body {
				return m
			}
		case <-deadline:
			c.t.Fatalf("no %q in %s within %s", body, room, timeout)
		}
	}
}

// waitAll reads device events until every one of want matched one, in
// any order; events matching none are passed over.
func (s *stack) waitAll(timeout time.Duration, want map[string]func(core.Event) bool) map[string]core.Event {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got := make(map[string]core.Event)
	for len(got) < len(want) {
		e, err := s.dev.Next(ctx)
		if err != nil {
			var missing []string
			for name := range want {
				if _, ok := got[name]; !ok {
					missing = append(missing, name)
				}
			}
			s.t.Fatalf("within %s, no %s", timeout, strings.Join(missing, ", "))
		}
		for name, match := range want {
			if _, done := got[name]; !done && match(e) {
				got[name] = e
				break
			}
		}
	}
	return got
}

func selfJoined(room string) func(core.Event) bool {
	return func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Room == room && me.Self && me.Change == core.MemberJoined
	}
}

func membersOf(room string) func(core.Event) bool {
	return func(e core.Event) bool {
		rm, ok := e.(core.RoomMembersEvent)
		return ok && rm.Room == room
	}
}

func memberChange(room, nick string, change core.MembershipChange) func(core.Event) bool {
	return func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Room == room && me.Member.Nick == nick && me.Change == change && !me.Self
	}
}

func roomMessage(room, body string) func(core.Event) bool {
	return func(e core.Event) bool {
		me, ok := e.(core.MessageEvent)
		return ok && me.Message.Peer == core.Peer{Kind: core.Room, Remote: room} && me.Message.Body == body
	}
}

func topicOf(room, topic string) func(core.Event) bool {
	return func(e core.Event) bool {
		te, ok := e.(core.TopicEvent)
		return ok && te.Room == room && te.Topic == topic
	}
}

// roomBodies is the stored messages of room as "sender: body", oldest
// first.
func (s *stack) roomBodies(room string) []string {
	var out []string
	for _, m := range s.stored(room) {
		out = append(out, m.Sender.Addr+": "+m.Body)
	}
	return out
}

func startMUC(t *testing.T) (*testpeer.Prosody, func(settings ...string) *stack) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw", "carol": "pw"})
	return p, func(settings ...string) *stack {
		cfg := accountSettings(t, p, "alice", "pw")
		for i := 0; i+1 < len(settings); i += 2 {
			cfg[settings[i]] = settings[i+1]
		}
		return newStack(t, cfg)
	}
}

// TestProsodyRoomsFromBookmarks: the rooms in the account's bookmarks,
// in the old private-storage form and in the native PEP form, are
// joined on connect with the bookmarked nick; occupants, the subject,
// messages both ways (the room's echo of the bridge's own message stored
// once), a subject change and an occupant coming and going all reach
// the device as core events, and the user's status reaches the room.
func TestProsodyRoomsFromBookmarks(t *testing.T) {
	p, start := startMUC(t)
	oldRoom, newRoom := "lounge@"+p.MUCDomain, "dev@"+p.MUCDomain

	phone := dialClient(t, p, "alice", "pw", "phone")
	phone.iq(`<iq type='set'><query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>`+
		`<conference jid='%s' autojoin='true' name='Lounge'><nick>Alice</nick></conference></storage></query></iq>`, oldRoom)
	phone.iq(`<iq type='set'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='urn:xmpp:bookmarks:1'>`+
		`<item id='%s'><conference xmlns='urn:xmpp:bookmarks:1' autojoin='true' name='Dev'/></item></publish></pubsub></iq>`, newRoom)

	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(oldRoom, "bob")
	bob.setSubject(oldRoom, "Welcome to the lounge")

	s := start()
	s.waitAll(30*time.Second, map[string]func(core.Event) bool{
		"self in lounge": func(e core.Event) bool {
			return selfJoined(oldRoom)(e) && e.(core.MembershipEvent).Member.Nick == "Alice"
		},
		"lounge's members": func(e core.Event) bool {
			if !membersOf(oldRoom)(e) {
				return false
			}
			nicks := map[string]string{}
			for _, m := range e.(core.RoomMembersEvent).Members {
				nicks[m.Nick] = m.Addr
			}
			// bob created the room: its owner.
			return len(nicks) == 2 && nicks["bob"] == "bob@"+p.Domain && nicks["Alice"] == "alice@"+p.Domain
		},
		"lounge's subject": topicOf(oldRoom, "Welcome to the lounge"),
		"self in dev": func(e core.Event) bool {
			return selfJoined(newRoom)(e) && e.(core.MembershipEvent).Member.Nick == "alice"
		},
	})
	if st, ok := s.hub.Room(s.user.ID, s.net.ID, oldRoom); !ok || !st.Joined || st.Self != "Alice" || len(st.Members) != 2 || st.Members[1].Role != "owner" {
		t.Fatalf("the Hub's view of the lounge: %+v", st)
	}
	if p := parsePeer(oldRoom); p.Kind != core.Room {
		t.Fatalf("parsePeer(%q) = %+v after the join", oldRoom, p)
	}

	bob.say(oldRoom, "bob-1", "hi all")
	in := s.waitEvent(10*time.Second, "bob's room message", roomMessage(oldRoom, "hi all")).(core.MessageEvent).Message
	if in.Direction != core.Incoming || in.Sender.Addr != "bob" || in.OriginID == "" || in.OriginID == "bob-1" {
		t.Fatalf("bob's message stored as %+v; want from bob, by the room's stanza-id", in)
	}

	sent, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: core.Peer{Kind: core.Room, Remote: oldRoom}, Kind: core.KindChat, Body: "hello bob"})
	if err != nil {
		t.Fatal(err)
	}
	got := bob.waitGroupchat(10*time.Second, oldRoom, "hello bob")
	if got.From != oldRoom+"/Alice" || got.OriginID == nil {
		t.Fatalf("bob got %+v", got)
	}

	bob.setSubject(oldRoom, "Now with tea")
	s.waitEvent(10*time.Second, "the new subject", func(e core.Event) bool {
		return topicOf(oldRoom, "Now with tea")(e) && e.(core.TopicEvent).SetBy == "bob"
	})

	// The user's status reaches the rooms too: presence to a room is
	// directed, the server's broadcast does not reach it.
	if err := s.hub.SetStatus(context.Background(), s.dev, core.Status{Show: core.ShowAway, Text: "lunch"}); err != nil {
		t.Fatal(err)
	}
	bob.waitPresence(10*time.Second, "Alice away in the lounge", func(p stanzaPresence) bool {
		return p.From == oldRoom+"/Alice" && p.Show == "away" && len(p.Statuses) == 1 && p.Statuses[0] == "lunch"
	})

	carol := dialClient(t, p, "carol", "pw", "tablet")
	carol.join(oldRoom, "carol")
	s.waitEvent(10*time.Second, "carol coming", memberChange(oldRoom, "carol", core.MemberJoined))
	carol.leave(oldRoom, "carol")
	s.waitEvent(10*time.Second, "carol going", memberChange(oldRoom, "carol", core.MemberLeft))

	// Stored once, with the id the room reflected it with.
	bob.say(oldRoom, "bob-2", "last")
	s.waitEvent(10*time.Second, "bob's last message", roomMessage(oldRoom, "last"))
	want := []string{"bob: hi all", ": hello bob", "bob: last"}
	stored := s.stored(oldRoom)
	if got := s.roomBodies(oldRoom); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stored %q, want %q", got, want)
	}
	if stored[1].ID != sent.ID || stored[1].OriginID != got.OriginID.ID || stored[1].Direction != core.Outgoing {
		t.Fatalf("the sent message stored as %+v; bob got origin-id %q", stored[1], got.OriginID.ID)
	}
}

// TestProsodyRoomJoinFromDevice: a device joins through the Hub; a nick
// taken in the room is retried with a suffix; a wrong room password is
// refused for good and the right one lets the account in; private
// messages with an occupant go both ways as a direct conversation; an
// invitation is stored in the inviter's conversation; leaving ends the
// membership.
func TestProsodyRoomJoinFromDevice(t *testing.T) {
	p, start := startMUC(t)
	room, locked := "plaza@"+p.MUCDomain, "vault@"+p.MUCDomain

	carol := dialClient(t, p, "carol", "pw", "tablet")
	carol.join(room, "alice") // the bridge's default nick
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(locked, "bob")
	bob.iq(`<iq type='set' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'>`+
		`<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>`+
		`<field var='muc#roomconfig_passwordprotectedroom'><value>1</value></field>`+
		`<field var='muc#roomconfig_roomsecret'><value>sesame</value></field></x></query></iq>`, locked)

	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	ctx := context.Background()
	if err := s.hub.JoinRoom(ctx, s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	ev := s.waitEvent(10*time.Second, "the join", selfJoined(room)).(core.MembershipEvent)
	if ev.Member.Nick != "alice_" {
		t.Fatalf("joined as %q; want alice_ since carol has alice", ev.Member.Nick)
	}

	err := s.hub.JoinRoom(ctx, s.user.ID, s.net.ID, locked, "wrong")
	if err == nil || !core.IsPermanent(err) || !strings.Contains(err.Error(), "password") {
		t.Fatalf("joining with a wrong password: %v", err)
	}
	if err := s.hub.JoinRoom(ctx, s.user.ID, s.net.ID, locked, "sesame"); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(10*time.Second, "the join of the locked room", selfJoined(locked))

	// A private message from the occupant bob, and the answer.
	bob.raw(`<message to='alice@%s' from='bob@%s/laptop' type='chat' id='pm-1'><body>psst</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, p.Domain, p.Domain)
	// Sent through the room, so it comes from bob's occupant address.
	bob.raw(`<message to='%s/alice' type='chat' id='pm-2'><body>psst, in the room</body><x xmlns='http://jabber.org/protocol/muc#user'/></message>`, locked)
	pm := s.waitMessage(10*time.Second, "bob's private message", func(m *core.Message) bool { return m.Body == "psst, in the room" })
	if pm.Peer != (core.Peer{Kind: core.Direct, Remote: locked + "/bob"}) || pm.Direction != core.Incoming {
		t.Fatalf("the private message stored as %+v", pm)
	}
	if _, err := s.hub.Send(ctx, s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(locked + "/bob"), Kind: core.KindChat, Body: "psst back"}); err != nil {
		t.Fatal(err)
	}
	back := bob.waitBody(10*time.Second, "psst back")
	if back.From != locked+"/alice" || back.Type != "chat" {
		t.Fatalf("bob got the answer as %+v", back)
	}

	// bob invites the account to another room, through the room: the
	// invitation is stored in the conversation with bob.
	attic := "attic@" + p.MUCDomain
	bob.join(attic, "bob")
	bob.raw(`<message to='%s'><x xmlns='http://jabber.org/protocol/muc#user'><invite to='alice@%s'><reason>up here</reason></invite></x></message>`, attic, p.Domain)
	inv := s.waitMessage(10*time.Second, "bob's invitation", func(m *core.Message) bool { return m.Kind == core.KindInvite })
	if inv.Peer != (core.Peer{Kind: core.Direct, Remote: "bob@" + p.Domain}) || inv.Body != attic+" up here" {
		t.Fatalf("the invitation stored as %+v", inv)
	}

	// Leaving through the Hub ends the membership.
	if err := s.hub.LeaveRoom(ctx, s.user.ID, s.net.ID, room, "bye"); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(10*time.Second, "the part", func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Room == room && me.Self && me.Change == core.MemberLeft
	})
	if _, ok := s.hub.Room(s.user.ID, s.net.ID, room); ok {
		t.Fatal("the Hub still has the room after the part")
	}
}

// TestProsodyRoomGapFill: messages written in a room while the bridge
// was away come from the room's archive after it is back, each once,
// and neither what was stored before nor the bridge's own message is
// stored again.
func TestProsodyRoomGapFill(t *testing.T) {
	old := backoffUnit
	backoffUnit = 1500 * time.Millisecond // room for bob to write between the restart and the reconnect
	t.Cleanup(func() { backoffUnit = old })

	p, start := startMUC(t)
	room := "archive@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")
	bob.say(room, "early-1", "before alice came")

	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	if err := s.hub.JoinRoom(context.Background(), s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	// The first join fills from the archive too.
	s.waitEvent(10*time.Second, "the earlier message", roomMessage(room, "before alice came"))
	bob.say(room, "live-1", "live before the restart")
	s.waitEvent(10*time.Second, "the live message", roomMessage(room, "live before the restart"))
	if _, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: core.Peer{Kind: core.Room, Remote: room}, Kind: core.KindChat, Body: "mine"}); err != nil {
		t.Fatal(err)
	}
	bob.waitGroupchat(10*time.Second, room, "mine")

	p.Stop()
	s.waitState(20*time.Second, core.StateDisconnected)
	p.Start()
	bob = dialClient(t, p, "bob", "pw", "laptop2")
	bob.join(room, "bob")
	bob.say(room, "gap-1", "while you were away 1")
	bob.say(room, "gap-2", "while you were away 2")
	for _, ns := range s.hub.NetworkStates(s.user.ID) {
		if ns.State == core.StateConnected {
			t.Fatal("the bridge was back before bob wrote: there is no gap to fill")
		}
	}
	s.waitState(30*time.Second, core.StateConnected)
	s.waitEvent(20*time.Second, "the second message of the gap", roomMessage(room, "while you were away 2"))
	bob.say(room, "live-2", "after the restart")
	s.waitEvent(10*time.Second, "the live message after", roomMessage(room, "after the restart"))

	want := []string{"bob: before alice came", "bob: live before the restart", ": mine",
		"bob: while you were away 1", "bob: while you were away 2", "bob: after the restart"}
	if got := s.roomBodies(room); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

// TestProsodyRoomSelfPing: when the room no longer has the account while
// the bridge thinks it is in (a stanza lost, a room restarted), the
// self-ping finds out and the bridge joins again. The drop is made by
// telling the bridge it is in a room it never joined; the room's answer
// to the ping is Prosody's own.
func TestProsodyRoomSelfPing(t *testing.T) {
	old := selfPingInterval
	selfPingInterval = 500 * time.Millisecond
	t.Cleanup(func() { selfPingInterval = old })

	p, start := startMUC(t)
	room := "quiet@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")

	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	var sess *session
	for deadline := time.Now().Add(10 * time.Second); sess == nil; time.Sleep(20 * time.Millisecond) {
		if sess = s.session(); sess == nil && time.Now().After(deadline) {
			t.Fatal("no session")
		}
	}
	addr := jid.MustParse(room)
	sess.b.rooms.want(room, roomWant{})
	sess.muc.mu.Lock()
	if sess.muc.rooms == nil {
		sess.muc.rooms = make(map[string]*mucRoom)
	}
	sess.muc.rooms[room] = &mucRoom{addr: addr, base: "alice", nick: "alice", joined: true, members: map[string]core.Member{}}
	sess.muc.mu.Unlock()

	bob.waitPresence(10*time.Second, "alice joining after the self-ping", func(p stanzaPresence) bool {
		return p.From == room+"/alice" && p.Type == ""
	})
	s.waitEvent(10*time.Second, "the rejoin", selfJoined(room))
}

// session is the bridge's current session, nil while there is none.
func (s *stack) session() *session {
	if b := s.bridge.Load(); b != nil {
		return b.cur.Load()
	}
	return nil
}

// TestProsodyRoomResumes: a stream resumed after a cut (XEP-0198) is
// still in its rooms, as the server kept it there: it does not join them
// again, no one seems to leave, what the room said during the cut
// arrives once, and sending works on.
func TestProsodyRoomResumes(t *testing.T) {
	old := backoffUnit
	backoffUnit = 50 * time.Millisecond
	t.Cleanup(func() { backoffUnit = old })

	p, _ := startMUC(t)
	room := "steady@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")
	proxy := startCutProxy(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)))
	resumed := counterValue(t, metricSMResumed)
	s := newStack(t, core.Settings{keyJID: "alice@" + p.Domain, keyPassword: "pw", keyAddr: proxy.ln.Addr().String(), keyFingerprint: pin(t, p)})
	s.waitState(20*time.Second, core.StateConnected)
	if err := s.hub.JoinRoom(context.Background(), s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(10*time.Second, "the join", membersOf(room))
	// Bob's copy of alice's join travels on his own stream and may come
	// after the bridge has its own: wait for it, so that only a second
	// join could be seen below.
	bob.waitPresence(10*time.Second, "of alice joining", func(p stanzaPresence) bool {
		return p.From == room+"/alice" && p.Type == ""
	})
	for len(bob.pres) > 0 {
		<-bob.pres // anything else before the cut
	}
	proxy.frozen.Store(true)
	bob.say(room, "cut-1", "during the cut")
	time.Sleep(200 * time.Millisecond) // bob's message reaches the frozen link
	proxy.cut()
	var left []string
	noteLeft := func(e core.Event) {
		if me, ok := e.(core.MembershipEvent); ok && me.Change == core.MemberLeft {
			left = append(left, me.Member.Nick)
		}
	}
	// The resumed stream replays the message, maybe before the bridge
	// says it is connected again.
	s.waitAll(20*time.Second, map[string]func(core.Event) bool{
		"the reconnect": func(e core.Event) bool {
			noteLeft(e)
			ns, ok := e.(core.NetworkStateEvent)
			return ok && ns.State == core.StateConnected
		},
		"the message of the cut": roomMessage(room, "during the cut"),
	})
	if counterValue(t, metricSMResumed) != resumed+1 {
		t.Fatal("the stream was not resumed")
	}
	if _, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: core.Peer{Kind: core.Room, Remote: room}, Kind: core.KindChat, Body: "still here"}); err != nil {
		t.Fatal(err)
	}
	bob.waitGroupchat(10*time.Second, room, "still here")
	bob.say(room, "after-1", "after the cut")
	s.waitAll(10*time.Second, map[string]func(core.Event) bool{"the message after": func(e core.Event) bool {
		noteLeft(e)
		return roomMessage(room, "after the cut")(e)
	}})
	if len(left) > 0 {
		t.Errorf("occupants seemed to leave over the resumption: %v", left)
	}
	// Nor did the bridge join again: the room never had it leave.
	for len(bob.pres) > 0 {
		if p := <-bob.pres; p.From == room+"/alice" {
			t.Errorf("the resumed stream joined the room again: %+v", p)
		}
	}
	if st, ok := s.hub.Room(s.user.ID, s.net.ID, room); !ok || len(st.Members) != 2 {
		t.Errorf("the Hub's room after the resumption: %+v", st)
	}
	want := []string{"bob: during the cut", ": still here", "bob: after the cut"}
	if got := s.roomBodies(room); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stored %q, want %q", got, want)
	}
}

// TestProsodyRoomArchivePages: a gap longer than one archive page (the
// room's archive gives 50 results a page at most) comes whole, in order.
func TestProsodyRoomArchivePages(t *testing.T) {
	p, start := startMUC(t)
	room := "busy@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")
	const n = 130
	var want []string
	for i := range n {
		body := fmt.Sprintf("line %03d", i)
		bob.say(room, fmt.Sprintf("l%d", i), body)
		want = append(want, "bob: "+body)
	}
	bob.waitGroupchat(10*time.Second, room, want[n-1][len("bob: "):])

	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	archived := counterValue(t, metricArchived)
	if err := s.hub.JoinRoom(context.Background(), s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(20*time.Second, "the last line", roomMessage(room, want[n-1][len("bob: "):]))
	if got := s.roomBodies(room); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("stored %d messages, want the %d of the archive in order; first %q", len(got), n, got[:min(3, len(got))])
	}
	if got := counterValue(t, metricArchived) - archived; got != n {
		t.Errorf("%v messages read from the archive, want %d", got, n)
	}
}

// TestStoredRoomsKnown: after a restart the stored room conversations
// tell parsePeer which addresses are rooms, even on a service whose
// domain says nothing, and where each room's gap fill starts.
func TestStoredRoomsKnown(t *testing.T) {
	s := newStack(t, core.Settings{keyJID: "alice@example.org", keyPassword: "pw", keyAddr: "127.0.0.1:1"})
	// The registry of known rooms is process-wide: a name of its own
	// keeps the test true when run again (-count).
	room := fmt.Sprintf("plans-%d@talk.example.org", time.Now().UnixNano())
	if parsePeer(room).Kind == core.Room {
		t.Fatalf("%s is a room before anything said so", room)
	}
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	err := s.st.Append(context.Background(), []core.Write{{Message: &core.Message{User: s.user.ID, Network: s.net.ID,
		Peer: core.Peer{Kind: core.Room, Remote: room}, Kind: core.KindChat, Body: "stored", Time: at, OriginID: "s1",
		Sender: core.Address{Addr: "bob"}}}})
	if err != nil {
		t.Fatal(err)
	}
	b := &Bridge{env: core.BridgeEnv{User: s.user, Network: s.net, History: s.st}, log: testLog(t)}
	b.loadLastSeen(context.Background())
	if p := parsePeer(room); p.Kind != core.Room {
		t.Fatalf("parsePeer(%q) = %+v after the stored rooms were read", room, p)
	}
	if got := b.rooms.seenOf(room); !got.Equal(at) {
		t.Fatalf("the room's gap fill starts at %v, want %v", got, at)
	}
}

// TestProsodySavedRoomRejoined: a room a device joined, not bookmarked
// on the account, is joined again by the network's next bridge (after a
// settings change, as after a daemon restart) from the Hub's saved
// rooms; once left, it is not.
func TestProsodySavedRoomRejoined(t *testing.T) {
	p, start := startMUC(t)
	room := "saved@" + p.MUCDomain
	bob := dialClient(t, p, "bob", "pw", "laptop")
	bob.join(room, "bob")
	s := start()
	s.waitState(20*time.Second, core.StateConnected)
	ctx := context.Background()
	if err := s.hub.JoinRoom(ctx, s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	s.waitEvent(10*time.Second, "the join", selfJoined(room))
	first := s.bridge.Load()

	restart := func(resource string) {
		t.Helper()
		n := s.net
		n.Settings = maps.Clone(n.Settings)
		n.Settings[keyResource] = resource
		if err := s.st.UpdateNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
		if err := s.hub.SyncNetworks(ctx); err != nil {
			t.Fatal(err)
		}
	}
	restart("second")
	s.waitEvent(20*time.Second, "the rejoin by the next bridge", func(e core.Event) bool {
		return selfJoined(room)(e) && s.bridge.Load() != first
	})
	bob.waitPresence(10*time.Second, "alice back in the room", func(p stanzaPresence) bool {
		return p.From == room+"/alice" && p.Type == ""
	})

	if err := s.hub.LeaveRoom(ctx, s.user.ID, s.net.ID, room, ""); err != nil {
		t.Fatal(err)
	}
	if saved, err := s.st.SavedRooms(ctx, s.net.ID); err != nil || len(saved) != 0 {
		t.Fatalf("saved rooms after leaving: %+v, %v", saved, err)
	}
	second := s.bridge.Load()
	restart("third")
	s.waitEvent(20*time.Second, "the third bridge connected", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateConnected && s.bridge.Load() != second
	})
	if _, ok := s.bridge.Load().rooms.get(room); ok {
		t.Errorf("the bridge after the leave still wants %s", room)
	}
}
