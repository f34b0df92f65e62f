package xmpp

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// joinRoomRaw joins c to #go without history and reads up to the subject,
// the last stanza of a join (XEP-0045 §7.2.15).
func joinRoomRaw(t *testing.T, c *rawClient) {
	t.Helper()
	c.send("<presence to='" + roomOccupant + "'><x xmlns='" + nsMUC + "'><history maxstanzas='0'/></x></presence>")
	for roomStanza(c).child(nsClient, "subject") == nil {
	}
}

// TestSlowDeviceDoesNotStallRoom: one device of a room stops reading; the
// other keeps getting every line, in order and at once, while the stuck
// one's socket is full. The Hub drops the stuck one: once it reads again
// it gets a gapless prefix of the lines, then the reset stream error.
func TestSlowDeviceDoesNotStallRoom(t *testing.T) {
	p := startPort(t)
	stuck := loginRaw(t, p, "stuck")
	joinRoomRaw(t, stuck)
	live := loginRaw(t, p, "live")
	joinRoomRaw(t, live)

	pad := strings.Repeat("a line long enough to fill a socket's buffers soon ", 80)
	// Until the Hub drops the stuck one: its socket is full (tcp_wmem
	// holds 4 MB at most, 1,000 lines) and 1,024 events wait behind.
	const perBatch, most = 50, 4000
	lines := 0
	for ; !p.logged("dropping slow session", "device=stuck"); lines += perBatch {
		if lines >= most {
			t.Fatalf("the Hub still holds the stuck device after %d lines", lines)
		}
		n := lines
		events := make([]core.Event, perBatch)
		for i := range events {
			events[i] = p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "bob", strconv.Itoa(n+i)+" "+pad)
		}
		start := time.Now()
		p.receive(t, events...)
		for i := range perBatch {
			m := roomStanza(live)
			if want := strconv.Itoa(n+i) + " "; !strings.HasPrefix(m.childText(nsClient, "body"), want) {
				t.Fatalf("the live device got %.40q, want line %d", m.childText(nsClient, "body"), n+i)
			}
		}
		// Generous for a loaded machine; a stall is the stuck device's
		// 30 s write timeout.
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("lines %d-%d took %v to reach the live device", n, n+perBatch-1, d)
		}
	}

	// Read before the stuck write times out (30 s): the pump's write
	// completes, then it learns of the drop.
	got := 0
	for {
		e := stuck.next()
		if e == nil {
			t.Fatalf("the stuck device's stream ended without an error after %d lines", got)
		}
		if e.Name.Local == "error" {
			if !isStreamError(e, "reset") {
				t.Fatalf("the stuck device's stream ended with %v, want reset", e)
			}
			break
		}
		if e.Name.Local != "message" {
			continue
		}
		if want := strconv.Itoa(got) + " "; !strings.HasPrefix(e.childText(nsClient, "body"), want) {
			t.Fatalf("the stuck device got %.40q, want line %d", e.childText(nsClient, "body"), got)
		}
		got++
	}
	if got >= lines {
		t.Fatalf("the stuck device got all %d lines; it was never behind", got)
	}
	t.Logf("the stuck device got %d of %d lines before the reset", got, lines)
}

// TestBusyLinkWaitsForItsTurn: a device that was quiet gets the Hub's
// line at once; once its link is busy (a take within 1.5 WriteCoalesce),
// the next lines wait for the link's turn and go out together, in order,
// while an iq's result does not wait. WriteCoalesce is seconds here, so
// that a loaded machine cannot blur the bounds; the port counts as busy
// at any rate (CoalesceAbove < 0).
func TestBusyLinkWaitsForItsTurn(t *testing.T) {
	const hold = 2 * time.Second
	p := startPort(t, func(c *Config) { c.WriteCoalesce, c.CoalesceAbove = hold, -1 })
	c := loginRaw(t, p, "desktop")
	joinRoomRaw(t, c)
	s := p.session(t, "desktop")
	line := func(body string) {
		p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "bob", body))
	}
	read := func(want string) time.Time {
		t.Helper()
		if m := roomStanza(c); m.childText(nsClient, "body") != want {
			t.Fatalf("got %v, want the line %q", m, want)
		}
		return time.Now()
	}

	time.Sleep(hold * 7 / 4) // the join's writes are long past: the link is quiet
	sent := time.Now()
	line("first")
	if d := read("first").Sub(sent); d >= hold {
		t.Errorf("a line after a quiet spell took %v; it should not wait for a turn (%v)", d, hold)
	}

	// Just past one of the link's turns, so the next is a whole period
	// away and both lines below wait for it.
	time.Sleep(p.srv.untilTurn(time.Now(), s.turnPhase) + 50*time.Millisecond)
	asked := time.Now()
	turn := asked.Add(p.srv.untilTurn(asked, s.turnPhase))
	line("second")
	c.send("<iq type='get' id='p1' to='" + testDomain + "'><ping xmlns='" + nsPing + "'/></iq>")
	if r := c.next(); r.Name.Local != "iq" || r.attr("id") != "p1" || r.attr("type") != "result" {
		t.Fatalf("while the link waited for its turn the device got %v first, want the ping's result", r)
	}
	if d := time.Since(asked); d >= hold/2 {
		t.Errorf("the ping's result came after %v; it should not wait for the turn (%v away)", d, time.Until(turn))
	}
	line("third")
	second := read("second")
	third := read("third")
	// The lower bound only: a loaded machine makes writes later, never
	// sooner. Less a little for the clocks' granularity.
	if early := turn.Sub(second); early > 50*time.Millisecond {
		t.Errorf("the busy link's line came %v before its turn", early)
	}
	if d := third.Sub(second); d > hold/4 {
		t.Errorf("the two lines that waited for the same turn came %v apart", d)
	}
}

