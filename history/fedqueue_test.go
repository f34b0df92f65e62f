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

// CountFed counts one user's waiting events for one peer; PurgeFailedFed
// deletes old failed events only.
func TestFedQueueCountAndPurge(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newFixture(t, s, "alice").user, newFixture(t, s, "bob").user
	old := time.Now().Add(-10 * 24 * time.Hour)
	var qs []core.FedQueued
	for i := range 5 {
		qs = append(qs, core.FedQueued{Peer: "b.example", EventID: fmt.Sprintf("a%d", i), User: alice.ID, Payload: []byte(`{}`), Created: old})
	}
	qs = append(qs, core.FedQueued{Peer: "c.example", EventID: "a9", User: alice.ID, Payload: []byte(`{}`)},
		core.FedQueued{Peer: "b.example", EventID: "b0", User: bob.ID, Payload: []byte(`{}`)})
	if _, err := s.EnqueueFed(ctx, qs); err != nil {
		t.Fatal(err)
	}
	pending, _ := s.PendingFed(ctx, "b.example", 10)
	if err := s.FailFed(ctx, []int64{pending[0].ID, pending[1].ID}, "rejected"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountFed(ctx, "b.example", alice.ID); err != nil || n != 3 {
		t.Fatalf("alice's waiting events for b: %d %v, want 3", n, err)
	}
	if n, err := s.PurgeFailedFed(ctx, time.Now().Add(-7*24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("purged %d %v, want the 2 failed", n, err)
	}
	if n, _ := s.PurgeFailedFed(ctx, time.Now()); n != 0 {
		t.Fatalf("purged %d more, want none: nothing else failed", n)
	}
	if pending, _ = s.PendingFed(ctx, "b.example", 10); len(pending) != 4 {
		t.Fatalf("%d events wait for b after the purge, want 4", len(pending))
	}
	// A purged event's id may be queued again.
	if added, _ := s.EnqueueFed(ctx, []core.FedQueued{{Peer: "b.example", EventID: "a0", User: alice.ID, Payload: []byte(`{}`)}}); added != 1 {
		t.Fatal("a purged event's id is still taken")
	}
}
