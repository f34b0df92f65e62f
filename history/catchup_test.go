package history

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// A device catching up pages over every conversation of its user in id
// order, and sees nothing of another user's.
func TestUserMessagesPagesAcrossConversations(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	var want []string
	for i := 0; i < 7; i++ {
		room := fmt.Sprint("#r", i%3)
		body := fmt.Sprint("alice ", i)
		appendAll(t, s, alice.msg(room, body), bob.msg(room, fmt.Sprint("bob ", i)))
		want = append(want, body)
	}
	var got []string
	var after core.MessageID
	for pages := 0; ; pages++ {
		page, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, After: after, Order: core.OldestFirst, Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		for _, m := range page {
			if m.User != alice.user.ID || m.Peer.Remote == "" {
				t.Fatalf("message %+v in alice's catch-up", m)
			}
			got = append(got, m.Body)
		}
		after = page[len(page)-1].ID
	}
	if !equal(got, want) {
		t.Fatalf("oldest first, 3 a page: %v, want %v", got, want)
	}

	newest, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, Limit: 2})
	if err != nil || !equal(bodies(newest), []string{"alice 6", "alice 5"}) {
		t.Fatalf("newest first: %v, %v", bodies(newest), err)
	}
	older, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, Before: newest[1].ID, Limit: 2})
	if err != nil || !equal(bodies(older), []string{"alice 4", "alice 3"}) {
		t.Fatalf("before %s: %v, %v", newest[1].ID, bodies(older), err)
	}
	window, err := s.UserMessages(ctx, core.UserPageQuery{User: alice.user.ID, After: older[1].ID, Before: newest[1].ID, Order: core.OldestFirst})
	if err != nil || !equal(bodies(window), []string{"alice 4"}) {
		t.Fatalf("between: %v, %v", bodies(window), err)
	}
	if _, err := s.UserMessages(ctx, core.UserPageQuery{}); err == nil {
		t.Fatal("a page without a user was served")
	}
}

// Message finds the user's own message and answers core.ErrNotFound for
// another user's id, the same as for an id nobody has.
func TestMessageByIDIsPerUser(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	ws := appendAll(t, s, alice.msg("#go", "hello"))
	id := ws[0].Message.ID
	var r core.MessageReader = s
	m, err := r.Message(ctx, alice.user.ID, id)
	if err != nil || m.Body != "hello" || m.Peer.Remote != "#go" {
		t.Fatalf("own message: %+v, %v", m, err)
	}
	if _, err := r.Message(ctx, bob.user.ID, id); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("another user's message: %v, want core.ErrNotFound", err)
	}
	if _, err := r.Message(ctx, alice.user.ID, id+1); !errors.Is(err, core.ErrNotFound) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("no such message: %v, want ErrNotFound", err)
	}
}
