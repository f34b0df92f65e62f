package httpapi

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestUsersIsolated gives Bob Alice's ids on every route and checks he
// neither reads nor changes anything of hers, and that his listings and
// his event stream show nothing of hers.
func TestUsersIsolated(t *testing.T) {
	e := newEnv(t)
	_, alice := e.user("alice")
	_, bob := e.user("bob")
	an, ab := e.network(alice, "lab")
	ab.incoming(t, "#secret", "alice's secret plan")
	ac := e.convOf(alice, "#secret")
	var aliceTokens struct{ Tokens []tokenJSON }
	e.mustDo("GET", "/api/v1/tokens", alice, nil, 200, &aliceTokens)
	bobStream := e.events(bob, "")
	bobStream.next("ready")

	conv := fmt.Sprintf("/api/v1/conversations/%d", ac.ID)
	net := fmt.Sprintf("/api/v1/networks/%d", an.ID)
	checks := []struct {
		route        string // the pattern it checks, for the coverage check below
		method, path string
		body         any
		status       int
		field        string
	}{
		{"GET /api/v1/conversations/{id}/messages", "GET", conv + "/messages", nil, 404, ""},
		{"", "GET", conv + "/messages?after=" + ac.Last.ID, nil, 404, ""},
		{"POST /api/v1/conversations/{id}/messages", "POST", conv + "/messages", map[string]string{"body": "hijack"}, 404, ""},
		{"PUT /api/v1/conversations/{id}/read", "PUT", conv + "/read", map[string]string{"upto": ac.Last.ID}, 404, ""},
		{"PATCH /api/v1/networks/{id}", "PATCH", net, map[string]any{"enabled": false}, 404, ""},
		{"DELETE /api/v1/networks/{id}", "DELETE", net + "?with_history=true", nil, 404, ""},
		{"POST /api/v1/networks/{id}/messages", "POST", net + "/messages", map[string]string{"to": "carol", "body": "hijack"}, 404, ""},
		{"PUT /api/v1/networks/{id}/contacts/{addr}", "PUT", net + "/contacts/carol@example.org", map[string]string{"name": "Carol"}, 404, ""},
		{"DELETE /api/v1/networks/{id}/contacts/{addr}", "DELETE", net + "/contacts/carol@example.org", nil, 404, ""},
		{"POST /api/v1/networks/{id}/contacts/{addr}/subscription", "POST", net + "/contacts/carol@example.org/subscription", map[string]string{"action": "ask"}, 404, ""},
		{"GET /api/v1/networks/{id}/rooms/{addr}", "GET", net + "/rooms/%23secret", nil, 404, ""},
		{"PUT /api/v1/networks/{id}/rooms/{addr}", "PUT", net + "/rooms/%23secret", nil, 404, ""},
		{"DELETE /api/v1/networks/{id}/rooms/{addr}", "DELETE", net + "/rooms/%23secret", nil, 404, ""},
		{"DELETE /api/v1/tokens/{id}", "DELETE", fmt.Sprintf("/api/v1/tokens/%d", aliceTokens.Tokens[0].ID), nil, 404, ""},
		{"", "GET", fmt.Sprintf("/api/v1/search?q=secret&conversation=%d", ac.ID), nil, 404, "conversation"},
		{"", "GET", fmt.Sprintf("/api/v1/search?q=secret&network=%d", an.ID), nil, 404, "network"},
	}
	checked := map[string]bool{}
	for _, c := range checks {
		p := e.wantProblem(e.do(c.method, c.path, bob, c.body), c.status, c.field)
		// Refused as not hers to name, not for some other reason (an
		// unknown endpoint, a room the network is not in).
		if !strings.HasSuffix(p.Detail, " not found") {
			t.Errorf("%s %s: %q, want the id not found", c.method, c.path, p.Detail)
		}
		checked[c.route] = true
	}
	// Every route that names something by its id is checked above: a
	// new one fails here until it is.
	for _, rt := range New(Config{}).routes {
		key := rt.method + " " + rt.pattern
		if strings.Contains(rt.pattern, "{") && !checked[key] {
			t.Errorf("route %s has no isolation check", key)
		}
	}
	// Bob's own listings are empty; his search finds nothing of hers.
	for path, key := range map[string]string{
		"/api/v1/networks": "networks", "/api/v1/conversations": "conversations", "/api/v1/search?q=secret": "results",
		"/api/v1/contacts": "networks", "/api/v1/rooms": "rooms",
	} {
		var got map[string][]any
		e.mustDo("GET", path, bob, nil, 200, &got)
		if len(got[key]) != 0 {
			t.Errorf("bob's %s: %v", path, got)
		}
	}
	var bobTokens struct{ Tokens []tokenJSON }
	e.mustDo("GET", "/api/v1/tokens", bob, nil, 200, &bobTokens)
	if len(bobTokens.Tokens) != 1 || bobTokens.Tokens[0].ID == aliceTokens.Tokens[0].ID {
		t.Errorf("bob's tokens: %+v", bobTokens.Tokens)
	}
	// Nothing of Alice changed, and Bob's stream heard nothing of her.
	var page messagesPage
	e.mustDo("GET", conv+"/messages", alice, nil, 200, &page)
	if len(page.Messages) != 1 || e.convOf(alice, "#secret").ReadUpto != "" {
		t.Fatalf("alice's conversation changed: %+v", page)
	}
	if got := ab.sentBodies(); len(got) != 0 {
		t.Fatalf("alice's network sent %v", got)
	}
	e.mustDo("GET", "/api/v1/tokens", alice, nil, 200, nil)
	ab.incoming(t, "#secret", "more")
	for {
		select {
		case ev, ok := <-bobStream.events:
			if ok && strings.Contains(ev.data, "secret") || ok && ev.name == "message" {
				t.Fatalf("bob's stream got %+v", ev)
			}
			if !ok {
				t.Fatal("bob's stream ended")
			}
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}
