package history

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestPruneHonoursUserConversationAndKeepForever(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s, err := Open(context.Background(), t.TempDir()+"/db", Options{Log: quietLog, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	f := newFixture(t, s, "alice")
	other := newFixture(t, s, "bob")
	old := appendAll(t, s, f.msg("#user-policy", "old"), f.msg("#short", "old"), f.msg("#keep", "old"), other.msg("#default", "old"))
	clock = clock.Add(10 * 24 * time.Hour)
	appendAll(t, s, f.msg("#user-policy", "new"), f.msg("#short", "new"), f.msg("#keep", "new"), other.msg("#default", "new"))

	if err := s.SetUserRetention(ctx, f.user.ID, 30*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConversationRetention(ctx, f.user.ID, old[1].Message.Conversation, 10*24*time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetConversationRetention(ctx, f.user.ID, old[2].Message.Conversation, 0, true); err != nil {
		t.Fatal(err)
	}
	// bob has no retention of his own: the daemon's default applies.
	clock = clock.Add(5 * 24 * time.Hour) // "old" is 15 days old, "new" 5
	n, err := s.Prune(ctx, 7*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("pruned %d, want 2 (the short conversation's and bob's old message)", n)
	}
	for i, w := range old {
		_, err := s.Message(ctx, w.Message.User, w.Message.ID)
		gone := err != nil
		if wantGone := i == 1 || i == 3; gone != wantGone {
			t.Errorf("message %q in %s: gone = %v", w.Message.Body, w.Message.Peer.Remote, gone)
		}
	}
	clock = clock.Add(100 * 24 * time.Hour)
	if _, err := s.Prune(ctx, 0); err != nil {
		t.Fatal(err)
	}
	left, _ := s.CountMessages(ctx, f.user.ID)
	if left != 2 { // the kept-forever conversation's two messages
		t.Fatalf("%d of alice's messages left, want 2", left)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Search(ctx, core.SearchQuery{User: f.user.ID, Text: "old"}); len(rs) != 1 {
		t.Fatalf("full-text index still finds pruned messages: %d results", len(rs))
	}
}
