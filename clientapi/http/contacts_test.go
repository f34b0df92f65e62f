package httpapi

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestContacts: a network's contact list and its unanswered subscription
// requests, as its bridge sent them, are listed for its user only.
func TestContacts(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, bobTok := e.user("bob")
	n, b := e.network(tok, "work")
	var list struct{ Networks []contactListJSON }
	e.mustDo("GET", "/api/v1/contacts", tok, nil, 200, &list)
	if len(list.Networks) != 0 {
		t.Fatalf("contacts before the bridge sent any: %+v", list)
	}
	err := b.env.Inbound.Receive(context.Background(),
		core.ContactsEvent{Contacts: []core.Contact{{Addr: "carol@x", Name: "Carol", Groups: []string{"friends"}, Subscription: core.SubBoth}, {Addr: "dave@x", Subscription: core.SubNone, Asked: true}}},
		core.SubscriptionEvent{Contact: "erin@x", Kind: core.SubscribeRequest})
	if err != nil {
		t.Fatal(err)
	}
	e.mustDo("GET", "/api/v1/contacts", tok, nil, 200, &list)
	if len(list.Networks) != 1 || list.Networks[0].Network != n.ID || len(list.Networks[0].Contacts) != 2 {
		t.Fatalf("contacts: %+v", list)
	}
	c := list.Networks[0].Contacts
	if c[0].Addr != "carol@x" || c[0].Name != "Carol" || c[0].Subscription != "both" || len(c[0].Groups) != 1 || c[1].Addr != "dave@x" || !c[1].Asked {
		t.Errorf("contacts %+v", c)
	}
	if p := list.Networks[0].Pending; len(p) != 1 || p[0] != "erin@x" {
		t.Errorf("pending %v", p)
	}
	list.Networks = nil
	e.mustDo("GET", "/api/v1/contacts", bobTok, nil, 200, &list)
	if len(list.Networks) != 0 {
		t.Errorf("bob sees alice's contacts: %+v", list)
	}
}
