package irc

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ergochat/irc-go/ircmsg"

	"github.com/switchboard/switchboard/core"
)

const wait = 10 * time.Second

func isPrivmsg(target, text string) func(ircmsg.Message) bool {
	return func(m ircmsg.Message) bool {
		return m.Command == "PRIVMSG" && len(m.Params) == 2 && strings.EqualFold(m.Params[0], target) && m.Params[1] == text
	}
}

func room(name string) core.Peer      { return core.Peer{Kind: core.Room, Remote: name} }
func direct(nick string) core.Peer    { return core.Peer{Kind: core.Direct, Remote: nick} }
func fromNick(m *core.Message) string { return m.Sender.Addr }

// TestMessagesBothWays runs chat, actions, notices and private messages in
// both directions through ngircd, with a plain IRC client on the far side.
func TestMessagesBothWays(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#test"))
	st.waitConnected(wait)
	st.waitEvent(wait, "alice's join", func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Self && me.Room == "#test"
	})

	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#test")
	st.waitEvent(wait, "bob's join", func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Member.Nick == "bob" && me.Change == core.MemberJoined
	})

	bob.Send(t, "PRIVMSG #test :hello alice")
	m := st.waitMessage(wait, "bob's message", func(m *core.Message) bool { return m.Body == "hello alice" })
	if m.Peer != room("#test") || m.Direction != core.Incoming || fromNick(m) != "bob" || m.Kind != core.KindChat {
		t.Errorf("bob's message stored as %+v", m)
	}
	bob.Send(t, "PRIVMSG #test :\x01ACTION waves\x01")
	m = st.waitMessage(wait, "bob's action", func(m *core.Message) bool { return m.Kind == core.KindAction })
	if m.Body != "waves" {
		t.Errorf("action body %q, want %q", m.Body, "waves")
	}
	bob.Send(t, "NOTICE #test :the build is green")
	st.waitMessage(wait, "bob's notice", func(m *core.Message) bool {
		return m.Kind == core.KindNotice && m.Body == "the build is green"
	})
	bob.Send(t, "PRIVMSG alice :psst")
	m = st.waitMessage(wait, "bob's private message", func(m *core.Message) bool { return m.Body == "psst" })
	if m.Peer != direct("bob") {
		t.Errorf("private message filed under %+v, want the direct conversation with bob", m.Peer)
	}
	bob.Send(t, "PRIVMSG #test :\x02bold\x02 and \x1ditalic\x1d")
	m = st.waitMessage(wait, "formatted message", func(m *core.Message) bool { return strings.HasPrefix(m.Body, "bold") })
	if m.Body != "bold and italic" || len(m.Spans) != 2 || m.Spans[0] != (core.Span{Start: 0, End: 4, Style: core.Bold}) ||
		m.Spans[1] != (core.Span{Start: 9, End: 15, Style: core.Italic}) {
		t.Errorf("formatted message came as %q %+v", m.Body, m.Spans)
	}

	st.send(room("#test"), core.KindChat, "hi bob")
	bob.Expect(t, wait, isPrivmsg("#test", "hi bob"))
	st.send(room("#test"), core.KindAction, "smiles")
	bob.Expect(t, wait, isPrivmsg("#test", "\x01ACTION smiles\x01"))
	st.send(room("#test"), core.KindNotice, "a notice")
	bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "NOTICE" && m.Params[1] == "a notice" })
	st.send(direct("bob"), core.KindChat, "just for you")
	bob.Expect(t, wait, isPrivmsg("bob", "just for you"))
	sent, err := st.hub.Send(context.Background(), st.dev, &core.Message{Network: st.net.ID, Peer: room("#test"), Kind: core.KindChat,
		Body: "strong words", Spans: []core.Span{{Start: 0, End: 6, Style: core.Bold}}})
	if err != nil {
		t.Fatal(err)
	}
	bob.Expect(t, wait, isPrivmsg("#test", "\x02strong\x02 words"))

	// Everything above is in the store, in order, once.
	bodies := st.bodies(room("#test"), core.KindChat, core.KindAction, core.KindNotice)
	want := []string{"hello alice", "waves", "the build is green", "bold and italic", "hi bob", "smiles", "a notice", "strong words"}
	if strings.Join(bodies, "|") != strings.Join(want, "|") {
		t.Errorf("stored in #test:\n%q\nwant\n%q", bodies, want)
	}
	if sent.ID == 0 {
		t.Error("the sent message has no id")
	}

	// CTCP VERSION is answered, and not stored.
	bob.Send(t, "PRIVMSG alice :\x01VERSION\x01")
	reply := bob.Expect(t, wait, func(m ircmsg.Message) bool {
		return m.Command == "NOTICE" && strings.HasPrefix(lastParam(m), "\x01VERSION ")
	})
	if !strings.Contains(lastParam(reply), "Switchboard") {
		t.Errorf("CTCP VERSION answered %q", lastParam(reply))
	}
}

