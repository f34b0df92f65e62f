package httpapi

import (
	"fmt"
	"testing"
	"time"
)

// TestEventsResume drops an SSE stream, lets messages arrive while it is
// gone, and checks the reconnect with Last-Event-ID gets exactly those,
// then the live ones, with none lost or repeated at the join.
func TestEventsResume(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	sse := e.events(tok, "")
	// Connecting tells the network state, then "ready".
	if ev := sse.next("network", "ready"); ev.name != "network" {
		t.Fatalf("first event %+v, want the network's state", ev)
	}
	ready := sse.next("ready")
	if ready.id == "" {
		t.Fatal("ready carries no id to resume from")
	}
	b.incoming(t, "#a", "m1", "m2")
	var last string
	for _, want := range []string{"m1", "m2"} {
		ev := sse.next("message")
		if m := messageOf(t, ev); m.Body != want || ev.id != m.ID {
			t.Fatalf("live %+v, want %s with its id", ev, want)
		}
		last = ev.id
	}
	sse.close()

	// While away: three messages and a read marker.
	b.incoming(t, "#a", "m3", "m4")
	b.incoming(t, "#b", "m5")
	c := e.convOf(tok, "#a")
	e.mustDo("PUT", fmt.Sprintf("/api/v1/conversations/%d/read", c.ID), tok, map[string]string{"upto": c.Last.ID}, 204, nil)

	again := e.events(tok, last)
	var got []string
	for range 3 {
		ev := again.next("message")
		got = append(got, messageOf(t, ev).Body)
		last = ev.id
	}
	if fmt.Sprint(got) != "[m3 m4 m5]" {
		t.Fatalf("replayed %v, want [m3 m4 m5]", got)
	}
	if ev := again.next("ready"); ev.id != last {
		t.Fatalf("ready id %q, want the last replayed %q", ev.id, last)
	}
	// The marker came in the replay too (read before ready: check the
	// stream kept it).
	b.incoming(t, "#a", "m6")
	if m := messageOf(t, again.next("message")); m.Body != "m6" {
		t.Fatalf("live after replay: %+v", m)
	}
	again.quiet(200*time.Millisecond, "message")

	// A stream that resumes from "ready" of a connection that saw no
	// message gets what came after it connected.
	fresh := e.events(tok, "")
	mark := fresh.next("ready").id
	fresh.close()
	b.incoming(t, "#a", "m7")
	resumed := e.events(tok, mark)
	if m := messageOf(t, resumed.next("message")); m.Body != "m7" {
		t.Fatalf("resumed from ready: %+v", m)
	}
	e.wantProblem(e.do("GET", "/api/v1/events", tok, nil, "Last-Event-ID", "bogus"), 400, "Last-Event-ID")
}

func TestEventsMarkerReplayed(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	b.incoming(t, "#a", "m1")
	sse := e.events(tok, "")
	last := sse.next("ready").id
	sse.close()
	c := e.convOf(tok, "#a")
	e.mustDo("PUT", fmt.Sprintf("/api/v1/conversations/%d/read", c.ID), tok, map[string]string{"upto": c.Last.ID}, 204, nil)
	again := e.events(tok, last)
	ev := again.next("read", "ready")
	if ev.name != "read" {
		t.Fatalf("got %+v before any read marker", ev)
	}
}

func TestEventsEndWhenTokenRevoked(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	var list struct{ Tokens []tokenJSON }
	e.mustDo("GET", "/api/v1/tokens", tok, nil, 200, &list)
	// The check runs at each heartbeat: make them frequent.
	e.srv.heartbeat = 20 * time.Millisecond
	sse := e.events(tok, "")
	sse.next("ready")
	e.mustDo("DELETE", fmt.Sprintf("/api/v1/tokens/%d", list.Tokens[0].ID), tok, nil, 204, nil)
	sse.next("unauthorized")
}
