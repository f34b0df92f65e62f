package fed

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// memRooms is a core.FedRoomStore in memory.
type memRooms struct {
	mu      sync.Mutex
	members map[string][]core.FedRoomMember // hosted rooms
	archive map[string][]core.FedRoomEntry
	joined  map[string]map[string]bool // room -> local users
}

func newMemRooms() *memRooms {
	return &memRooms{members: map[string][]core.FedRoomMember{}, archive: map[string][]core.FedRoomEntry{},
		joined: map[string]map[string]bool{}}
}

func (r *memRooms) JoinFedRoom(_ context.Context, room, member string, create bool, max int) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms, ok := r.members[room]
	aff := affiliationMember
	if !ok {
		if !create {
			return false, core.ErrNoSuchRoom
		}
		aff = affiliationOwner
	}
	for _, m := range ms {
		if m.Address == member {
			return false, nil
		}
	}
	if len(ms) >= max {
		return false, core.ErrRoomFull
	}
	r.members[room] = append(ms, core.FedRoomMember{Address: member, Affiliation: aff, Joined: time.Now()})
	return true, nil
}

func (r *memRooms) LeaveFedRoom(_ context.Context, room, member string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := r.members[room]
	i := slices.IndexFunc(ms, func(m core.FedRoomMember) bool { return m.Address == member })
	if i < 0 {
		return false, nil
	}
	r.members[room] = slices.Delete(ms, i, i+1)
	return true, nil
}

func (r *memRooms) FedRoomMembers(_ context.Context, room string) ([]core.FedRoomMember, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms, ok := r.members[room]
	if !ok {
		return nil, core.ErrNoSuchRoom
	}
	return slices.Clone(ms), nil
}

func (r *memRooms) AppendFedRoom(_ context.Context, room, id string, build func(int64) ([]byte, error), keep int) (core.FedRoomEntry, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[room]; !ok {
		return core.FedRoomEntry{}, false, core.ErrNoSuchRoom
	}
	a := r.archive[room]
	for _, e := range a {
		if e.EventID == id {
			return e, true, nil
		}
	}
	seq := int64(1)
	if len(a) > 0 {
		seq = a[len(a)-1].Seq + 1
	}
	p, err := build(seq)
	if err != nil {
		return core.FedRoomEntry{}, false, err
	}
	e := core.FedRoomEntry{Seq: seq, EventID: id, Payload: p}
	a = append(a, e)
	if len(a) > keep {
		a = a[len(a)-keep:]
	}
	r.archive[room] = a
	return e, false, nil
}

func (r *memRooms) FedRoomHistory(_ context.Context, room string, before int64, limit int) ([]core.FedRoomEntry, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.members[room]; !ok {
		return nil, core.ErrNoSuchRoom
	}
	var out []core.FedRoomEntry
	for _, e := range r.archive[room] {
		if before <= 0 || e.Seq < before {
			out = append(out, e)
		}
	}
	if len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out, nil
}

func (r *memRooms) SetFedRoomJoined(_ context.Context, room, user string, joined bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.joined[room] == nil {
		r.joined[room] = map[string]bool{}
	}
	if joined {
		r.joined[room][user] = true
	} else {
		delete(r.joined[room], user)
	}
	return nil
}

func (r *memRooms) FedRoomJoined(_ context.Context, room string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for u := range r.joined[room] {
		out = append(out, u)
	}
	slices.Sort(out)
	return out, nil
}

func (r *memRooms) FedRoomsOf(_ context.Context, user string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for room, us := range r.joined {
		if us[user] {
			out = append(out, room)
		}
	}
	slices.Sort(out)
	return out, nil
}

// know makes name a user of ts.
func (ts *testServer) know(names ...string) {
	ts.users.mu.Lock()
	defer ts.users.mu.Unlock()
	for _, n := range names {
		ts.users.known[n] = true
	}
}

// sendRoom makes the user's bridge send a room message with server id id.
func (r *recorder) sendRoom(t *testing.T, id core.MessageID, room, body string) error {
	t.Helper()
	m := &core.Message{ID: id, User: r.b.env.User.ID, Network: 1, Peer: core.Peer{Kind: core.Room, Remote: room},
		Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: body}
	_, err := r.b.Send(context.Background(), m)
	return err
}

// roomLines are the room's messages the user got, "sender: body", once
// per event id (as the store keeps them).
func (r *recorder) roomLines(room string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range r.messages() {
		if m.Peer.Kind == core.Room && m.Peer.Remote == room && !seen[m.OriginID] {
			seen[m.OriginID] = true
			out = append(out, m.Sender.Addr+": "+m.Body)
		}
	}
	return out
}

