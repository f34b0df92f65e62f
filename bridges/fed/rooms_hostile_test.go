package fed

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Rooms against hostile members and homes (notes/fedreview2.md).

// joinAll joins the users to room, in order.
func joinAll(t *testing.T, room string, users ...*recorder) {
	t.Helper()
	for _, u := range users {
		if err := u.b.JoinRoom(context.Background(), room, ""); err != nil {
			t.Fatalf("%s joins %s: %v", u.b.self, room, err)
		}
	}
}

// TestRoomSurvivesAMemberServerDown: a room's home files what it fans out
// under a local user's queue bound. When one member server is down (or
// a hostile member's server never takes its copies) and its backlog
// reaches the bound, the room must go on for everyone else, not refuse
// every further message (and jam each member server's queue to the home).
func TestRoomSurvivesAMemberServerDown(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	a.svc.maxQueued = 3
	c.know("carol")
	alice, bob, carol := a.user("alice"), b.user("bob"), c.user("carol")
	const room = "#lobby@a.test"
	joinAll(t, room, alice, bob, carol)
	waitFor(t, func() bool { return a.queue.pending() == 0 })
	c.stop() // carol's server goes away for good
	var want []string
	for i := 1; i <= 6; i++ {
		body := fmt.Sprintf("m%d", i)
		if err := bob.sendRoom(t, core.MessageID(i), room, body); err != nil {
			t.Fatal(err)
		}
		want = append(want, "bob@b.test: "+body)
	}
	alice.waitRoomLines(t, room, want...)
	// alice's own messages still reach bob.
	if err := alice.sendRoom(t, 100, room, "still here"); err != nil {
		t.Fatalf("alice posts: %v", err)
	}
	bob.waitRoomLines(t, room, "alice@a.test: still here")
}

// failingResolver answers no SRV record at once.
type failingResolver struct{}

func (failingResolver) LookupSRV(context.Context, string, string, string) (string, []*net.SRV, error) {
	return "", nil, &net.DNSError{Err: "no such host", IsNotFound: true}
}

// TestInvitesDoNotQueueForAnyDomain: any user of any domain may join an
// open room and have its home pass invitations on. The home must not
// keep, for days, a queue entry and a delivery worker for every domain a
// hostile member names: those fill the disk and the peer table (a peer
// with a worker is never forgotten), after which no new domain federates.
func TestInvitesDoNotQueueForAnyDomain(t *testing.T) {
	s := startServers(t, "a.test", "c.test")
	a, c := s["a.test"], s["c.test"]
	a.svc.discover, a.svc.resolver = true, failingResolver{}
	c.know("carol")
	alice, carol := a.user("alice"), c.user("carol")
	const room = "#lobby@a.test"
	joinAll(t, room, alice, carol)
	waitFor(t, func() bool { return a.queue.pending() == 0 })
	const n = 200
	var evs []Event
	for i := range n {
		evs = append(evs, Event{ID: fmt.Sprintf("inv-%d", i), Type: TypeInvite, From: "carol@c.test", To: room,
			// Domains that are addresses: nothing to look up, and the
			// private ones are refused at once (no DNS for other tests
			// to wait behind).
			Invitee: fmt.Sprintf("x@10.0.%d.%d", i/100, i%100+1), Time: time.Now().UTC()})
	}
	post(t, c, a, evs...)
	a.queue.mu.Lock()
	domains := map[string]bool{}
	for _, it := range a.queue.items {
		domains[it.Peer] = true
	}
	a.queue.mu.Unlock()
	a.svc.mu.Lock()
	workers := 0
	for _, p := range a.svc.peers {
		if p.running {
			workers++
		}
	}
	a.svc.mu.Unlock()
	if len(domains) > 10 || workers > 10 {
		t.Fatalf("one batch of a member's invitations left events queued for %d domains and %d delivery workers", len(domains), workers)
	}
	waitFor(t, func() bool { return len(a.svc.invitationSends) == 0 })
}

