package history

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestTokens(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	alice, bob := newFixture(t, s, "alice"), newFixture(t, s, "bob")
	exp := time.Now().Add(time.Hour)
	tok, err := s.CreateToken(ctx, core.AccessToken{User: alice.user.ID, Hash: []byte("h1"), Name: "laptop", Expires: exp})
	if err != nil || tok.ID == 0 || tok.Created.IsZero() {
		t.Fatalf("CreateToken: %+v, %v", tok, err)
	}
	if _, err := s.CreateToken(ctx, core.AccessToken{User: 999, Hash: []byte("h2"), Expires: exp}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token for a missing user: %v", err)
	}
	got, err := s.TokenByHash(ctx, []byte("h1"))
	if err != nil || got.ID != tok.ID || got.User != alice.user.ID || got.Name != "laptop" || !bytes.Equal(got.Hash, []byte("h1")) {
		t.Fatalf("TokenByHash: %+v, %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, []byte("nope")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown hash: %v", err)
	}
	// Bob neither sees nor revokes Alice's token.
	if l, err := s.Tokens(ctx, bob.user.ID); err != nil || len(l) != 0 {
		t.Fatalf("bob's tokens: %+v, %v", l, err)
	}
	if err := s.DeleteToken(ctx, bob.user.ID, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob revoking alice's token: %v", err)
	}
	at := time.Now().Add(time.Minute)
	if err := s.TouchToken(ctx, tok.ID, at); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Tokens(ctx, alice.user.ID); err != nil || len(l) != 1 || l[0].LastUsed.UnixMilli() != at.UnixMilli() {
		t.Fatalf("alice's tokens: %+v, %v", l, err)
	}
	// Pruning takes only the expired ones.
	if _, err := s.CreateToken(ctx, core.AccessToken{User: alice.user.ID, Hash: []byte("old"), Expires: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PruneTokens(ctx, time.Now()); err != nil || n != 1 {
		t.Fatalf("PruneTokens: %d, %v", n, err)
	}
	if err := s.DeleteToken(ctx, alice.user.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, []byte("h1")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token still found: %v", err)
	}
}