// waitRoomLines waits until the user got want from the room, exactly.
func (r *recorder) waitRoomLines(t *testing.T, room string, want ...string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !slices.Equal(r.roomLines(room), want) {
		if time.Now().After(deadline) {
			t.Fatalf("%s got %q from %s, want %q", r.b.self, r.roomLines(room), room, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// memberships lists the membership changes the user's devices got for
// room, "joined x" or "left x" ("self" marked).
func (r *recorder) memberships(room string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		if me, ok := e.(core.MembershipEvent); ok && me.Room == room {
			s := map[core.MembershipChange]string{core.MemberJoined: "joined ", core.MemberLeft: "left "}[me.Change] + me.Member.Addr
			if me.Self {
				s += " (self)"
			}
			out = append(out, s)
		}
	}
	return out
}

func waitMembership(t *testing.T, r *recorder, room, want string) {
	t.Helper()
	waitFor(t, func() bool { return slices.Contains(r.memberships(room), want) })
}

// TestRoomAcrossDomains: a room on a.test with members on b.test and
// c.test; messages fanned out by the home in order, joins and leaves
// seen by the others, history for a late joiner, non-members refused.
func TestRoomAcrossDomains(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	c.know("carol", "dave", "eve")
	alice, bob, carol := a.user("alice"), b.user("bob"), c.user("carol")
	const room = "#lobby@a.test"
	ctx := context.Background()
	fannedOut := counterValue(metricRoomEvents.WithLabelValues(TypeMessage))
	if err := bob.b.JoinRoom(ctx, room, ""); err == nil || !strings.Contains(err.Error(), "no such room") {
		t.Fatalf("joining a room nobody created: %v", err)
	}
	if err := alice.b.JoinRoom(ctx, "#Lobby@A.test", ""); err != nil {
		t.Fatalf("alice creates the room: %v", err)
	}
	for _, u := range []*recorder{bob, carol} {
		if err := u.b.JoinRoom(ctx, room, ""); err != nil {
			t.Fatalf("%s joins: %v", u.b.self, err)
		}
	}
	// bob's devices got the whole member list with alice as the owner.
	bob.mu.Lock()
	var list []core.Member
	for _, e := range bob.events {
		if me, ok := e.(core.RoomMembersEvent); ok {
			list = me.Members
		}
	}
	bob.mu.Unlock()
	if fmt.Sprint(list) != "[{alice@a.test alice@a.test owner} {bob@b.test bob@b.test }]" {
		t.Fatalf("bob's member list %v", list)
	}
	waitMembership(t, alice, room, "joined carol@c.test")
	waitMembership(t, bob, room, "joined carol@c.test")
	waitMembership(t, bob, room, "joined bob@b.test (self)")

	var want []string
	for i := 1; i <= 10; i++ {
		from := []*recorder{alice, bob, carol}[i%3]
		body := fmt.Sprintf("m%02d", i)
		if err := from.sendRoom(t, core.MessageID(100+i), room, body); err != nil {
			t.Fatalf("%s sends: %v", from.b.self, err)
		}
		want = append(want, from.b.self.String()+": "+body)
		// The next one waits for the home to have this one: order across
		// senders of different servers is the home's.
		waitFor(t, func() bool { return len(alice.roomLines(room)) >= len(others(want, "alice@a.test")) })
	}
	alice.waitRoomLines(t, room, others(want, "alice@a.test")...)
	bob.waitRoomLines(t, room, others(want, "bob@b.test")...)
	carol.waitRoomLines(t, room, others(want, "carol@c.test")...)
	if n := counterValue(metricRoomEvents.WithLabelValues(TypeMessage)) - fannedOut; n != 10 {
		t.Errorf("%v room messages counted, want 10", n)
	}
	for _, m := range bob.messages() {
		if m.Direction != core.Incoming || m.Peer != (core.Peer{Kind: core.Room, Remote: room}) || m.OriginID == "" {
			t.Fatalf("bob's copy %+v", m)
		}
	}

	// A late joiner's server fetches the room's history from the home.
	dave := c.user("dave")
	if err := dave.b.JoinRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	dave.waitRoomLines(t, room, want...)

	// A non-member can neither post nor read the history.
	eve := c.user("eve")
	if err := eve.sendRoom(t, 999, room, "let me in"); err != nil {
		t.Fatalf("queueing eve's message: %v", err)
	}
	waitFor(t, func() bool {
		eve.mu.Lock()
		defer eve.mu.Unlock()
		for _, e := range eve.events {
			if f, ok := e.(core.SendFailedEvent); ok && f.Message == 999 && strings.Contains(f.Reason, "not a member") {
				return true
			}
		}
		return false
	})
	var h RoomHistoryAnswer
	err := c.svc.roomRequest(ctx, Address{"#lobby", "a.test"}, "rooms/history", RoomRequest{Room: room, User: "eve@c.test"}, &h)
	if err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("eve read the history: %v %v", h, err)
	}
	// Nor can c speak for a user of b.
	err = c.svc.roomRequest(ctx, Address{"#lobby", "a.test"}, "rooms/history", RoomRequest{Room: room, User: "bob@b.test"}, &h)
	if err == nil || !strings.Contains(err.Error(), "requesting server") {
		t.Fatalf("c read the history as bob: %v", err)
	}
	// A member pages the history.
	if err := c.svc.roomRequest(ctx, Address{"#lobby", "a.test"}, "rooms/history",
		RoomRequest{Room: room, User: "carol@c.test", Limit: 3}, &h); err != nil || len(h.Events) != 3 || h.Events[2].Body != "m10" {
		t.Fatalf("newest page %+v %v", h, err)
	}
	before := h.Events[0].Seq
	if err := c.svc.roomRequest(ctx, Address{"#lobby", "a.test"}, "rooms/history",
		RoomRequest{Room: room, User: "carol@c.test", Before: before, Limit: 2}, &h); err != nil || len(h.Events) != 2 ||
		h.Events[1].Seq != before-1 || h.Events[1].Body != "m07" {
		t.Fatalf("older page %+v %v", h, err)
	}

	// When carol's network starts again (the daemon restarted), her
	// devices are shown the room again, without a second join on a; a
	// room its home does not have is forgotten.
	if err := c.rooms.SetFedRoomJoined(ctx, "#gone@a.test", "carol", true); err != nil {
		t.Fatal(err)
	}
	joinsBefore := len(alice.memberships(room))
	carolBefore := len(carol.memberships(room))
	// A join the Hub saved that did not get through is made now.
	if err := a.users.byName["alice"].b.JoinRoom(ctx, "#side@a.test", ""); err != nil {
		t.Fatal(err)
	}
	carol.b.env.Rooms = []core.SavedRoom{{Room: "#side@a.test"}}
	carol.b.rejoinRooms(ctx)
	waitMembership(t, alice, "#side@a.test", "joined carol@c.test")
	if got := carol.memberships(room)[carolBefore:]; fmt.Sprint(got) != "[joined carol@c.test (self)]" {
		t.Fatalf("carol's rooms after a restart: %q", got)
	}
	if rooms, _ := c.rooms.FedRoomsOf(ctx, "carol"); fmt.Sprint(rooms) != "[#lobby@a.test #side@a.test]" {
		t.Fatalf("carol's rooms: %v", rooms)
	}
	if n := len(alice.memberships(room)); n != joinsBefore {
		t.Fatalf("alice saw %d more membership changes", n-joinsBefore)
	}

	// bob leaves: the others see it, and he gets nothing more.
	if err := bob.b.LeaveRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, alice, room, "left bob@b.test")
	waitMembership(t, carol, room, "left bob@b.test")
	if err := alice.sendRoom(t, 200, room, "bye bob"); err != nil {
		t.Fatal(err)
	}
	carol.waitRoomLines(t, room, append(others(want, "carol@c.test"), "alice@a.test: bye bob")...)
	waitFor(t, func() bool { return a.queue.pending() == 0 })
	bob.waitRoomLines(t, room, others(want, "bob@b.test")...)
	if err := bob.sendRoom(t, 201, room, "still here?"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return b.queue.pending() == 0 })
	carol.waitRoomLines(t, room, append(others(want, "carol@c.test"), "alice@a.test: bye bob")...)

	// carol invites bob back, through the home; eve, no member, cannot.
	if err := eve.b.InviteToRoom(ctx, room, "bob@b.test", "from eve"); err != nil {
		t.Fatal(err)
	}
	if err := carol.b.InviteToRoom(ctx, room, "Bob@B.test", "come back"); err != nil {
		t.Fatal(err)
	}
	// The home sends an invitation once, not through its queue.
	waitFor(t, func() bool { return c.queue.pending() == 0 && a.queue.pending() == 0 })
	invites := func() []string {
		var out []string
		for _, m := range bob.messages() {
			if m.Kind == core.KindInvite {
				out = append(out, m.Peer.Remote+" "+m.Sender.Addr+" "+m.Body)
			}
		}
		return out
	}
	waitFor(t, func() bool { return len(invites()) > 0 })
	time.Sleep(100 * time.Millisecond) // eve's, had it been passed on
	if got := invites(); fmt.Sprint(got) != "[carol@c.test carol@c.test #lobby@a.test come back]" {
		t.Fatalf("bob's invitations: %q", got)
	}
}

