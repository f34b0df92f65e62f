package history

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestIdempotency(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newFixture(t, s, "alice"), newFixture(t, s, "bob")
	if _, err := s.Idempotency(ctx, alice.user.ID, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	first, err := s.PutIdempotency(ctx, core.IdempotencyRecord{User: alice.user.ID, Key: "k", Fingerprint: []byte("f1"), Message: 7})
	if err != nil || first.Message != 7 {
		t.Fatalf("first put: %+v, %v", first, err)
	}
	// A second put with the same key keeps the first record.
	again, err := s.PutIdempotency(ctx, core.IdempotencyRecord{User: alice.user.ID, Key: "k", Fingerprint: []byte("f2"), Message: 8})
	if err != nil || again.Message != 7 || string(again.Fingerprint) != "f1" {
		t.Fatalf("second put: %+v, %v", again, err)
	}
	// Keys are per user.
	if _, err := s.Idempotency(ctx, bob.user.ID, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob sees alice's key: %v", err)
	}
	if r, err := s.PutIdempotency(ctx, core.IdempotencyRecord{User: bob.user.ID, Key: "k", Fingerprint: []byte("b"), Message: 9}); err != nil || r.Message != 9 {
		t.Fatalf("bob's put: %+v, %v", r, err)
	}
	if n, err := s.PruneIdempotency(ctx, time.Now().Add(time.Minute)); err != nil || n != 2 {
		t.Fatalf("PruneIdempotency: %d, %v", n, err)
	}
}
