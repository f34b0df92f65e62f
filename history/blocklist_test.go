package history

import (
	"context"
	"strings"
	"testing"
)

func TestBlockList(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, "alice", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	other, err := st.CreateUser(ctx, "bob", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Block(ctx, u.ID, []string{"spam@libera.example.org", "troll@libera.example.org", "spam@libera.example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Block(ctx, other.ID, []string{"carol@libera.example.org"}); err != nil {
		t.Fatal(err)
	}
	got, err := st.BlockList(ctx, u.ID)
	if err != nil || strings.Join(got, ",") != "spam@libera.example.org,troll@libera.example.org" {
		t.Fatalf("block list %v, %v", got, err)
	}
	if err := st.Unblock(ctx, u.ID, []string{"spam@libera.example.org"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.BlockList(ctx, u.ID); strings.Join(got, ",") != "troll@libera.example.org" {
		t.Errorf("after unblocking one: %v", got)
	}
	if err := st.Unblock(ctx, u.ID, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.BlockList(ctx, u.ID); len(got) != 0 {
		t.Errorf("after unblocking all: %v", got)
	}
	if got, _ := st.BlockList(ctx, other.ID); strings.Join(got, ",") != "carol@libera.example.org" {
		t.Errorf("another user's block list changed: %v", got)
	}
}
