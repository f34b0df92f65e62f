package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
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

// TestContactChangesRefused: the contact routes check their input with
// precise problems, refuse another user's network, and say 409 for a
// network that keeps no contact list. (The accepted path runs against the
// fed bridge in cmd/switchboard's TestFedPresenceThreeDaemons.)
func TestContactChangesRefused(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, bobTok := e.user("bob")
	n, b := e.network(tok, "work")
	base := fmt.Sprintf("/api/v1/networks/%d/contacts/", n.ID)
	for _, c := range []struct {
		method, path, token string
		body                any
		want                int
		field               string
	}{
		{"POST", base + "carol@x/subscription", tok, map[string]any{"action": "befriend"}, 400, "action"},
		{"POST", base + "carol@x/subscription", tok, map[string]any{}, 400, "action"},
		{"POST", base + "carol@x/subscription", tok, `{"action":"ask","extra":1}`, 400, "extra"},
		{"POST", base + "%20/subscription", tok, map[string]any{"action": "ask"}, 400, "addr"},
		{"PUT", base + "carol@x", tok, map[string]any{"name": "a\nb"}, 400, "name"},
		{"PUT", base + "carol@x", tok, map[string]any{"groups": []string{""}}, 400, "groups"},
		{"POST", "/api/v1/networks/x/contacts/carol@x/subscription", tok, map[string]any{"action": "ask"}, 400, "id"},
		{"POST", base + "carol@x/subscription", bobTok, map[string]any{"action": "ask"}, 404, ""},
		{"DELETE", base + "carol@x", bobTok, nil, 404, ""},
		{"POST", base + "carol@x/subscription", tok, map[string]any{"action": "allow"}, 409, ""},
		{"PUT", base + "carol@x", tok, map[string]any{"name": "Carol"}, 409, ""},
		{"DELETE", base + "carol@x", tok, nil, 409, ""},
	} {
		resp := e.do(c.method, c.path, c.token, c.body)
		var p problem
		_ = json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != c.want || p.Field != c.field || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s %s %v: %d %q field %q, want %d field %q", c.method, c.path, c.body, resp.StatusCode, resp.Header.Get("Content-Type"), p.Field, c.want, c.field)
		}
	}
	// A contact's last presence is listed with it.
	err := b.env.Inbound.Receive(context.Background(),
		core.ContactsEvent{Contacts: []core.Contact{{Addr: "carol@x", Subscription: core.SubTo}, {Addr: "dave@x", Subscription: core.SubTo}}},
		core.PresenceEvent{Contact: "carol@x", Status: core.Status{Show: core.ShowAway, Text: "lunch"}})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Networks []contactListJSON }
	e.mustDo("GET", "/api/v1/contacts", tok, nil, 200, &list)
	cs := list.Networks[0].Contacts
	if cs[0].Show != "away" || cs[0].Status != "lunch" || cs[1].Show != "offline" {
		t.Errorf("contacts with presence %+v", cs)
	}
}