// TestNickAndKick: a nick change and a kick reach the device, as history
// and as membership changes; a kicked bridge does not rejoin on its own.
func TestNickAndKick(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#ops") // first in: bob holds +o
	carol := dialIRC(t, srv.Addr, "carol")
	carol.Join(t, "#ops")

	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#ops"))
	st.waitConnected(wait)
	members := st.waitEvent(wait, "the member list", func(e core.Event) bool {
		_, ok := e.(core.RoomMembersEvent)
		return ok
	}).(core.RoomMembersEvent)
	roles := map[string]string{}
	for _, m := range members.Members {
		roles[m.Nick] = m.Role
	}
	if roles["bob"] != "op" || roles["carol"] != "" || len(roles) != 3 {
		t.Errorf("members of #ops: %v, want bob as op, carol and alice", roles)
	}

	carol.Send(t, "NICK carla")
	m := st.waitMessage(wait, "the nick change", func(m *core.Message) bool { return m.Kind == core.KindNick })
	if fromNick(m) != "carol" || m.Body != "carla" || m.Peer != room("#ops") {
		t.Errorf("nick change stored as %+v", m)
	}
	bob.Send(t, "KICK #ops carla :off topic")
	m = st.waitMessage(wait, "carla's kick", func(m *core.Message) bool { return m.Kind == core.KindKick })
	if fromNick(m) != "bob" || m.Body != "carla off topic" {
		t.Errorf("kick stored as %+v", m)
	}
	bob.Send(t, "MODE #ops +v alice")
	st.waitEvent(wait, "alice's voice", func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Self && me.Change == core.MemberUpdated && me.Member.Role == "voice"
	})
	bob.Send(t, "KICK #ops alice :bye")
	st.waitEvent(wait, "alice leaving #ops", func(e core.Event) bool {
		me, ok := e.(core.MembershipEvent)
		return ok && me.Self && me.Change == core.MemberLeft
	})
	// A message to #ops now is not held for a rejoin: the user was kicked.
	bob.Send(t, "PRIVMSG #ops :still here?")
	time.Sleep(300 * time.Millisecond)
	for _, m := range st.messages(room("#ops")) {
		if m.Body == "still here?" {
			t.Error("a message to a channel the bridge was kicked from was stored")
		}
	}
}

// TestLongAndMultilineMessages: a long message is split below the 512-byte
// line limit at word boundaries, and a multi-line one goes out line by line.
func TestLongAndMultilineMessages(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#long", "flood-burst", "100", "flood-rate", "100"))
	st.waitConnected(wait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#long")

	var words []string
	for i := 0; len(strings.Join(words, " ")) < 1500; i++ {
		words = append(words, "wörd"+strings.Repeat("x", i%7))
	}
	long := strings.Join(words, " ")
	st.send(room("#long"), core.KindChat, long)
	var got []string
	for len(strings.Join(got, " ")) < len(long) {
		m := bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "PRIVMSG" && m.Params[0] == "#long" })
		line, _ := m.Line()
		if len(line) > 512 {
			t.Errorf("a relayed line is %d bytes, over IRC's 512", len(line))
		}
		got = append(got, m.Params[1])
	}
	if strings.Join(got, " ") != long {
		t.Errorf("the long message arrived as %d lines that do not join back to it:\n%q", len(got), got)
	}
	if len(got) < 3 {
		t.Errorf("1500 bytes arrived in %d lines", len(got))
	}

	st.send(room("#long"), core.KindChat, "first line\nsecond line\r\nthird line")
	for _, want := range []string{"first line", "second line", "third line"} {
		bob.Expect(t, wait, isPrivmsg("#long", want))
	}
}

// TestQueuedWhileDown: messages sent while the network is unreachable wait
// in the store's outbound queue and go out in order after the reconnect,
// and the bridge rejoins its channels.
func TestQueuedWhileDown(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	link := newLinkProxy(t, srv.Addr)
	st := newStack(t, ircSettings(link.Addr(), "alice", "join", "#q"))
	st.waitConnected(wait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#q")

	link.Cut()
	st.waitEvent(wait, "the disconnect", func(e core.Event) bool {
		ns, ok := e.(core.NetworkStateEvent)
		return ok && ns.State == core.StateDisconnected
	})
	for _, body := range []string{"one", "two", "three"} {
		st.send(room("#q"), core.KindChat, body)
	}
	st.send(direct("bob"), core.KindChat, "four")
	link.Restore()
	bob.Expect(t, 30*time.Second, func(m ircmsg.Message) bool { return m.Command == "JOIN" && m.Nick() == "alice" })
	for _, body := range []string{"one", "two", "three"} {
		bob.Expect(t, wait, isPrivmsg("#q", body))
	}
	bob.Expect(t, wait, isPrivmsg("bob", "four"))
}

// TestNickFallbackAndRegain: with the nick taken, the bridge registers as
// the fallback, and takes its nick back once it is free.
func TestNickFallbackAndRegain(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	squatter := dialIRC(t, srv.Addr, "alice")
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#n"))
	st.waitConnected(wait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#n")
	st.send(room("#n"), core.KindChat, "who am i")
	m := bob.Expect(t, wait, isPrivmsg("#n", "who am i"))
	if m.Nick() != "alice_" {
		t.Errorf("the bridge registered as %q, want the fallback alice_", m.Nick())
	}
	squatter.Close()
	m = bob.Expect(t, wait, func(m ircmsg.Message) bool { return m.Command == "NICK" })
	if m.Nick() != "alice_" || m.Params[0] != "alice" {
		t.Errorf("nick change %s → %v, want alice_ → alice", m.Nick(), m.Params)
	}
}

// TestLatin1Fallback: a line that is not UTF-8 is decoded with the
// network's fallback charset, not dropped.
func TestLatin1Fallback(t *testing.T) {
	srv := startNgircd(t, serverOpts{})
	st := newStack(t, ircSettings(srv.Addr, "alice", "join", "#cafe"))
	st.waitConnected(wait)
	bob := dialIRC(t, srv.Addr, "bob")
	bob.Join(t, "#cafe")
	bob.Send(t, "PRIVMSG #cafe :caf\xe9 cr\xe8me")
	st.waitMessage(wait, "the latin-1 line", func(m *core.Message) bool { return m.Body == "café crème" })
}
