package core

import (
	"errors"
	"slices"
	"testing"
)

func memberNicks(ms []Member) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Nick)
	}
	return out
}

// TestRoomStateFollowsEvents: a device that attaches after the network
// joined a room reads its members, own nick and topic from the Hub, kept
// up to date by joins, nick changes and departures.
func TestRoomStateFollowsEvents(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	early := h.attach(alice, "early")
	b.receive(t,
		MembershipEvent{Room: "#go", Change: MemberJoined, Member: Member{Nick: "alice"}, Self: true},
		RoomMembersEvent{Room: "#go", Members: []Member{{Nick: "alice"}, {Nick: "bob", Role: "op"}, {Nick: "carol"}}},
		TopicEvent{Room: "#go", Topic: "Go, the language"},
		MembershipEvent{Room: "#go", Change: MemberJoined, Member: Member{Nick: "dave"}},
		MembershipEvent{Room: "#go", Change: MemberUpdated, Member: Member{Nick: "carol_"}, PreviousNick: "carol"},
		MembershipEvent{Room: "#go", Change: MemberLeft, Member: Member{Nick: "bob"}},
	)
	next[MembershipEvent](t, early) // the devices get the events as they are

	st, ok := h.hub.Room(alice, aliceNet, "#go")
	if !ok || !st.Joined {
		t.Fatalf("Room(#go) = %+v, %v; want a joined room", st, ok)
	}
	if want := []string{"alice", "carol_", "dave"}; !slices.Equal(memberNicks(st.Members), want) {
		t.Errorf("members %v, want %v", memberNicks(st.Members), want)
	}
	if st.Self != "alice" || st.Topic.Topic != "Go, the language" {
		t.Errorf("self %q topic %q", st.Self, st.Topic.Topic)
	}
	if _, ok := h.hub.Room(bob, aliceNet, "#go"); ok {
		t.Error("bob sees alice's room")
	}
	if rs := h.hub.Rooms(alice); len(rs) != 1 || rs[0].Room != "#go" || rs[0].Members != nil {
		t.Errorf("Rooms(alice) = %+v, want #go without members", rs)
	}

	// The user leaves on the network: the room is gone.
	b.receive(t, MembershipEvent{Room: "#go", Change: MemberLeft, Member: Member{Nick: "alice"}, Self: true})
	if st, ok := h.hub.Room(alice, aliceNet, "#go"); ok {
		t.Errorf("room still known after the user left it: %+v", st)
	}
	// Stray events about a room the user is not in do not bring it back
	// (it would become a bookmark, and a join).
	b.receive(t,
		MembershipEvent{Room: "#go", Change: MemberJoined, Member: Member{Nick: "late"}},
		TopicEvent{Room: "#go", Topic: "late topic"})
	if st, ok := h.hub.Room(alice, aliceNet, "#go"); ok {
		t.Errorf("stray events recreated the room: %+v", st)
	}
}

// TestRejoinReportsWhoLeftMeanwhile: after a reconnect the network sends
// the member list again; members missing from it are announced as gone,
// before the new list, so devices drop them.
func TestRejoinReportsWhoLeftMeanwhile(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	b.receive(t,
		MembershipEvent{Room: "#go", Change: MemberJoined, Member: Member{Nick: "alice"}, Self: true},
		RoomMembersEvent{Room: "#go", Members: []Member{{Nick: "alice"}, {Nick: "bob"}, {Nick: "carol"}}})
	s := h.attach(alice, "phone")
	b.receive(t, RoomMembersEvent{Room: "#go", Members: []Member{{Nick: "alice"}, {Nick: "carol"}, {Nick: "erin"}}})
	left := next[MembershipEvent](t, s)
	if left.Change != MemberLeft || left.Member.Nick != "bob" || left.Self {
		t.Errorf("first event %+v, want bob leaving", left)
	}
	if ms := next[RoomMembersEvent](t, s); len(ms.Members) != 3 {
		t.Errorf("then %+v, want the new list", ms)
	}
	expectNone(t, s)
}

// TestJoinRoomReachesTheBridge: joins and parts from a device go to the
// bridge of that user's network only.
func TestJoinRoomReachesTheBridge(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	if err := h.hub.JoinRoom(tctx(t), alice, aliceNet, "#go", "sekrit"); err != nil {
		t.Fatal(err)
	}
	if err := h.hub.LeaveRoom(tctx(t), alice, aliceNet, "#go", "bye"); err != nil {
		t.Fatal(err)
	}
	b.await(t, "room operations", func() bool { return len(b.roomOps) == 2 })
	if want := []string{"join #go sekrit", "leave #go bye"}; !slices.Equal(b.roomOps, want) {
		t.Errorf("bridge got %q, want %q", b.roomOps, want)
	}
	if err := h.hub.JoinRoom(tctx(t), alice, bobNet, "#go", ""); err == nil {
		t.Error("alice joined a room on bob's network")
	}
}

