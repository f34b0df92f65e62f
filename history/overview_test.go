package history

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestConversationSummaries(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newFixture(t, s, "alice"), newFixture(t, s, "bob")
	join := alice.msg("#a", "bob joined")
	join.Kind = core.KindJoin
	out := alice.msg("#a", "mine")
	out.Direction = core.Outgoing
	ws := appendAll(t, s, alice.msg("#a", "one"), alice.msg("#a", "two"), join, out, alice.msg("#b", "b1"), alice.msg("#a", "three"))
	appendAll(t, s, bob.msg("#a", "bob's"))
	if _, err := s.SetReadMarker(ctx, core.ReadMarker{User: alice.user.ID, Conversation: ws[0].Message.Conversation,
		Upto: ws[0].Message.ID, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	sums, err := s.ConversationSummaries(ctx, alice.user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 {
		t.Fatalf("%d conversations, want 2", len(sums))
	}
	a, b := sums[0], sums[1]
	// #a has the newest message, so it comes first; unread counts only
	// incoming chat after the marker: "two" and "three".
	if a.Remote != "#a" || a.Last == nil || a.Last.Body != "three" || a.Unread != 2 || a.ReadUpto != ws[0].Message.ID {
		t.Fatalf("#a: %+v last %+v", a, a.Last)
	}
	if b.Remote != "#b" || b.Last.Body != "b1" || b.Unread != 1 || b.ReadUpto != 0 {
		t.Fatalf("#b: %+v", b)
	}
	if sums, err := s.ConversationSummaries(ctx, bob.user.ID); err != nil || len(sums) != 1 || sums[0].Last.Body != "bob's" {
		t.Fatalf("bob's summaries: %+v, %v", sums, err)
	}
}

func TestUserMessagesAfterAndMarkersSince(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newFixture(t, s, "alice"), newFixture(t, s, "bob")
	ws := appendAll(t, s, alice.msg("#a", "1"), bob.msg("#a", "x"), alice.msg("#b", "2"), alice.msg("#a", "3"))
	got, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, After: ws[0].Message.ID, Order: core.OldestFirst, Limit: 10})
	if err != nil || !equal(bodies(got), []string{"2", "3"}) {
		t.Fatalf("UserMessages after: %v, %v", bodies(got), err)
	}
	if got, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, Order: core.OldestFirst, Limit: 2}); err != nil || !equal(bodies(got), []string{"1", "2"}) {
		t.Fatalf("UserMessages after limit 2: %v, %v", bodies(got), err)
	}
	t0 := time.Now().Add(-time.Second)
	for _, m := range []core.ReadMarker{
		{User: alice.user.ID, Conversation: ws[0].Message.Conversation, Upto: ws[0].Message.ID, At: t0.Add(-time.Hour)},
		{User: alice.user.ID, Conversation: ws[2].Message.Conversation, Upto: ws[2].Message.ID, At: t0.Add(time.Millisecond)},
		{User: bob.user.ID, Conversation: ws[1].Message.Conversation, Upto: ws[1].Message.ID, At: t0.Add(time.Millisecond)},
	} {
		if _, err := s.SetReadMarker(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	ms, err := s.ReadMarkersSince(ctx, alice.user.ID, t0)
	if err != nil || len(ms) != 1 || ms[0].Conversation != ws[2].Message.Conversation || ms[0].Upto != ws[2].Message.ID {
		t.Fatalf("ReadMarkersSince: %+v, %v", ms, err)
	}
}