// TestInviteTakesNoOtherSendersIDs: an invitation is shown in the
// invitee's conversation with the inviter, who may be of any domain, but
// the home alone chose its event id. A home must not be able to take an
// id the inviter's own server will give a message (event ids are derived
// from time-ordered message ids), so that message is dropped as a
// duplicate when it comes.
func TestInviteTakesNoOtherSendersIDs(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	c.know("carol")
	bob, carol := b.user("bob"), c.user("carol")
	bob.dedupeLikeTheStore()
	next := core.MessageID(4242) // carol's next message, as a.test guesses it
	invite := Event{ID: eventID(carol.b.self, next), Type: TypeInvite, From: "#lobby@a.test", To: "bob@b.test",
		Sender: "carol@c.test", Invitee: "bob@b.test", Time: time.Now().UTC(), Body: "come"}
	if res := post(t, a, b, invite); res[0].Status != StatusAccepted {
		t.Fatalf("invitation %+v", res[0])
	}
	carol.send(t, next, "bob@b.test", "the real one")
	waitFor(t, func() bool { return c.queue.pending() == 0 })
	for _, m := range bob.messages() {
		if m.Peer.Remote == "carol@c.test" && m.Body == "the real one" {
			return
		}
	}
	t.Fatalf("carol's message was dropped; bob has %v", bodies(bob.messages()))
}

func bodies(ms []*core.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Peer.Remote+" "+m.OriginID+" "+m.Body)
	}
	return out
}

// postStatus sends a signed body to one of to's endpoints and returns the
// status and the answer.
func postStatus(t *testing.T, from, to *testServer, path string, body []byte) (int, []byte) {
	t.Helper()
	status, _, answer := exchange(t, from, to, signedRequestTo(t, from, to, path, body))
	return status, answer
}

// TestRoomShapedEventRejectedAlone: an event from a room that is no room
// event this server takes (a room writing to a user directly, or to a
// room of ours) is rejected alone, as unknown types are; it must not make
// the whole batch fail with 503, which the sender retries for days while
// everything behind it in its queue to us waits.
func TestRoomShapedEventRejectedAlone(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	bob := b.user("bob")
	now := time.Now().UTC()
	body, _ := json.Marshal(Batch{Events: []Event{
		{ID: "m1", Type: TypeMessage, From: "alice@a.test", To: "bob@b.test", Time: now, Kind: "chat", Body: "hi"},
		{ID: "r1", Type: TypeMessage, From: "#lobby@a.test", To: "bob@b.test", Time: now, Kind: "chat", Body: "a room writes to a user"},
		{ID: "r2", Type: TypeSubscribe, From: "#lobby@a.test", To: "bob@b.test", Time: now},
		{ID: "r3", Type: TypeMessage, From: "#lobby@a.test", To: "#ops@b.test", Time: now, Kind: "chat", Body: "a room writes to a room"},
	}})
	status, answer := postStatus(t, a, b, "events", body)
	var res BatchResult
	if status != http.StatusOK || json.Unmarshal(answer, &res) != nil || len(res.Results) != 4 {
		t.Fatalf("answer %d %s; want 200 with 4 results", status, answer)
	}
	want := []string{StatusAccepted, StatusRejected, StatusRejected, StatusRejected}
	for i, r := range res.Results {
		if r.Status != want[i] {
			t.Errorf("event %s: %+v, want %s", r.ID, r, want[i])
		}
	}
	bob.waitMessages(t, 1)
}

// TestInviteToUnreachableDomainRejected: an invitation the home may not
// pass on (a domain outside its peer map) is rejected alone, not a 503
// that the member's server would retry for days.
func TestInviteToUnreachableDomainRejected(t *testing.T) {
	s := startServers(t, "a.test", "c.test")
	a, c := s["a.test"], s["c.test"]
	c.know("carol")
	alice, carol := a.user("alice"), c.user("carol")
	const room = "#lobby@a.test"
	joinAll(t, room, alice, carol)
	body, _ := json.Marshal(Batch{Events: []Event{{ID: "inv-1", Type: TypeInvite, From: "carol@c.test", To: room,
		Invitee: "x@nowhere.test", Time: time.Now().UTC()}}})
	status, answer := postStatus(t, c, a, "events", body)
	var res BatchResult
	if status != http.StatusOK || json.Unmarshal(answer, &res) != nil || len(res.Results) != 1 || res.Results[0].Status != StatusRejected {
		t.Fatalf("answer %d %s; want 200 with the invitation rejected", status, answer)
	}
}

