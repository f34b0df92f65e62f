package history

import (
	"context"
	"reflect"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestFedContacts: entries are stored whole, an entry with nothing left
// is deleted, and pending requests are counted per user.
func TestFedContacts(t *testing.T) {
	st := openTest(t)
	ctx := context.Background()
	alice, err := st.CreateUser(ctx, "alice", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, "bob", "pw", false)
	if err != nil {
		t.Fatal(err)
	}
	carol := core.FedContact{Addr: "carol@b.example", Name: "Carol", Groups: []string{"work", "b"}, Listed: true, To: true, Ask: false}
	stranger := core.FedContact{Addr: "eve@c.example", Pending: true, PendingText: "hi, it's eve"}
	for _, c := range []core.FedContact{carol, stranger} {
		if err := st.PutFedContact(ctx, alice.ID, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutFedContact(ctx, bob.ID, core.FedContact{Addr: "dan@c.example", Pending: true}); err != nil {
		t.Fatal(err)
	}
	got, err := st.FedContacts(ctx, alice.ID)
	if err != nil || !reflect.DeepEqual(got, []core.FedContact{carol, stranger}) {
		t.Fatalf("contacts %+v, %v", got, err)
	}
	if n, err := st.CountFedPending(ctx, alice.ID); n != 1 || err != nil {
		t.Fatalf("pending %d, %v", n, err)
	}
	carol.From, carol.Groups = true, nil
	if err := st.PutFedContact(ctx, alice.ID, carol); err != nil {
		t.Fatal(err)
	}
	if c, ok, err := st.FedContact(ctx, alice.ID, carol.Addr); !ok || err != nil || !reflect.DeepEqual(c, carol) || c.Subscription() != core.SubBoth {
		t.Fatalf("carol %+v %v %v", c, ok, err)
	}
	stranger.Pending = false // refused: nothing left to keep
	if err := st.PutFedContact(ctx, alice.ID, stranger); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.FedContact(ctx, alice.ID, stranger.Addr); ok || err != nil {
		t.Fatalf("refused stranger still stored: %v %v", ok, err)
	}
	if n, _ := st.CountFedPending(ctx, bob.ID); n != 1 {
		t.Fatalf("bob's pending %d", n)
	}
}
