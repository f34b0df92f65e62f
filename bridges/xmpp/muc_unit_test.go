package xmpp

// Group chat pieces without a server: the stanza handling fed directly,
// and the small mappings.

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
)

// inbox is a core.Inbound that keeps what it is handed.
type inbox struct{ events []core.Event }

func (i *inbox) Receive(_ context.Context, events ...core.Event) error {
	i.events = append(i.events, events...)
	return nil
}

const testRoom = "room@conference.example.org"

// roomSession is a session without a stream that is in testRoom as alice
// with bob; it can take stanzas, not send any.
func roomSession() (*session, *inbox) {
	in := &inbox{}
	b := &Bridge{env: core.BridgeEnv{Inbound: in}, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s := &session{b: b, self: testSelf, log: b.log, ctx: context.Background(), presence: map[string]map[string]core.Status{}}
	b.rooms.want(testRoom, roomWant{})
	s.muc.rooms = map[string]*mucRoom{testRoom: {addr: jid.MustParse(testRoom), base: "alice", nick: "alice", joined: true,
		members: map[string]core.Member{"alice": {Nick: "alice"}, "bob": {Nick: "bob", Role: "op"}}}}
	return s, in
}

// feed decodes one stanza and hands it to the room handlers as handle
// does; it reports whether they took it.
func feed(s *session, raw string) bool {
	d := xml.NewDecoder(strings.NewReader(raw))
	var start xml.StartElement
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if se, ok := tok.(xml.StartElement); ok {
			start = se
			break
		}
	}
	switch start.Name.Local {
	case "presence":
		var p stanzaPresence
		if d.DecodeElement(&p, &start) != nil {
			return false
		}
		return s.onRoomPresence(&p)
	case "message":
		var m stanzaMessage
		if d.DecodeElement(&m, &start) != nil {
			return false
		}
		return s.onRoomMessage(&m)
	}
	return false
}