// others are the lines not sent by sender.
func others(lines []string, sender string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, sender+": ") {
			out = append(out, l)
		}
	}
	return out
}

// TestRoomSameDomain: users of one server share a room without the
// network, and without a queue at all.
func TestRoomSameDomain(t *testing.T) {
	users := &recordingUsers{known: map[string]bool{"alice": true, "bob": true}, byName: map[string]*recorder{}}
	svc, err := NewService(Config{Domain: "a.test", Directory: users, Rooms: newMemRooms()})
	if err != nil {
		t.Fatal(err)
	}
	users.svc = svc
	alice, _ := users.ensure("alice")
	bob, _ := users.ensure("bob")
	ctx := context.Background()
	const room = "#team@a.test"
	if err := alice.b.JoinRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	// More than two pages of history, which bob's join fetches.
	var before []string
	for i := 1; i <= 230; i++ {
		body := fmt.Sprintf("early %03d", i)
		if err := alice.sendRoom(t, core.MessageID(1000+i), room, body); err != nil {
			t.Fatal(err)
		}
		before = append(before, "alice@a.test: "+body)
	}
	if err := alice.sendRoom(t, 1, room, "before bob"); err != nil {
		t.Fatal(err)
	}
	if err := bob.b.JoinRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, alice, room, "joined bob@a.test")
	bob.waitRoomLines(t, room, append(before, "alice@a.test: before bob")...) // the backfill
	if err := bob.sendRoom(t, 2, room, "hi alice"); err != nil {
		t.Fatal(err)
	}
	alice.waitRoomLines(t, room, "bob@a.test: hi alice")
	if n := len(bob.roomLines(room)); n != 231 {
		t.Fatalf("bob has %d lines", n)
	}
	if err := bob.b.LeaveRoom(ctx, room, ""); err != nil {
		t.Fatal(err)
	}
	waitMembership(t, alice, room, "left bob@a.test")
	if err := bob.sendRoom(t, 3, room, "gone"); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("a former member posts: %v", err)
	}
	if err := bob.b.InviteToRoom(ctx, room, "carol@c.test", ""); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("a former member invites: %v", err)
	}
	if err := alice.b.InviteToRoom(ctx, room, "bob@a.test", ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		for _, m := range bob.messages() {
			if m.Peer.Remote == "alice@a.test" && m.Kind == core.KindInvite && m.Body == "#team@a.test" {
				return true
			}
		}
		return false
	})
	if err := bob.b.JoinRoom(ctx, "#team@b.test", ""); err == nil {
		t.Fatal("joined a room of another domain without federation")
	}
}