// TestHomeCannotBorrowLocalIDs: a room's home names the events it fans
// out and answers in its history; ids with the prefixes of this server's
// own origin ids would let it make the member's own next message in the
// room count as a duplicate (as for direct messages, refs.go).
func TestHomeCannotBorrowLocalIDs(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	const room = "#lobby@a.test"
	ctx := context.Background()
	joinAll(t, room, alice)
	archived := func(id, body string) {
		t.Helper()
		if _, _, err := a.rooms.AppendFedRoom(ctx, room, id, func(seq int64) ([]byte, error) {
			return json.Marshal(Event{ID: id, Type: TypeMessage, From: room, To: room, Sender: "alice@a.test", Seq: seq,
				Time: time.Now().UTC(), Kind: "chat", Body: body})
		}, roomArchiveKeep); err != nil {
			t.Fatal(err)
		}
	}
	archived("xmpp-origin:def", "reserved, in the history")
	archived("ok-1", "fine")
	if err := bob.b.JoinRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	bob.waitRoomLines(t, room, "alice@a.test: fine")
	ev := Event{ID: "xmpp-origin:abc", Type: TypeMessage, From: room, To: room, Sender: "alice@a.test", Seq: 99,
		Time: time.Now().UTC(), Kind: "chat", Body: "taken"}
	if res := post(t, a, b, ev); res[0].Status != StatusRejected {
		t.Fatalf("a home's event with a reserved id: %+v", res[0])
	}
	for _, m := range bob.messages() {
		if reservedID(m.OriginID) {
			t.Fatalf("stored under a reserved id: %+v", m)
		}
	}
}

// TestRoomMessageCarriesOnlyItsContent: the home archives and fans out a
// member's message; fields of other event types the member put in
// (reactions, an invitee, a read position) are not the home's to repeat
// to every member server and keep in the archive.
func TestRoomMessageCarriesOnlyItsContent(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, _ := a.user("alice"), b.user("bob")
	const room = "#lobby@a.test"
	ctx := context.Background()
	joinAll(t, room, alice)
	if _, err := a.svc.joinHome(ctx, Address{"#lobby", "a.test"}, Address{"bob", "b.test"}); err != nil {
		t.Fatal(err)
	}
	var junk []string
	for i := range 200 {
		junk = append(junk, fmt.Sprintf("%060d", i))
	}
	ev := Event{ID: "m1", Type: TypeMessage, From: "bob@b.test", To: room, Time: time.Now().UTC(), Kind: "chat", Body: "hi",
		Reactions: junk, Invitee: "x@c.test", Upto: "zzz", State: "composing", ReactsTo: "y"}
	if res := post(t, b, a, ev); res[0].Status != StatusAccepted {
		t.Fatalf("%+v", res[0])
	}
	h, err := a.svc.homeHistory(ctx, Address{"#lobby", "a.test"}, Address{"alice", "a.test"}, 0, 10)
	if err != nil || len(h) == 0 {
		t.Fatal(h, err)
	}
	got := h[len(h)-1]
	if len(got.Reactions) != 0 || got.Invitee != "" || got.Upto != "" || got.State != "" || got.ReactsTo != "" {
		t.Fatalf("archived %d reactions, invitee %q, upto %q, state %q, reacts_to %q", len(got.Reactions), got.Invitee, got.Upto, got.State, got.ReactsTo)
	}
}

// TestLeaveThenJoinAgain: a leave that still waits in the member server's
// queue (the home was unreachable, or the worker had not sent it yet)
// must not undo a join the user made after it: the member server would
// count the user in, the home out, and every later message of the room
// would miss them.
func TestLeaveThenJoinAgain(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	const room = "#lobby@a.test"
	ctx := context.Background()
	joinAll(t, room, alice, bob)
	// b.test delivers nothing for now, as while a.test was down.
	b.svc.mu.Lock()
	live := b.svc.runCtx
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	b.svc.runCtx = stopped
	b.svc.mu.Unlock()
	if err := bob.b.LeaveRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.b.JoinRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	b.svc.mu.Lock()
	b.svc.runCtx = live
	b.svc.mu.Unlock()
	p, _ := b.svc.peer("a.test")
	b.svc.kick(p)
	waitFor(t, func() bool { return b.queue.pending() == 0 })
	time.Sleep(200 * time.Millisecond) // whatever the leave set off
	if err := alice.sendRoom(t, 1, room, "are you in?"); err != nil {
		t.Fatal(err)
	}
	bob.waitRoomLines(t, room, "alice@a.test: are you in?")
}
