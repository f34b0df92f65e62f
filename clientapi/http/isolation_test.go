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
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		field        string
	}{
		{"GET", conv + "/messages", nil, 404, ""},
		{"GET", conv + "/messages?after=" + ac.Last.ID, nil, 404, ""},
		{"POST", conv + "/messages", map[string]string{"body": "hijack"}, 404, ""},
		{"PUT", conv + "/read", map[string]string{"upto": ac.Last.ID}, 404, ""},
		{"PATCH", net, map[string]any{"enabled": false}, 404, ""},
		{"DELETE", net + "?with_history=true", nil, 404, ""},
		{"DELETE", fmt.Sprintf("/api/v1/tokens/%d", aliceTokens.Tokens[0].ID), nil, 404, ""},
		{"GET", fmt.Sprintf("/api/v1/search?q=secret&conversation=%d", ac.ID), nil, 404, "conversation"},
		{"GET", fmt.Sprintf("/api/v1/search?q=secret&network=%d", an.ID), nil, 404, "network"},
	} {
		e.wantProblem(e.do(c.method, c.path, bob, c.body), c.status, c.field)
	}
	// Bob's own listings are empty; his search finds nothing of hers.
	for path, key := range map[string]string{
		"/api/v1/networks": "networks", "/api/v1/conversations": "conversations", "/api/v1/search?q=secret": "results",
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
