package xmpp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// mamFixture is alice's archive for the MAM tests: three batches of ten
// chat messages from bob and carol, stored a few milliseconds apart so
// that t1 and t2 fall between them, with what the archive must not show
// mixed in: room messages and a room event, a nick change in bob's chat,
// and messages from mallory, whom alice blocked. Three of the chats, a
// room message and mallory's say "zebra". Batch two holds alice's own
// reply to bob, sent from an XMPP client with id cli-1.
type mamFixture struct {
	p      *testPort
	t1, t2 time.Time
	// chats is what the user archive shows, in archive order; batches are
	// its three parts by time.
	chats   []*core.Message
	batches [3][]*core.Message
	room    []*core.Message // the room's chat messages
	skipped []*core.Message // stored, never shown without 'with' naming the room
	other   *core.Message   // a message of another user, bob@example.org
}

const (
	bobJID   = "bob@libera." + testDomain
	carolJID = "carol@libera." + testDomain
	roomJID  = "#go@libera." + testDomain
)

func newMAMFixture(t *testing.T) *mamFixture {
	t.Helper()
	ctx := context.Background()
	p := startPort(t)
	f := &mamFixture{p: p}
	if err := p.st.Block(ctx, p.user.ID, []string{"mallory@libera." + testDomain}); err != nil {
		t.Fatal(err)
	}
	direct := func(who string) core.Peer { return core.Peer{Kind: core.Direct, Remote: who} }
	room := core.Peer{Kind: core.Room, Remote: "#go"}
	for b := range 3 {
		var events []core.Event
		for i := range 10 {
			who := []string{"bob", "carol"}[i%2]
			body := fmt.Sprintf("batch %d message %d from %s", b+1, i, who)
			if i == 3*b+3 {
				body += " saw a zebra"
			}
			msg := p.incoming(direct(who), who, body)
			if b == 0 {
				// Said an hour before it was stored (a network's backlog):
				// the stamp shows this time, start and end the archive's.
				msg.Message.Time = time.Now().Add(-time.Hour + time.Duration(i)*time.Second)
			}
			events = append(events, msg)
			switch i {
			case 2:
				events = append(events, p.incoming(room, "dan", fmt.Sprintf("room chatter %d about a zebra", b)))
			case 5:
				join := p.incoming(room, "erin", "")
				join.Message.Kind = core.KindJoin
				events = append(events, join)
			case 7:
				events = append(events, p.incoming(direct("mallory"), "mallory", "mallory's zebra spam"))
			case 8:
				nick := p.incoming(direct("bob"), "bob", "bob is now known as bobby")
				nick.Message.Kind = core.KindNick
				events = append(events, nick)
			}
		}
		p.receive(t, events...)
		if b == 1 {
			hs, err := p.hub.Attach(ctx, p.user.ID, "fixture")
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.hub.Send(ctx, hs, &core.Message{Network: p.network.ID, Peer: direct("bob"), Kind: core.KindChat,
				Body: "alice answers bob", OriginID: "xmpp-origin:cli-1"})
			hs.Detach()
			if err != nil {
				t.Fatal(err)
			}
		}
		if b < 2 {
			time.Sleep(5 * time.Millisecond)
			if b == 0 {
				f.t1 = time.Now()
			} else {
				f.t2 = time.Now()
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	err := p.st.EachMessage(ctx, p.user.ID, func(m *core.Message) error {
		switch {
		case m.Peer.Kind == core.Room:
			if m.Kind == core.KindChat {
				f.room = append(f.room, m)
			}
			f.skipped = append(f.skipped, m)
		case m.Kind != core.KindChat || m.Peer.Remote == "mallory":
			f.skipped = append(f.skipped, m)
		default:
			f.chats = append(f.chats, m)
			switch {
			case m.ID < core.MessageIDAt(f.t1):
				f.batches[0] = append(f.batches[0], m)
			case m.ID < core.MessageIDAt(f.t2):
				f.batches[1] = append(f.batches[1], m)
			default:
				f.batches[2] = append(f.batches[2], m)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.chats) != 31 || len(f.batches[0]) != 10 || len(f.batches[1]) != 11 || len(f.batches[2]) != 10 ||
		len(f.room) != 3 || len(f.skipped) != 12 {
		t.Fatalf("fixture: %d chats in batches of %d, %d, %d; %d room messages; %d skipped", len(f.chats),
			len(f.batches[0]), len(f.batches[1]), len(f.batches[2]), len(f.room), len(f.skipped))
	}

	// Another account with a message of its own, which alice must never
	// reach.
	bob, err := p.st.CreateUser(ctx, "bob", "bob's password", false)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := p.st.CreateNetwork(ctx, core.Network{User: bob.ID, Name: "libera", Kind: core.KindIRC,
		Settings: core.Settings{"addr": "irc://127.0.0.1:1", "nick": "bob"}})
	if err != nil {
		t.Fatal(err)
	}
	f.other = &core.Message{User: bob.ID, Network: nw.ID, Peer: direct("carol"), Sender: core.Address{Addr: "carol"},
		Kind: core.KindChat, Body: "for bob's eyes only, zebra", Time: time.Now()}
	if err := p.st.Append(ctx, []core.Write{{Message: f.other}}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *mamFixture) with(who string) []*core.Message {
	var out []*core.Message
	for _, m := range f.chats {
		if m.Peer.Remote == who {
			out = append(out, m)
		}
	}
	return out
}

func (f *mamFixture) matching(word string) []*core.Message {
	var out []*core.Message
	for _, m := range f.chats {
		if strings.Contains(m.Body, word) {
			out = append(out, m)
		}
	}
	return out
}

func idsOf(ms []*core.Message) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID.String()
	}
	return out
}

// mamReply is what a raw client got for one query.
type mamReply struct {
	results []*element // the <message/> wrappers, in order
	iq      *element
}

func (r mamReply) ids() []string {
	var out []string
	for _, m := range r.results {
		out = append(out, m.child(nsMAM, "result").attr("id"))
	}
	return out
}

func (r mamReply) errCondition() string {
	if r.iq.attr("type") != "error" {
		return ""
	}
	if e := r.iq.child(nsClient, "error"); e != nil && len(e.Children) > 0 {
		return e.Children[0].Name.Local
	}
	return "?"
}

func (r mamReply) fin(t *testing.T) (first, last string, complete bool, count string) {
	t.Helper()
	fin := r.iq.child(nsMAM, "fin")
	if r.iq.attr("type") != "result" || fin == nil || fin.child(nsRSM, "set") == nil {
		t.Fatalf("the query was answered %v", r.iq)
	}
	set := fin.child(nsRSM, "set")
	return set.childText(nsRSM, "first"), set.childText(nsRSM, "last"), fin.attr("complete") == "true",
		set.childText(nsRSM, "count")
}

// mamQuery sends a query to attrs' address with inner as its content and
// reads the results up to the iq's answer.
func mamQuery(t *testing.T, c *rawClient, to, inner string) mamReply {
	t.Helper()
	id := "mam-" + randomID()[:8]
	toAttr := ""
	if to != "" {
		toAttr = " to='" + to + "'"
	}
	c.send("<iq type='set' id='" + id + "'" + toAttr + "><query xmlns='urn:xmpp:mam:2' queryid='q" + id + "'>" + inner + "</query></iq>")
	var r mamReply
	for {
		e := c.next()
		if e == nil {
			t.Fatalf("the stream ended during query %s", id)
		}
		if res := e.child(nsMAM, "result"); e.Name.Local == "message" && res != nil {
			if res.attr("queryid") != "q"+id {
				t.Fatalf("a result for query %q arrived during %s", res.attr("queryid"), id)
			}
			r.results = append(r.results, e)
			continue
		}
		if e.Name.Local == "iq" && e.attr("id") == id {
			r.iq = e
			return r
		}
	}
}

// form builds a submitted query form from var, value pairs. The fields
// have no type attribute, as many clients send them; FORM_TYPE has one.
func form(fields ...string) string {
	var b strings.Builder
	b.WriteString("<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>")
	for i := 0; i+1 < len(fields); i += 2 {
		b.WriteString("<field var='" + fields[i] + "'><value>" + fields[i+1] + "</value></field>")
	}
	b.WriteString("</x>")
	return b.String()
}

func rsm(parts ...string) string {
	return "<set xmlns='http://jabber.org/protocol/rsm'>" + strings.Join(parts, "") + "</set>"
}

func rsmMax(n int) string { return fmt.Sprintf("<max>%d</max>", n) }

// checkResult checks one result stanza against the stored message.
func checkResult(t *testing.T, wrapper *element, m *core.Message, archiveJID string) {
	t.Helper()
	res := wrapper.child(nsMAM, "result")
	fwd := res.child(nsForward, "forwarded")
	inner := fwd.child(nsClient, "message")
	if wrapper.attr("from") != archiveJID || wrapper.attr("to") != "alice@"+testDomain+"/desk" {
		t.Errorf("result for %s came from %q to %q", m.ID, wrapper.attr("from"), wrapper.attr("to"))
	}
	if res.attr("id") != m.ID.String() || inner == nil || inner.childText(nsClient, "body") != m.Body {
		t.Fatalf("result %v, want message %s %q", wrapper, m.ID, m.Body)
	}
	if got := fwd.child(nsDelay, "delay").attr("stamp"); got != stamp(m.Time) {
		t.Errorf("message %s stamped %q, want %q", m.ID, got, stamp(m.Time))
	}
	if inner.child(nsDelay, "delay") != nil {
		t.Errorf("the forwarded message carries its own delay: %v", inner)
	}
	peer := peerJID(core.Network{Name: "libera"}, m.Peer.Remote, testDomain)
	wantBy := "alice@" + testDomain
	if m.Peer.Kind == core.Room {
		wantBy = peer // a room's archive is the room's
	}
	if sid := inner.child(nsSID, "stanza-id"); sid.attr("id") != m.ID.String() || sid.attr("by") != wantBy {
		t.Errorf("stanza-id %v in %v, want by %s", sid, inner, wantBy)
	}
	wantFrom, wantTo, wantType := peer, "alice@"+testDomain, "chat"
	switch {
	case m.Peer.Kind == core.Room:
		wantFrom, wantType = peer+"/"+m.Sender.Addr, "groupchat"
		if archiveJID == peer {
			wantTo = ""
		}
	case m.Direction == core.Outgoing:
		wantFrom, wantTo = "alice@"+testDomain, peer
	}
	if inner.attr("from") != wantFrom || inner.attr("to") != wantTo || inner.attr("type") != wantType {
		t.Errorf("message %s archived from %q to %q type %q, want %q, %q, %q", m.ID,
			inner.attr("from"), inner.attr("to"), inner.attr("type"), wantFrom, wantTo, wantType)
	}
}

// pageThrough pages through a query max at a time, forward with RSM after
// or backward with RSM before, and returns the ids in the order received
// and each page's completeness.
func pageThrough(t *testing.T, c *rawClient, filter string, max int, backward bool) ([]string, []bool) {
	t.Helper()
	var got []string
	var completes []bool
	cursor := ""
	for range 100 {
		var set string
		switch {
		case backward:
			set = rsm(rsmMax(max), "<before>"+cursor+"</before>")
		case cursor == "":
			set = rsm(rsmMax(max))
		default:
			set = rsm(rsmMax(max), "<after>"+cursor+"</after>")
		}
		r := mamQuery(t, c, "", filter+set)
		first, last, complete, _ := r.fin(t)
		ids := r.ids()
		if len(ids) > max || len(ids) == 0 && !complete {
			t.Fatalf("a page of max %d held %d results, complete %v", max, len(ids), complete)
		}
		if len(ids) > 0 && (first != ids[0] || last != ids[len(ids)-1]) {
			t.Errorf("page %v reported first %s, last %s", ids, first, last)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("a page is not in archive order: %v", ids)
		}
		completes = append(completes, complete)
		if backward {
			got = append(slices.Clone(ids), got...)
			cursor = first
		} else {
			got = append(got, ids...)
			cursor = last
		}
		if complete {
			return got, completes
		}
	}
	t.Fatal("paging never completed")
	return nil, nil
}

func TestMAMRaw(t *testing.T) {
	f := newMAMFixture(t)
	c := loginRaw(t, f.p, "desk")

	t.Run("disco", func(t *testing.T) {
		c.send("<iq type='get' id='d1' to='alice@" + testDomain + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
		r := c.expect("disco#info", func(e *element) bool { return e.attr("id") == "d1" })
		var features []string
		for _, fe := range r.child(nsDiscoInfo, "query").Children {
			features = append(features, fe.attr("var"))
		}
		for _, want := range []string{nsMAM, nsMAMExtended, nsFulltext} {
			if !slices.Contains(features, want) {
				t.Errorf("disco#info of the account lacks %s: %v", want, features)
			}
		}
	})

	t.Run("no form", func(t *testing.T) {
		r := mamQuery(t, c, "", "")
		first, last, complete, count := r.fin(t)
		if want := idsOf(f.chats); !slices.Equal(r.ids(), want) {
			t.Fatalf("a query without a form returned\n%v, want\n%v", r.ids(), want)
		}
		for i, m := range f.chats {
			checkResult(t, r.results[i], m, "alice@"+testDomain)
		}
		if first != f.chats[0].ID.String() || last != f.chats[30].ID.String() || !complete || count != "31" {
			t.Errorf("fin: first %s, last %s, complete %v, count %q", first, last, complete, count)
		}
		// Alice's own reply keeps the id her client gave it.
		for _, res := range r.results {
			inner := res.child(nsMAM, "result").child(nsForward, "forwarded").child(nsClient, "message")
			if inner.childText(nsClient, "body") == "alice answers bob" &&
				(inner.attr("id") != "cli-1" || inner.child(nsSID, "origin-id").attr("id") != "cli-1") {
				t.Errorf("alice's reply archived as %v", inner)
			}
		}
	})

	t.Run("default and largest page", func(t *testing.T) {
		for _, set := range []string{"", rsm(rsmMax(10000))} {
			r := mamQuery(t, c, "", form()+set)
			if _, _, complete, _ := r.fin(t); len(r.ids()) != 31 || !complete {
				t.Errorf("query %q returned %d results, complete %v", set, len(r.ids()), complete)
			}
		}
		r := mamQuery(t, c, "", rsm(rsmMax(0)))
		if first, _, complete, count := r.fin(t); len(r.results) != 0 || first != "" || complete || count != "" {
			t.Errorf("max 0: %d results, first %q, complete %v, count %q", len(r.results), first, complete, count)
		}
	})

	t.Run("forward", func(t *testing.T) {
		got, completes := pageThrough(t, c, form(), 7, false)
		if !slices.Equal(got, idsOf(f.chats)) {
			t.Errorf("paging forward returned\n%v, want\n%v", got, idsOf(f.chats))
		}
		if want := []bool{false, false, false, false, true}; !slices.Equal(completes, want) {
			t.Errorf("pages complete %v, want %v", completes, want)
		}
		// The first page starts the result set.
		r := mamQuery(t, c, "", rsm(rsmMax(7)))
		if first := r.iq.child(nsMAM, "fin").child(nsRSM, "set").child(nsRSM, "first"); first.attr("index") != "0" {
			t.Errorf("the first page's first: %v", first)
		}
	})

	t.Run("backward", func(t *testing.T) {
		got, completes := pageThrough(t, c, "", 7, true)
		if !slices.Equal(got, idsOf(f.chats)) {
			t.Errorf("paging backward returned\n%v, want\n%v", got, idsOf(f.chats))
		}
		if want := []bool{false, false, false, false, true}; !slices.Equal(completes, want) {
			t.Errorf("pages complete %v, want %v", completes, want)
		}
		r := mamQuery(t, c, "", rsm(rsmMax(3), "<before/>"))
		if want := idsOf(f.chats[28:]); !slices.Equal(r.ids(), want) {
			t.Errorf("the last page of 3 is %v, want %v", r.ids(), want)
		}
	})

	t.Run("flip", func(t *testing.T) {
		r := mamQuery(t, c, "", rsm(rsmMax(3), "<before/>")+"<flip-page xmlns='urn:xmpp:mam:2'/>")
		want := idsOf(f.chats[28:])
		slices.Reverse(want)
		first, last, _, _ := r.fin(t)
		if !slices.Equal(r.ids(), want) || first != f.chats[28].ID.String() || last != f.chats[30].ID.String() {
			t.Errorf("the flipped last page is %v (first %s, last %s), want %v", r.ids(), first, last, want)
		}
	})

	t.Run("with", func(t *testing.T) {
		for _, who := range []string{"bob", "carol"} {
			r := mamQuery(t, c, "", form("with", who+"@libera."+testDomain))
			want := f.with(who)
			if !slices.Equal(r.ids(), idsOf(want)) {
				t.Errorf("with %s: %v, want %v", who, r.ids(), idsOf(want))
			}
			got, _ := pageThrough(t, c, form("with", who+"@libera."+testDomain), 4, true)
			if !slices.Equal(got, idsOf(want)) {
				t.Errorf("with %s paged backward: %v, want %v", who, got, idsOf(want))
			}
		}
		if len(f.with("bob")) != 16 {
			t.Errorf("bob's chat holds %d messages", len(f.with("bob")))
		}
		// IRC nicks are case-insensitive.
		r := mamQuery(t, c, "", form("with", "BOB@libera."+testDomain))
		if !slices.Equal(r.ids(), idsOf(f.with("bob"))) {
			t.Errorf("with BOB: %v", r.ids())
		}
		for _, nobody := range []string{"dave@libera." + testDomain, "alice@" + testDomain, "x@elsewhere.net", "mallory@libera." + testDomain} {
			r := mamQuery(t, c, "", form("with", nobody))
			if _, _, complete, _ := r.fin(t); len(r.results) != 0 || !complete {
				t.Errorf("with %s: %d results, complete %v", nobody, len(r.results), complete)
			}
		}
		// Naming the room reads its chat messages; its events stay out.
		r = mamQuery(t, c, "", form("with", roomJID))
		if !slices.Equal(r.ids(), idsOf(f.room)) {
			t.Fatalf("with the room: %v, want %v", r.ids(), idsOf(f.room))
		}
		for i, m := range f.room {
			checkResult(t, r.results[i], m, "alice@"+testDomain)
		}
	})

	t.Run("room archive", func(t *testing.T) {
		r := mamQuery(t, c, roomJID, rsm(rsmMax(2), "<before/>"))
		if !slices.Equal(r.ids(), idsOf(f.room[1:])) {
			t.Fatalf("the room's last page: %v, want %v", r.ids(), idsOf(f.room[1:]))
		}
		for i, m := range f.room[1:] {
			checkResult(t, r.results[i], m, roomJID)
		}
		if _, _, complete, _ := r.fin(t); complete {
			t.Error("the room's last page of 2 out of 3 says it is complete")
		}
	})

	t.Run("time", func(t *testing.T) {
		iso := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
		var carolBetween []*core.Message
		for _, m := range f.batches[1] {
			if m.Peer.Remote == "carol" {
				carolBetween = append(carolBetween, m)
			}
		}
		cases := []struct {
			name   string
			fields []string
			want   []*core.Message
		}{
			{"start", []string{"start", iso(f.t1)}, append(slices.Clone(f.batches[1]), f.batches[2]...)},
			{"end", []string{"end", iso(f.t1)}, f.batches[0]},
			{"between", []string{"start", iso(f.t1), "end", iso(f.t2)}, f.batches[1]},
			{"with between", []string{"with", carolJID, "start", iso(f.t1), "end", iso(f.t2)}, carolBetween},
			{"offset", []string{"start", f.t2.In(time.FixedZone("", 2*3600)).Format(time.RFC3339Nano)}, f.batches[2]},
			// The end is inclusive to the millisecond, and batch one was
			// stored within one.
			{"end at a message", []string{"end", iso(f.batches[0][9].ID.Time())}, f.batches[0]},
			{"before 1970", []string{"end", "1960-01-01T00:00:00Z"}, nil},
			{"far future", []string{"start", "9999-01-01T00:00:00Z"}, nil},
		}
		for _, tc := range cases {
			r := mamQuery(t, c, "", form(tc.fields...))
			if _, _, complete, _ := r.fin(t); !slices.Equal(r.ids(), idsOf(tc.want)) || !complete {
				t.Errorf("%s: %v (complete %v), want %v", tc.name, r.ids(), complete, idsOf(tc.want))
			}
		}
		// Paging backwards inside a time window stays inside it.
		got, _ := pageThrough(t, c, form("start", iso(f.t1), "end", iso(f.t2)), 3, true)
		if !slices.Equal(got, idsOf(f.batches[1])) {
			t.Errorf("paging the window backward: %v, want %v", got, idsOf(f.batches[1]))
		}
	})

	t.Run("before-id and after-id", func(t *testing.T) {
		r := mamQuery(t, c, "", form("after-id", f.chats[5].ID.String(), "before-id", f.chats[9].ID.String()))
		if !slices.Equal(r.ids(), idsOf(f.chats[6:9])) {
			t.Errorf("between ids: %v, want %v", r.ids(), idsOf(f.chats[6:9]))
		}
		// A skipped message's id is in the archive, so it is a bound.
		r = mamQuery(t, c, "", form("after-id", f.skipped[0].ID.String()))
		var want []*core.Message
		for _, m := range f.chats {
			if m.ID > f.skipped[0].ID {
				want = append(want, m)
			}
		}
		if !slices.Equal(r.ids(), idsOf(want)) {
			t.Errorf("after a room message: %v, want %v", r.ids(), idsOf(want))
		}
	})

	t.Run("ids", func(t *testing.T) {
		pick := []*core.Message{f.chats[20], f.chats[3], f.skipped[1]}
		// A list-multi field: one value per id.
		r := mamQuery(t, c, "", "<x xmlns='jabber:x:data' type='submit'><field var='ids'><value>"+pick[0].ID.String()+
			"</value><value>"+pick[1].ID.String()+"</value><value>"+pick[2].ID.String()+"</value></field></x>")
		if want := idsOf([]*core.Message{f.chats[3], f.chats[20]}); !slices.Equal(r.ids(), want) {
			t.Errorf("ids: %v, want %v (the room message skipped)", r.ids(), want)
		}
		checkResult(t, r.results[0], f.chats[3], "alice@"+testDomain)
		// The other filters still apply.
		bobs, carols := f.with("bob"), f.with("carol")
		ids := "<field var='ids'><value>" + bobs[1].ID.String() + "</value><value>" + carols[1].ID.String() +
			"</value><value>" + bobs[14].ID.String() + "</value></field>"
		r = mamQuery(t, c, "", "<x xmlns='jabber:x:data' type='submit'><field var='with'><value>"+bobJID+"</value></field>"+ids+"</x>")
		if want := idsOf([]*core.Message{bobs[1], bobs[14]}); !slices.Equal(r.ids(), want) {
			t.Errorf("ids with bob: %v, want %v", r.ids(), want)
		}
		r = mamQuery(t, c, "", "<x xmlns='jabber:x:data' type='submit'><field var='end'><value>"+
			f.t1.UTC().Format(time.RFC3339Nano)+"</value></field>"+ids+"</x>")
		if want := idsOf([]*core.Message{bobs[1], carols[1]}); !slices.Equal(r.ids(), want) || bobs[14].ID < core.MessageIDAt(f.t1) {
			t.Errorf("ids before t1: %v, want %v", r.ids(), want)
		}
	})

	t.Run("fulltext", func(t *testing.T) {
		zebras := f.matching("zebra")
		if len(zebras) != 3 {
			t.Fatalf("%d chats mention a zebra", len(zebras))
		}
		r := mamQuery(t, c, "", form(fulltextField, "zebra"))
		if !slices.Equal(r.ids(), idsOf(zebras)) {
			t.Errorf("fulltext zebra: %v, want %v", r.ids(), idsOf(zebras))
		}
		got, _ := pageThrough(t, c, form(fulltextField, "zebra"), 2, true)
		if !slices.Equal(got, idsOf(zebras)) {
			t.Errorf("fulltext paged backward: %v, want %v", got, idsOf(zebras))
		}
		got, completes := pageThrough(t, c, form(fulltextField, "zebra"), 2, false)
		if !slices.Equal(got, idsOf(zebras)) || !slices.Equal(completes, []bool{false, true}) {
			t.Errorf("fulltext paged forward: %v %v, want %v", got, completes, idsOf(zebras))
		}
		r = mamQuery(t, c, "", form(fulltextField, "zebra", "with", carolJID))
		if want := idsOf([]*core.Message{zebras[0], zebras[2]}); !slices.Equal(r.ids(), want) ||
			zebras[0].Peer.Remote != "carol" || zebras[2].Peer.Remote != "carol" {
			t.Errorf("fulltext zebra with carol: %v, want %v", r.ids(), want)
		}
		r = mamQuery(t, c, "", form(fulltextField, "zebra", "start", f.t1.UTC().Format(time.RFC3339Nano)))
		if !slices.Equal(r.ids(), idsOf(zebras[1:])) {
			t.Errorf("fulltext zebra since t1: %v, want %v", r.ids(), idsOf(zebras[1:]))
		}
		r = mamQuery(t, c, roomJID, form(fulltextField, "zebra"))
		if !slices.Equal(r.ids(), idsOf(f.room)) {
			t.Errorf("fulltext zebra in the room: %v, want %v", r.ids(), idsOf(f.room))
		}
		// More hits in a conversation than a page holds, paged forward and
		// backward: every incoming chat says "message".
		var incoming []*core.Message
		for _, m := range f.chats {
			if m.Direction == core.Incoming {
				incoming = append(incoming, m)
			}
		}
		for _, backward := range []bool{false, true} {
			got, _ := pageThrough(t, c, form(fulltextField, "message"), 4, backward)
			if !slices.Equal(got, idsOf(incoming)) {
				t.Errorf("fulltext message paged (backward %v): %v, want %v", backward, got, idsOf(incoming))
			}
		}
		r = mamQuery(t, c, "", form(fulltextField, "okapi"))
		if _, _, complete, _ := r.fin(t); len(r.results) != 0 || !complete {
			t.Errorf("fulltext okapi: %v", r.ids())
		}
	})

	t.Run("metadata", func(t *testing.T) {
		c.send("<iq type='get' id='md1'><metadata xmlns='urn:xmpp:mam:2'/></iq>")
		r := c.expect("metadata", func(e *element) bool { return e.attr("id") == "md1" })
		md := r.child(nsMAM, "metadata")
		start, end := md.child(nsMAM, "start"), md.child(nsMAM, "end")
		if start.attr("id") != f.chats[0].ID.String() || end.attr("id") != f.chats[30].ID.String() ||
			start.attr("timestamp") != stamp(f.chats[0].Time) || end.attr("timestamp") != stamp(f.chats[30].Time) {
			t.Errorf("metadata %v", r)
		}
	})

	t.Run("form", func(t *testing.T) {
		c.send("<iq type='get' id='f1'><query xmlns='urn:xmpp:mam:2'/></iq>")
		r := c.expect("the form", func(e *element) bool { return e.attr("id") == "f1" })
		var vars []string
		for _, fe := range r.child(nsMAM, "query").child(nsDataForms, "x").Children {
			vars = append(vars, fe.attr("var"))
		}
		if want := []string{"FORM_TYPE", "with", "start", "end", "before-id", "after-id", "ids", fulltextField}; !slices.Equal(vars, want) {
			t.Errorf("form fields %v, want %v", vars, want)
		}
	})

	t.Run("errors", func(t *testing.T) {
		unknown := core.MessageIDAt(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)).String()
		cases := []struct {
			name, to, inner, condition string
		}{
			{"unknown RSM after", "", rsm("<after>" + unknown + "</after>"), "item-not-found"},
			{"unknown RSM before", "", rsm("<before>" + unknown + "</before>"), "item-not-found"},
			{"unknown after-id", "", form("after-id", unknown), "item-not-found"},
			{"garbage after-id", "", form("after-id", "not-an-id"), "item-not-found"},
			{"unknown id", "", form("ids", unknown), "item-not-found"},
			{"another user's message", "", form("ids", f.other.ID.String()), "item-not-found"},
			{"another user's message as after", "", rsm("<after>" + f.other.ID.String() + "</after>"), "item-not-found"},
			{"malformed start", "", form("start", "yesterday"), "bad-request"},
			{"malformed end", "", form("end", "2024-13-01T00:00:00Z"), "bad-request"},
			{"malformed with", "", form("with", "@@"), "bad-request"},
			{"negative max", "", rsm("<max>-1</max>"), "bad-request"},
			{"max not a number", "", rsm("<max>ten</max>"), "bad-request"},
			{"wrong FORM_TYPE", "", "<x xmlns='jabber:x:data' type='submit'><field var='FORM_TYPE'><value>urn:xmpp:mam:1</value></field></x>", "bad-request"},
			{"two starts", "", form("start", "2020-01-01T00:00:00Z", "start", "2021-01-01T00:00:00Z"), "bad-request"},
			{"ids with fulltext", "", form("ids", f.chats[0].ID.String(), fulltextField, "zebra"), "bad-request"},
			{"bad fulltext", "", form(fulltextField, "zebra OR"), "bad-request"},
			{"unknown field", "", form("include-groupchat", "true"), "feature-not-implemented"},
			{"RSM index", "", rsm("<index>3</index>"), "feature-not-implemented"},
			{"another user", "bob@" + testDomain, "", "forbidden"},
			{"another user's resource", "bob@" + testDomain + "/phone", "", "forbidden"},
			{"the server", testDomain, "", "service-unavailable"},
			{"a contact", bobJID, "", "service-unavailable"},
			{"a network", "libera." + testDomain, "", "service-unavailable"},
			{"with in a room archive", roomJID, form("with", bobJID), "feature-not-implemented"},
		}
		for _, tc := range cases {
			r := mamQuery(t, c, tc.to, tc.inner)
			if got := r.errCondition(); got != tc.condition || len(r.results) != 0 {
				t.Errorf("%s: answered %q with %d results, want %s: %v", tc.name, got, len(r.results), tc.condition, r.iq)
			}
		}
	})
}

// TestMAMSlixmpp runs the archive queries slixmpp, a real client library,
// sends: its forms carry an untyped 'with'.
func TestMAMSlixmpp(t *testing.T) {
	f := newMAMFixture(t)
	c := f.p.slix(t, "phone", true)
	c.Expect(t, slixWait, slixEv("session_start"))
	query := func(cmd map[string]any) map[string]any {
		t.Helper()
		tag := fmt.Sprint(time.Now().UnixNano())
		cmd["cmd"], cmd["tag"] = "mam", tag
		c.Do(t, cmd)
		return c.Expect(t, slixWait, func(ev map[string]any) bool {
			return ev["tag"] == tag && (ev["event"] == "mam_result" || ev["event"] == "iq_error")
		})
	}
	archiveIDs := func(res map[string]any) []string {
		t.Helper()
		if res["event"] != "mam_result" {
			t.Fatalf("the query failed: %v", res)
		}
		var out []string
		for _, m := range slixList(res["messages"]) {
			out = append(out, fmt.Sprint(m.(map[string]any)["archive_id"]))
		}
		return out
	}

	res := query(map[string]any{})
	if got := archiveIDs(res); !slices.Equal(got, idsOf(f.chats)) || res["complete"] != true ||
		res["first"] != f.chats[0].ID.String() || res["last"] != f.chats[30].ID.String() || res["count"] != 31.0 {
		t.Fatalf("the whole archive: %v", res)
	}
	for i, m := range slixList(res["messages"]) {
		m := m.(map[string]any)
		want := f.chats[i]
		from, to := "", "alice@"+testDomain
		if want.Direction == core.Outgoing {
			from, to = "alice@"+testDomain, bobJID
		} else {
			from = want.Peer.Remote + "@libera." + testDomain
		}
		if m["body"] != want.Body || m["from"] != from || m["to"] != to || m["stamp"] != stamp(want.Time) ||
			m["result_from"] != "alice@"+testDomain || m["stanza_id"] != want.ID.String() {
			t.Errorf("result %d: %v, want %q from %s to %s", i, m, want.Body, from, to)
		}
	}

	// Forward with after, then backward from the last page with before.
	var got []string
	for after := ""; ; {
		cmd := map[string]any{"max": 8}
		if after != "" {
			cmd["after"] = after
		}
		res := query(cmd)
		page := archiveIDs(res)
		got = append(got, page...)
		if res["complete"] == true {
			break
		}
		if len(page) != 8 || len(got) > 31 {
			t.Fatalf("forward page %v", res)
		}
		after = fmt.Sprint(res["last"])
	}
	if !slices.Equal(got, idsOf(f.chats)) {
		t.Errorf("paging forward: %v, want %v", got, idsOf(f.chats))
	}
	got = nil
	for before := ""; ; {
		res := query(map[string]any{"max": 8, "before": before})
		page := archiveIDs(res)
		got = append(page, got...)
		if res["complete"] == true {
			break
		}
		if len(page) != 8 || len(got) > 31 {
			t.Fatalf("backward page %v", res)
		}
		before = fmt.Sprint(res["first"])
	}
	if !slices.Equal(got, idsOf(f.chats)) {
		t.Errorf("paging backward: %v, want %v", got, idsOf(f.chats))
	}

	if got := archiveIDs(query(map[string]any{"with": carolJID})); !slices.Equal(got, idsOf(f.with("carol"))) {
		t.Errorf("with carol: %v, want %v", got, idsOf(f.with("carol")))
	}
	window := query(map[string]any{"start": f.t1.UTC().Format(time.RFC3339Nano), "end": f.t2.UTC().Format(time.RFC3339Nano)})
	if got := archiveIDs(window); !slices.Equal(got, idsOf(f.batches[1])) {
		t.Errorf("between t1 and t2: %v, want %v", got, idsOf(f.batches[1]))
	}
	if got := archiveIDs(query(map[string]any{"fulltext": "zebra"})); !slices.Equal(got, idsOf(f.matching("zebra"))) {
		t.Errorf("fulltext zebra: %v, want %v", got, idsOf(f.matching("zebra")))
	}
	flipped := archiveIDs(query(map[string]any{"with": bobJID, "max": 3, "before": "", "flip": true}))
	want := idsOf(f.with("bob"))
	want = want[len(want)-3:]
	slices.Reverse(want)
	if !slices.Equal(flipped, want) {
		t.Errorf("bob's last page flipped: %v, want %v", flipped, want)
	}

	unknown := core.MessageIDAt(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)).String()
	if res := query(map[string]any{"after": unknown}); res["event"] != "iq_error" || res["condition"] != "item-not-found" {
		t.Errorf("after an unknown id: %v", res)
	}
	if res := query(map[string]any{"start": "last tuesday"}); res["event"] != "iq_error" || res["condition"] != "bad-request" {
		t.Errorf("a malformed start: %v", res)
	}
	if res := query(map[string]any{"to": "bob@" + testDomain}); res["event"] != "iq_error" || res["condition"] != "forbidden" {
		t.Errorf("bob's archive: %v", res)
	}
}

// TestParseMAMQuery covers what the form and RSM parser accepts and how it
// refuses the rest.
func TestParseMAMQuery(t *testing.T) {
	id := core.MessageIDAt(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC))
	cases := []struct {
		name, inner string
		check       func(*mamParams) bool
		condition   string
	}{
		{"nothing", "", func(p *mamParams) bool {
			return p.max == mamDefaultPage && p.win == window{} && !p.backward && !p.hasWith
		}, ""},
		{"untyped with", "<x xmlns='jabber:x:data'><field var='with'><value> bob@libera.example.org </value></field></x>",
			func(p *mamParams) bool { return p.hasWith && p.with == "bob@libera.example.org" }, ""},
		{"empty with", form("with", ""), func(p *mamParams) bool { return !p.hasWith }, ""},
		{"start", form("start", "2024-05-01T12:00:00Z"), func(p *mamParams) bool { return p.win == window{lo: id - 1} }, ""},
		{"end", form("end", "2024-05-01T12:00:00Z"),
			func(p *mamParams) bool { return p.win == window{hi: core.MessageIDAt(id.Time().Add(time.Millisecond))} }, ""},
		{"start with offset and fraction", form("start", "2024-05-01T14:00:00.000+02:00"),
			func(p *mamParams) bool { return p.win == window{lo: id - 1} }, ""},
		{"RSM narrows the form", form("after-id", (id+5).String()) + rsm("<after>"+(id+2).String()+"</after><before>"+(id+9).String()+"</before>"),
			func(p *mamParams) bool {
				return p.win == window{lo: id + 5, hi: id + 9} && p.backward && p.cursor && len(p.mustExist) == 3
			}, ""},
		{"empty before", rsm("<before/>"), func(p *mamParams) bool { return p.backward && !p.cursor }, ""},
		{"max capped", rsm(rsmMax(100000)), func(p *mamParams) bool { return p.max == mamMaxPage }, ""},
		{"ids", form("ids", id.String()), func(p *mamParams) bool { return slices.Equal(p.ids, []core.MessageID{id}) }, ""},
		{"flip", "<flip-page xmlns='urn:xmpp:mam:2'/>", func(p *mamParams) bool { return p.flip }, ""},
		{"form not submitted", "<x xmlns='jabber:x:data' type='form'/>", nil, "bad-request"},
		{"date without zone", form("start", "2024-05-01T12:00:00"), nil, "bad-request"},
		{"two withs", "<x xmlns='jabber:x:data'><field var='with'><value>a@b</value><value>c@d</value></field></x>", nil, "bad-request"},
		{"too many ids", "<x xmlns='jabber:x:data'><field var='ids'>" + strings.Repeat("<value>"+id.String()+"</value>", mamMaxIDs+1) + "</field></x>",
			nil, "policy-violation"},
		{"garbage RSM before", rsm("<before>xyz</before>"), nil, "item-not-found"},
		{"unknown field", form("urn:example:whatever", "1"), nil, "feature-not-implemented"},
	}
	for _, tc := range cases {
		q, err := readTestElement("<query xmlns='urn:xmpp:mam:2'>" + tc.inner + "</query>")
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		p, err := parseMAMQuery(q)
		var f *stanzaFailure
		switch {
		case tc.condition == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.condition == "" && !tc.check(p):
			t.Errorf("%s: parsed as %+v", tc.name, p)
		case tc.condition != "" && (!errors.As(err, &f) || f.condition != tc.condition):
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.condition)
		}
	}
}

func readTestElement(s string) (*element, error) {
	dec := xml.NewDecoder(strings.NewReader(s))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if start, ok := tok.(xml.StartElement); ok {
			return readElement(dec, start)
		}
	}
}

// TestOfflineMessageComesByMAM: a message that arrives while no device is
// connected is not pushed to the next device that connects; it is in
// the archive, so the server does not advertise offline delivery
// ("msgoffline", XEP-0160) it does not do.
func TestOfflineMessageComesByMAM(t *testing.T) {
	p := startPort(t)
	first := loginRaw(t, p, "desk")
	first.send("<presence/>")
	first.send("</stream:stream>")
	for first.next() != nil { // up to the server's end of the stream
	}
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "sent while away"))
	var stored string
	for deadline := time.Now().Add(10 * time.Second); stored == ""; {
		if time.Now().After(deadline) {
			t.Fatal("bob's message was never stored")
		}
		found, err := p.st.Search(context.Background(), core.SearchQuery{User: p.user.ID, Text: "away"})
		if err == nil && len(found) == 1 {
			stored = found[0].Message.ID.String()
		}
		time.Sleep(20 * time.Millisecond)
	}

	c := loginRaw(t, p, "phone")
	c.send("<presence/>")
	time.Sleep(300 * time.Millisecond) // what the port would push at login goes before the answer below
	c.send("<iq type='get' id='d1' to='" + testDomain + "'><query xmlns='" + nsDiscoInfo + "'/></iq>")
	r := c.expect("disco#info", func(e *element) bool {
		if e.Name.Local == "message" && e.childText(nsClient, "body") == "sent while away" {
			t.Errorf("the message was pushed at login: %v", e)
		}
		return e.attr("id") == "d1"
	})
	for _, fe := range r.child(nsDiscoInfo, "query").Children {
		if fe.attr("var") == "msgoffline" {
			t.Errorf("the server advertises msgoffline (XEP-0160) but pushes nothing at login")
		}
	}
	if got := mamQuery(t, c, "", "").ids(); !slices.Equal(got, []string{stored}) {
		t.Errorf("the archive holds %v, want bob's message %s", got, stored)
	}
}
