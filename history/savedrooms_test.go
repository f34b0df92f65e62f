package history

import (
	"context"
	"slices"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestSavedRooms: rooms are listed in the order they were first joined,
// a second save keeps the key unless it brings one, forgetting removes
// one room of one network, and removing the network removes its rooms.
func TestSavedRooms(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "alice", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	var nets []core.Network
	for _, name := range []string{"libera", "oftc"} {
		n, err := st.CreateNetwork(ctx, core.Network{User: u.ID, Name: name, Kind: core.KindIRC, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		nets = append(nets, n)
	}
	save := func(n core.Network, room, key string) {
		t.Helper()
		if err := st.SaveRoom(ctx, n.ID, core.SavedRoom{Room: room, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(n core.Network) []core.SavedRoom {
		t.Helper()
		rooms, err := st.SavedRooms(ctx, n.ID)
		if err != nil {
			t.Fatal(err)
		}
		return rooms
	}
	save(nets[0], "#go", "sekrit")
	save(nets[0], "#rust", "")
	save(nets[0], "#go", "") // joined again without the key
	save(nets[0], "#rust", "new")
	save(nets[1], "#go", "")
	want := []core.SavedRoom{{Room: "#go", Key: "sekrit"}, {Room: "#rust", Key: "new"}}
	if got := list(nets[0]); !slices.Equal(got, want) {
		t.Errorf("saved rooms %+v, want %+v", got, want)
	}
	if err := st.ForgetRoom(ctx, nets[0].ID, "#go"); err != nil {
		t.Fatal(err)
	}
	if err := st.ForgetRoom(ctx, nets[0].ID, "#never"); err != nil {
		t.Errorf("forgetting a room never saved: %v", err)
	}
	if got := list(nets[0]); !slices.Equal(got, want[1:]) {
		t.Errorf("after forgetting #go: %+v", got)
	}
	if got := list(nets[1]); !slices.Equal(got, []core.SavedRoom{{Room: "#go"}}) {
		t.Errorf("the other network's rooms changed: %+v", got)
	}
	if err := st.DeleteNetwork(ctx, u.ID, nets[0].ID); err != nil {
		t.Fatal(err)
	}
	if got := list(nets[0]); len(got) != 0 {
		t.Errorf("a removed network keeps saved rooms %+v", got)
	}
}