// TestStoppedNetworkLeavesItsRooms: a network removed (or restarted by a
// settings change) is out of its rooms; attached devices are told so,
// as the user's own departure, and the Hub forgets the rooms.
func TestStoppedNetworkLeavesItsRooms(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	b.receive(t,
		MembershipEvent{Room: "#go", Change: MemberJoined, Member: Member{Nick: "alice"}, Self: true},
		RoomMembersEvent{Room: "#go", Members: []Member{{Nick: "alice"}, {Nick: "bob"}}})
	next[MembershipEvent](t, s)
	next[RoomMembersEvent](t, s)

	h.store.removeNetwork(aliceNet)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	left := next[MembershipEvent](t, s)
	if left.Change != MemberLeft || !left.Self || left.Room != "#go" || left.Network != aliceNet || left.Member.Nick != "alice" {
		t.Errorf("devices were told %+v; want alice leaving #go", left)
	}
	if st, ok := h.hub.Room(alice, aliceNet, "#go"); ok {
		t.Errorf("the stopped network's room is still known: %+v", st)
	}
}

// TestJoinedRoomsSurviveARestart: a room a device joined is saved, with
// its key, and handed to the network's next bridge; a room the network
// refused for good, or a device left, is not.
func TestJoinedRoomsSurviveARestart(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	ctx := tctx(t)
	for _, j := range [][2]string{{"#go", "sekrit"}, {"#rust", ""}, {"#go", ""}, {"#chat", ""}} {
		if err := h.hub.JoinRoom(ctx, alice, aliceNet, j[0], j[1]); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	b.joinErr = Permanent(errors.New("banned"))
	b.mu.Unlock()
	if err := h.hub.JoinRoom(ctx, alice, aliceNet, "#banned", ""); err == nil || !IsPermanent(err) {
		t.Fatalf("a refused join returned %v, want the bridge's permanent error", err)
	}
	b.mu.Lock()
	b.joinErr = errors.New("no answer yet")
	b.mu.Unlock()
	if err := h.hub.JoinRoom(ctx, alice, aliceNet, "#slow", ""); err == nil {
		t.Fatal("a join the network has not answered returned no error")
	}
	if err := h.hub.LeaveRoom(ctx, alice, aliceNet, "#rust", "bye"); err != nil {
		t.Fatal(err)
	}

	// A settings change restarts the network with a new bridge.
	n := h.store.networks[aliceNet]
	n.Settings = Settings{"changed": "yes"}
	h.store.setNetwork(n)
	if err := h.hub.SyncNetworks(ctx); err != nil {
		t.Fatal(err)
	}
	next := h.bridgeN(aliceNet, 2)
	want := []SavedRoom{{Room: "#go", Key: "sekrit"}, {Room: "#chat"}, {Room: "#slow"}}
	if !slices.Equal(next.env.Rooms, want) {
		t.Errorf("the restarted bridge was built with rooms %+v, want %+v", next.env.Rooms, want)
	}
	if rooms, _ := h.store.SavedRooms(ctx, bobNet); len(rooms) != 0 {
		t.Errorf("bob's network has saved rooms %+v", rooms)
	}
}

// TestLeaveDuringSlowJoinForgetsTheRoom: a device leaves a room whose
// join the network has not answered yet; when the answer comes, the room
// stays forgotten, so a restart does not rejoin it.
func TestLeaveDuringSlowJoinForgetsTheRoom(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	ctx := tctx(t)
	answer := make(chan struct{})
	b.mu.Lock()
	b.joinAnswer = answer
	b.mu.Unlock()
	joined := make(chan error, 1)
	go func() { joined <- h.hub.JoinRoom(ctx, alice, aliceNet, "#brief", "") }()
	b.await(t, "the join of #brief", func() bool { return slices.Contains(b.roomOps, "join #brief ") })
	if err := h.hub.LeaveRoom(ctx, alice, aliceNet, "#brief", "changed my mind"); err != nil {
		t.Fatal(err)
	}
	close(answer)
	if err := <-joined; err != nil {
		t.Fatal(err)
	}
	if rooms, _ := h.store.SavedRooms(ctx, aliceNet); len(rooms) != 0 {
		t.Errorf("saved rooms after the leave: %+v", rooms)
	}
}