func TestRoomStanzas(t *testing.T) {
	s, in := roomSession()
	steps := []struct {
		raw  string
		want string // the events, as describe writes them
	}{
		{`<presence from='room@conference.example.org/carol'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='carol@example.org/x'/></x></presence>`,
			"joined carol voice carol@example.org"},
		{`<presence from='room@conference.example.org/carol'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='admin' role='moderator'/></x></presence>`,
			"updated carol admin carol@example.org"},
		{`<presence from='room@conference.example.org/carol' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='admin' role='moderator' nick='caz'/><status code='303'/></x></presence>`,
			"updated caz admin carol@example.org (was carol)"},
		{`<presence from='room@conference.example.org/caz' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='admin' role='none'/></x></presence>`,
			"left caz admin carol@example.org"},
		{`<presence from='room@conference.example.org/ghost' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item role='none'/></x></presence>`,
			""}, // no one the bridge knew
		{`<message from='room@conference.example.org/bob' type='groupchat' id='x'><body>/me waves</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='S1'/><stanza-id xmlns='urn:xmpp:sid:0' by='evil@example.org' id='E'/><origin-id xmlns='urn:xmpp:sid:0' id='O'/></message>`,
			"message action in bob waves S1"},
		{`<message from='room@conference.example.org/alice' type='groupchat' id='x'><body>from my phone</body><origin-id xmlns='urn:xmpp:sid:0' id='phone-1'/><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='S2'/></message>`,
			"message chat out alice from my phone phone-1"},
		{`<message from='room@conference.example.org' type='groupchat'><body>This room is now logged</body></message>`,
			"message notice in  This room is now logged "},
		{`<message from='room@conference.example.org/bob' type='groupchat'><subject>plans</subject></message>`,
			"topic plans by bob"},
		{`<message from='room@conference.example.org/bob' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
			""},
		{`<message from='other@conference.example.org/bob' type='groupchat'><body>stale</body></message>`,
			""}, // a room the session is not in: dropped
		{`<presence from='room@conference.example.org/alice' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item role='none'/><status code='307'/><status code='110'/></x></presence>`,
			"left alice self"},
	}
	for _, st := range steps {
		in.events = nil
		if !feed(s, st.raw) {
			t.Fatalf("%s: not taken as a room's", st.raw)
		}
		var got []string
		for _, e := range in.events {
			got = append(got, describe(e))
		}
		if strings.Join(got, "; ") != st.want {
			t.Errorf("%s:\ngot  %q\nwant %q", st.raw, strings.Join(got, "; "), st.want)
		}
	}
	if s.muc.get(testRoom) != nil {
		t.Error("still in the room after the kick")
	}
	if _, wanted := s.b.rooms.get(testRoom); wanted {
		t.Error("a kick leaves the room wanted: the bridge would rejoin at once")
	}
	// A 1:1 message is not a room's.
	if feed(s, `<message from='bob@example.org/x' type='chat'><body>hi</body></message>`) {
		t.Error("a chat message was taken as a room's")
	}
}

// TestInvitations: both kinds of invitation are stored as the IRC
// bridge stores one, in the inviter's conversation, and the room becomes
// known as a room.
func TestInvitations(t *testing.T) {
	s, in := roomSession()
	for _, c := range []struct{ raw, want string }{
		{`<message from='lab@groups.example.org' id='i1'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='carol@example.org/x'><reason>come see</reason></invite></x></message>`,
			"invite carol@example.org lab@groups.example.org come see i1"},
		{`<message from='dave@example.org/y' id='i2'><x xmlns='jabber:x:conference' jid='Den@Talk.example.org' reason='drinks'/></message>`,
			"invite dave@example.org den@talk.example.org drinks i2"},
		{`<message from='dave@example.org/y' id='i3'><x xmlns='jabber:x:conference' jid='not a room'/></message>`,
			""},
	} {
		in.events = nil
		feed(s, c.raw)
		var got []string
		for _, e := range in.events {
			m := e.(core.MessageEvent).Message
			got = append(got, string(m.Kind)+" "+m.Peer.Remote+" "+m.Body+" "+m.OriginID)
			if m.Peer.Kind != core.Direct || m.Sender.Addr != m.Peer.Remote {
				t.Errorf("%s: stored as %+v", c.raw, m)
			}
		}
		if strings.Join(got, "; ") != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.raw, strings.Join(got, "; "), c.want)
		}
	}
	if parsePeer("lab@groups.example.org").Kind != core.Room || parsePeer("den@talk.example.org").Kind != core.Room {
		t.Error("an invitation's room is not known as a room")
	}
}

func describe(e core.Event) string {
	switch e := e.(type) {
	case core.MembershipEvent:
		change := [...]string{"joined", "left", "updated"}[e.Change]
		if e.Self {
			return change + " " + e.Member.Nick + " self"
		}
		out := change + " " + e.Member.Nick + " " + e.Member.Role + " " + e.Member.Addr
		if e.PreviousNick != "" {
			out += " (was " + e.PreviousNick + ")"
		}
		return out
	case core.MessageEvent:
		m := e.Message
		dir := "in"
		if m.Direction == core.Outgoing {
			dir = "out"
		}
		return "message " + string(m.Kind) + " " + dir + " " + m.Sender.Addr + " " + m.Body + " " + m.OriginID
	case core.TopicEvent:
		return "topic " + e.Topic + " by " + e.SetBy
	}
	return fmt.Sprintf("%T", e)
}

// TestRoomJoinOutcome: the list before the account's own presence makes
// one member list; an error before it fails the join with the reason.
func TestRoomJoinOutcome(t *testing.T) {
	s, in := roomSession()
	wait := make(chan error, 1)
	s.muc.rooms[testRoom] = &mucRoom{addr: jid.MustParse(testRoom), base: "alice", nick: "alice", members: map[string]core.Member{}, waiters: []chan error{wait}}
	feed(s, `<presence from='room@conference.example.org/bob'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='moderator'/></x></presence>`)
	if len(in.events) != 0 {
		t.Fatalf("events before the join is through: %v", in.events)
	}
	// Its gap fill needs a stream; this session has none, so the fill
	// finds its context over and asks nothing.
	s.ctx = canceled()
	feed(s, `<presence from='room@conference.example.org/alice'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/><status code='110'/></x></presence>`)
	if err := <-wait; err != nil {
		t.Fatal(err)
	}
	if len(in.events) != 2 || describe(in.events[0]) != "joined alice self" {
		t.Fatalf("join events %v", in.events)
	}
	if list := in.events[1].(core.RoomMembersEvent).Members; len(list) != 2 {
		t.Fatalf("member list %v", list)
	}

	for cond, want := range map[stanza.Condition]string{
		stanza.NotAuthorized:        "password",
		stanza.Forbidden:            "banned",
		stanza.RegistrationRequired: "members only",
	} {
		s, _ := roomSession()
		wait := make(chan error, 1)
		s.muc.rooms[testRoom] = &mucRoom{addr: jid.MustParse(testRoom), nick: "alice", members: map[string]core.Member{}, waiters: []chan error{wait}}
		feed(s, `<presence from='room@conference.example.org/alice' type='error'><x xmlns='http://jabber.org/protocol/muc'/><error type='auth'><`+string(cond)+` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
		err := <-wait
		if err == nil || !core.IsPermanent(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v", cond, err)
		}
		if s.muc.get(testRoom) != nil {
			t.Errorf("%s: the refused room is still held", cond)
		}
		if _, wanted := s.b.rooms.get(testRoom); wanted {
			t.Errorf("%s: the refused room is still joined on every self-ping", cond)
		}
	}
}

func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestMemberRole(t *testing.T) {
	for it, want := range map[mucItem]string{
		{Affiliation: "owner", Role: "moderator"}:    "owner",
		{Affiliation: "admin", Role: "moderator"}:    "admin",
		{Affiliation: "none", Role: "moderator"}:     "op",
		{Affiliation: "member", Role: "participant"}: "voice",
		{Affiliation: "member", Role: "visitor"}:     "",
		{Affiliation: "none", Role: "participant"}:   "",
	} {
		if got := memberRole(it); got != want {
			t.Errorf("memberRole(%+v) = %q, want %q", it, got, want)
		}
	}
}

func TestParsePeerRooms(t *testing.T) {
	knownRooms.add("lobby@chat.example.org")
	for in, want := range map[string]core.Peer{
		"Lobby@Chat.Example.org":     {Kind: core.Room, Remote: "lobby@chat.example.org"},
		"lobby@chat.example.org/bob": {Kind: core.Direct, Remote: "lobby@chat.example.org/bob"},
		"dev@conference.example.org": {Kind: core.Room, Remote: "dev@conference.example.org"},
		"bob@chat.example.org/phone": {Kind: core.Direct, Remote: "bob@chat.example.org"},
		"conference.example.org":     {Kind: core.Direct, Remote: "conference.example.org"},
		"bob@example.org":            {Kind: core.Direct, Remote: "bob@example.org"},
	} {
		if got := parsePeer(in); got != want {
			t.Errorf("parsePeer(%q) = %+v, want %+v", in, got, want)
		}
	}
}

// TestRoomsBounded: an account cannot be made to hold more rooms than
// maxRooms, from bookmarks or devices.
func TestRoomsBounded(t *testing.T) {
	b := &Bridge{}
	for i := range maxRooms {
		if !b.rooms.want(fmt.Sprintf("r%d@muc.example.org", i), roomWant{}) {
			t.Fatalf("room %d refused", i)
		}
	}
	if b.rooms.want("one-more@muc.example.org", roomWant{}) {
		t.Fatal("a room over the bound was taken")
	}
	if !b.rooms.want("r1@muc.example.org", roomWant{password: "pw"}) {
		t.Fatal("a room already wanted was refused")
	}
	if err := b.JoinRoom(context.Background(), "one-more@muc.example.org", ""); err == nil || !core.IsPermanent(err) {
		t.Fatalf("JoinRoom over the bound: %v", err)
	}
}

func TestParseBookmark(t *testing.T) {
	for _, c := range []struct {
		addr string
		conf bookmarkConference
		ok   bool
		want bookmark
	}{
		{"room@muc.example.org", bookmarkConference{Autojoin: "1", Nick: "Al"}, true, bookmark{room: jid.MustParse("room@muc.example.org"), nick: "Al", autojoin: true}},
		{"room@muc.example.org", bookmarkConference{Autojoin: "false", Password: "pw"}, true, bookmark{room: jid.MustParse("room@muc.example.org"), password: "pw"}},
		{"muc.example.org", bookmarkConference{Autojoin: "true"}, false, bookmark{}},
		{"room@muc.example.org/nick", bookmarkConference{Autojoin: "true"}, false, bookmark{}},
		{"room@muc.example.org", bookmarkConference{Nick: strings.Repeat("n", 2000)}, false, bookmark{}},
	} {
		got, ok := parseBookmark(c.addr, c.conf)
		if ok != c.ok || ok && (got.room.String() != c.want.room.String() || got.nick != c.want.nick || got.password != c.want.password || got.autojoin != c.want.autojoin) {
			t.Errorf("parseBookmark(%q, %+v) = %+v, %v", c.addr, c.conf, got, ok)
		}
	}
}

// FuzzRoomStanza: whatever a room sends, the bridge neither panics nor
// hands the Hub an event it cannot store or show.
func FuzzRoomStanza(f *testing.F) {
	for _, s := range []string{
		`<presence from='room@conference.example.org/carol'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='member' role='participant' jid='carol@example.org/x'/></x></presence>`,
		`<presence from='room@conference.example.org/bob' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><item nick='bobby'/><status code='303'/></x></presence>`,
		`<presence from='room@conference.example.org/alice' type='unavailable'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/><destroy/></x></presence>`,
		`<presence from='room@conference.example.org/alice' type='error'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`,
		`<message from='room@conference.example.org/bob' type='groupchat'><body>hi</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='1'/></message>`,
		`<message from='room@conference.example.org/bob' type='groupchat'><subject>s</subject></message>`,
		`<message from='room@conference.example.org' type='error' id='e'><error type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`,
		`<message from='lab@groups.example.org'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='carol@example.org/x'/></x></message>`,
		`<message from='room@conference.example.org'><result xmlns='urn:xmpp:mam:2' queryid='q' id='r'><forwarded xmlns='urn:xmpp:forward:0'><message from='room@conference.example.org/bob' type='groupchat'><body>old</body></message></forwarded></result></message>`,
		// Replies, reactions and links (muc_extras_test.go).
		`<message from='room@conference.example.org/bob' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='S1'><reaction>👍</reaction><reaction>🎉</reaction></reactions><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='2'/></message>`,
		`<message from='room@conference.example.org/bob' type='groupchat'><body>&gt; hi
yes</body><reply xmlns='urn:xmpp:reply:0' to='room@conference.example.org/carol' id='S1'/><replace xmlns='urn:xmpp:message-correct:0' id='x'/></message>`,
		`<message from='room@conference.example.org/bob' type='groupchat'><body>https://example.org/a.png</body><x xmlns='jabber:x:oob'><url>https://example.org/a.png</url><desc>a</desc></x></message>`,
		`<message from='room@conference.example.org/alice' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='S1'/><origin-id xmlns='urn:xmpp:sid:0' id='o'/><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='3'/></message>`,
		`<message from='room@conference.example.org/bob' type='groupchat' id='b2'><body>y</body><replace xmlns='urn:xmpp:message-correct:0' id='b1'/></message>`,
		`<message from='room@conference.example.org'><result xmlns='urn:xmpp:mam:2' queryid='q' id='r2'><forwarded xmlns='urn:xmpp:forward:0'><message from='room@conference.example.org/bob' type='groupchat'><reactions xmlns='urn:xmpp:reactions:0' id='r'><reaction>👀</reaction></reactions></message></forwarded></result></message>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, in := roomSession()
		s.ctx = canceled()
		s.muc.rooms[testRoom].mamQuery = "q"
		// A message of bob's a correction may name (roomids.go).
		feed(s, `<message from='room@conference.example.org/bob' type='groupchat' id='b1'><body>x</body><stanza-id xmlns='urn:xmpp:sid:0' by='room@conference.example.org' id='S-b1'/></message>`)
		in.events = nil
		// The room is joined, so no answer makes the session write (a
		// nick clash is retried only while joining): it has no stream.
		feed(s, string(data))
		for _, e := range in.events {
			switch e := e.(type) {
			case core.MessageEvent:
				m := e.Message
				m.User, m.Network = 1, 1
				want := core.Peer{Kind: core.Room, Remote: testRoom}
				if m.Kind == core.KindInvite {
					want = core.Peer{Kind: core.Direct, Remote: m.Sender.Addr} // the inviter
				}
				if err := m.Validate(); err != nil || len(m.Body) > maxBody || m.Peer != want ||
					len(m.Attachments) > maxAttachments || len(m.ReplyTo.OriginID) > maxRefLength ||
					!m.CorrectionOf.IsZero() && (m.CorrectionOf.OriginID != "S-b1" || m.Sender.Addr != "bob") {
					t.Fatalf("message %+v: %v", m, err)
				}
			case core.MembershipEvent:
				if e.Room != testRoom || e.Member.Nick == "" {
					t.Fatalf("membership %+v", e)
				}
			case core.TopicEvent:
				if e.Room != testRoom || len(e.Topic) > maxBody {
					t.Fatalf("topic %+v", e)
				}
			case core.RoomMembersEvent:
				if e.Room != testRoom || len(e.Members) > maxOccupants {
					t.Fatalf("members %+v", e)
				}
			default:
				t.Fatalf("event %T", e)
			}
		}
		if r := s.muc.get(testRoom); r != nil && (len(r.members) > maxOccupants || len(r.own.order) > maxOwnIDs || len(r.own.originOf) != len(r.own.order)) {
			t.Fatalf("%d members, %d own ids", len(r.members), len(r.own.order))
		}
	})
}