func FuzzDecodeRoomRequest(f *testing.F) {
	f.Add([]byte(`{"id":"r1","room":"#Lobby@a.test","user":"bob@b.test","before":7,"limit":20}`))
	f.Add([]byte(`{"id":"r1","room":"lobby@a.test","user":"#bob@b.test"}`))
	f.Add([]byte(`{"id":"","room":"#x@a.test","user":"bob@b.test","limit":101}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, room, user, err := DecodeRoomRequest(body, "b.test", "a.test")
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, errWrongDomain) {
				t.Fatalf("error %v is neither malformed nor wrong-domain", err)
			}
			return
		}
		if !room.IsRoom() || user.IsRoom() || room.Domain != "a.test" || user.Domain != "b.test" ||
			req.Room != room.String() || req.User != user.String() || checkID(req.ID) != nil ||
			req.Limit < 1 || req.Limit > maxHistoryPage || req.Before < 0 {
			t.Fatalf("accepted %+v (%v, %v)", req, room, user)
		}
	})
}

// TestRoomAddresses: rooms and users never share an address, and a
// device's #name@domain is a room.
func TestRoomAddresses(t *testing.T) {
	for in, want := range map[string]core.Peer{
		"#Lobby@A.test": {Kind: core.Room, Remote: "#lobby@a.test"},
		"Bob@B.test":    {Kind: core.Direct, Remote: "bob@b.test"},
		"#":             {Kind: core.Room, Remote: "#"},
	} {
		if got := parsePeer(in); got != want {
			t.Errorf("parsePeer(%q) = %+v, want %+v", in, got, want)
		}
	}
	for _, bad := range []string{"##x@a.test", "#@a.test", "#-x@a.test", "x#@a.test"} {
		if a, err := ParseAddress(bad); err == nil {
			t.Errorf("ParseAddress(%q) = %v", bad, a)
		}
	}
	a, err := ParseAddress("#ops@a.test")
	if err != nil || !a.IsRoom() || a.String() != "#ops@a.test" {
		t.Fatalf("room address %v %v", a, err)
	}
	// A user cannot send to a room as to a person, nor the reverse.
	b := &bridge{self: Address{"alice", "a.test"}}
	for _, p := range []core.Peer{{Kind: core.Direct, Remote: "#ops@a.test"}, {Kind: core.Room, Remote: "bob@a.test"}} {
		if _, err := b.event(context.Background(), &core.Message{ID: 1, Peer: p, Kind: core.KindChat, Body: "x", Time: time.Now()}); err == nil {
			t.Errorf("sent to %+v", p)
		}
	}
}
