package history

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/core"
)

func TestFedRooms(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	const room = "#lobby@a.example"
	if _, err := s.JoinFedRoom(ctx, room, "bob@b.example", false, 10); !errors.Is(err, core.ErrNoSuchRoom) {
		t.Fatalf("joining a room that does not exist: %v", err)
	}
	for _, m := range []string{"alice@a.example", "bob@b.example", "alice@a.example"} {
		if _, err := s.JoinFedRoom(ctx, room, m, m == "alice@a.example", 2); err != nil {
			t.Fatalf("join %s: %v", m, err)
		}
	}
	if _, err := s.JoinFedRoom(ctx, room, "carol@c.example", false, 2); !errors.Is(err, core.ErrRoomFull) {
		t.Fatalf("a third member of a room for two: %v", err)
	}
	ms, err := s.FedRoomMembers(ctx, room)
	if err != nil || len(ms) != 2 || ms[0].Address != "alice@a.example" || ms[0].Affiliation != "owner" ||
		ms[1].Affiliation != "member" {
		t.Fatalf("members %+v %v", ms, err)
	}
	for i := 1; i <= 5; i++ {
		e, dup, err := s.AppendFedRoom(ctx, room, fmt.Sprintf("ev%d", i), func(seq int64) ([]byte, error) {
			return []byte(fmt.Sprintf(`{"seq":%d}`, seq)), nil
		}, 3)
		if err != nil || dup || e.Seq != int64(i) {
			t.Fatalf("append %d: %+v %v %v", i, e, dup, err)
		}
	}
	e, dup, err := s.AppendFedRoom(ctx, room, "ev5", func(int64) ([]byte, error) { t.Fatal("built again"); return nil, nil }, 3)
	if err != nil || !dup || e.Seq != 5 || string(e.Payload) != `{"seq":5}` {
		t.Fatalf("append again: %+v %v %v", e, dup, err)
	}
	h, err := s.FedRoomHistory(ctx, room, 0, 2)
	if err != nil || len(h) != 2 || h[0].Seq != 4 || h[1].Seq != 5 {
		t.Fatalf("newest page %+v %v", h, err)
	}
	if h, err = s.FedRoomHistory(ctx, room, 4, 10); err != nil || len(h) != 1 || h[0].Seq != 3 {
		t.Fatalf("older page (the archive keeps 3) %+v %v", h, err)
	}
	if left, err := s.LeaveFedRoom(ctx, room, "bob@b.example"); err != nil || !left {
		t.Fatalf("leave %v %v", left, err)
	}
	if left, _ := s.LeaveFedRoom(ctx, room, "bob@b.example"); left {
		t.Fatal("left twice")
	}
	for _, u := range []string{"alice", "bob"} {
		if err := s.SetFedRoomJoined(ctx, room, u, true); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.SetFedRoomJoined(ctx, "#other@c.example", "alice", true)
	_ = s.SetFedRoomJoined(ctx, room, "bob", false)
	users, err := s.FedRoomJoined(ctx, room)
	if err != nil || fmt.Sprint(users) != "[alice]" {
		t.Fatalf("joined %v %v", users, err)
	}
	rooms, err := s.FedRoomsOf(ctx, "alice")
	if err != nil || fmt.Sprint(rooms) != "[#lobby@a.example #other@c.example]" {
		t.Fatalf("rooms of alice %v %v", rooms, err)
	}
}
