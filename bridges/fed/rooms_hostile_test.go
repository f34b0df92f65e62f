package fed

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// Rooms against hostile members and homes (notes/fedreview2.md).

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
	ctx := context.Background()
	for _, u := range []*recorder{alice, bob, carol} {
		if err := u.b.JoinRoom(ctx, room, ""); err != nil {
			t.Fatalf("%s joins: %v", u.b.self, err)
		}
	}
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
