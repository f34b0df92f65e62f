package httpapi

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestRoomsListed: a device that arrives after the network joined a
// room reads it from the API: the list without members, and the room
// with its members, own nick and topic; a room the network is not in,
// a name that is no room and another user's network are refused.
func TestRoomsListed(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, other := e.user("bob")
	n, b := e.network(tok, "lab")
	at := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	err := b.env.Inbound.Receive(context.Background(),
		core.MembershipEvent{Room: "#go", Change: core.MemberJoined, Member: core.Member{Nick: "alice"}, Self: true},
		core.RoomMembersEvent{Room: "#go", Members: []core.Member{{Nick: "carol"}, {Nick: "alice"}, {Nick: "bob", Role: "op", Addr: "bob@host"}}},
		core.TopicEvent{Room: "#go", Topic: "Go, the language", SetBy: "bob", At: at})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Rooms []roomJSON }
	waitUntil(t, func() bool {
		e.mustDo("GET", "/api/v1/rooms", tok, nil, 200, &list)
		return len(list.Rooms) == 1 && list.Rooms[0].Topic != nil
	})
	if r := list.Rooms[0]; r.Network != n.ID || r.Room != "#go" || !r.Joined || r.Self != "alice" ||
		r.Topic.Topic != "Go, the language" || r.Topic.SetBy != "bob" || !r.Topic.At.Equal(at) || r.Members != nil {
		t.Errorf("the list has %+v", r)
	}
	path := fmt.Sprintf("/api/v1/networks/%d/rooms/", n.ID)
	var room roomJSON
	e.mustDo("GET", path+url.PathEscape("#go"), tok, nil, 200, &room)
	if got := fmt.Sprint(room.Members); got != "[{alice  } {bob bob@host op} {carol  }]" {
		t.Errorf("members %s", got)
	}
	e.wantProblem(e.do("GET", path+url.PathEscape("#nope"), tok, nil), 404, "")
	e.wantProblem(e.do("GET", path+"bob", tok, nil), 400, "addr")
	e.wantProblem(e.do("GET", path+url.PathEscape("#go"), other, nil), 404, "")
	var theirs struct{ Rooms []roomJSON }
	e.mustDo("GET", "/api/v1/rooms", other, nil, 200, &theirs)
	if len(theirs.Rooms) != 0 {
		t.Errorf("bob lists alice's rooms: %+v", theirs.Rooms)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 5 s")
}
