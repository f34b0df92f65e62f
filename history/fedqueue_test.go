package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestFedQueue(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	u := newFixture(t, s, "alice").user
	for i, peer := range []string{"b.example", "c.example", "b.example", "b.example"} {
		added, err := s.EnqueueFed(ctx, []core.FedQueued{{Peer: peer, EventID: fmt.Sprintf("e%d", i), User: u.ID, Message: core.MessageID(i + 1), Payload: []byte(`{}`)}})
		if err != nil || added != 1 {
			t.Fatalf("enqueue %d: %v %v", i, added, err)
		}
	}
	// The same event again adds nothing.
	if added, err := s.EnqueueFed(ctx, []core.FedQueued{{Peer: "b.example", EventID: "e0", User: u.ID, Payload: []byte(`{}`)},
		{Peer: "d.example", EventID: "e0", User: u.ID, Payload: []byte(`{}`)}}); err != nil || added != 1 {
		t.Fatalf("duplicate enqueue: %v %v", added, err)
	}
	peers, err := s.FedPeersPending(ctx)
	if err != nil || fmt.Sprint(peers) != "[b.example c.example d.example]" {
		t.Fatalf("peers %v %v", peers, err)
	}
	b, err := s.PendingFed(ctx, "b.example", 10)
	if err != nil || len(b) != 3 || b[0].EventID != "e0" || b[1].EventID != "e2" || b[2].EventID != "e3" || b[0].Created.IsZero() {
		t.Fatalf("pending %+v %v", b, err)
	}
	next := time.Now().Add(time.Minute).Truncate(time.Millisecond)
	if err := s.RetryFed(ctx, []int64{b[0].ID, b[1].ID}, next, "peer down"); err != nil {
		t.Fatal(err)
	}
	if err := s.FailFed(ctx, []int64{b[2].ID}, "rejected"); err != nil {
		t.Fatal(err)
	}
	b, _ = s.PendingFed(ctx, "b.example", 10)
	if len(b) != 2 || b[0].Attempts != 1 || !b[0].NextAttempt.Equal(next) || b[0].LastError != "peer down" {
		t.Fatalf("after retry %+v", b)
	}
	if err := s.CompleteFed(ctx, []int64{b[0].ID, b[1].ID}); err != nil {
		t.Fatal(err)
	}
	peers, _ = s.FedPeersPending(ctx)
	if fmt.Sprint(peers) != "[c.example d.example]" {
		t.Fatalf("peers after completing b: %v", peers)
	}
	// A failed event still blocks its id: a retried send is not queued anew.
	if added, _ := s.EnqueueFed(ctx, []core.FedQueued{{Peer: "b.example", EventID: "e3", User: u.ID, Payload: []byte(`{}`)}}); added != 0 {
		t.Fatal("a failed event's id was queued again")
	}
}