func TestUntilTurn(t *testing.T) {
	const period = 20 * time.Millisecond
	srv := &Server{coalesce: period, turns: time.Unix(1000, 0)}
	for _, tc := range []struct {
		since, phase, want time.Duration
	}{
		{0, 0, 0},
		{0, 5 * time.Millisecond, 5 * time.Millisecond},  // the first turn is still ahead
		{3 * time.Millisecond, 0, 17 * time.Millisecond}, // into a period: until the next
		{25 * time.Millisecond, 5 * time.Millisecond, 0}, // on a turn
		{26 * time.Millisecond, 5 * time.Millisecond, 19 * time.Millisecond},
		{time.Hour + 4*time.Millisecond, 5 * time.Millisecond, time.Millisecond},
	} {
		if got := srv.untilTurn(srv.turns.Add(tc.since), tc.phase); got != tc.want {
			t.Errorf("%v after the start, phase %v: next turn in %v, want %v", tc.since, tc.phase, got, tc.want)
		}
	}
	for range 100 {
		if ph := srv.newTurnPhase(); ph < 0 || ph >= period {
			t.Fatalf("a turn phase of %v, outside the period of %v", ph, period)
		}
	}
}

// TestQuietPortWritesAtOnce: with the port far below CoalesceAbove, a
// busy link is not held back: each line goes out as it comes.
func TestQuietPortWritesAtOnce(t *testing.T) {
	const hold = 2 * time.Second
	p := startPort(t, func(c *Config) { c.WriteCoalesce = hold }) // the default threshold
	c := loginRaw(t, p, "desktop")
	joinRoomRaw(t, c)
	start := time.Now()
	for i := range 5 {
		body := "line " + strconv.Itoa(i)
		p.receive(t, p.incoming(core.Peer{Kind: core.Room, Remote: "#go"}, "bob", body))
		if m := roomStanza(c); m.childText(nsClient, "body") != body {
			t.Fatalf("got %v, want %q", m, body)
		}
	}
	if d := time.Since(start); d >= hold {
		t.Errorf("five lines in a row took %v on a quiet port; none should wait for the hold (%v)", d, hold)
	}
}

// countingConvs counts the port's reads of the user's conversations.
type countingConvs struct {
	Store
	reads atomic.Int32
}

func (c *countingConvs) Conversations(ctx context.Context, user core.UserID) ([]core.Conversation, error) {
	c.reads.Add(1)
	return c.Store.Conversations(ctx, user)
}

// TestNewConversationReadOnceForAllDevices: a line in a conversation new
// to the user makes every device that asked for the roster get a push for
// it, from one read of the conversations among them, not one each; the
// next roster get reads afresh.
func TestNewConversationReadOnceForAllDevices(t *testing.T) {
	var st *countingConvs
	p := startPort(t, func(c *Config) {
		st = &countingConvs{Store: c.Store}
		c.Store = st
	})
	var devices []*rawClient
	for i := range 3 {
		c := loginRaw(t, p, "dev"+strconv.Itoa(i))
		c.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
		c.expect("the roster", func(e *element) bool { return e.attr("id") == "r1" })
		devices = append(devices, c)
	}
	before := st.reads.Load()
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "carol"}, "carol", "new here"))
	for i, c := range devices {
		push := c.expect("the roster push", func(e *element) bool { return e.Name.Local == "iq" && e.attr("type") == "set" })
		if it := push.child(nsRoster, "query").child(nsRoster, "item"); it == nil || it.attr("jid") != "carol@libera."+testDomain {
			t.Errorf("device %d: roster push %v", i, push)
		}
		if m := c.expect("carol's line", func(e *element) bool { return e.Name.Local == "message" }); m.childText(nsClient, "body") != "new here" {
			t.Errorf("device %d: got %v", i, m)
		}
	}
	if n := st.reads.Load() - before; n != 1 {
		t.Errorf("the devices read the conversations %d times for the new one, want once", n)
	}
	devices[0].send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")
	devices[0].expect("the roster", func(e *element) bool { return e.attr("id") == "r2" })
	if n := st.reads.Load() - before; n != 2 {
		t.Errorf("with a roster get after it the conversations were read %d times, want 2 (a get reads afresh)", n)
	}
}
