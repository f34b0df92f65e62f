package httpapi

import (
	"fmt"
	"testing"
)

func TestNetworks(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	n, _ := e.network(tok, "lab")
	var list struct{ Networks []networkJSON }
	// The state comes from the Hub once the bridge reported it.
	for range 100 {
		e.mustDo("GET", "/api/v1/networks", tok, nil, 200, &list)
		if len(list.Networks) == 1 && list.Networks[0].State != nil && list.Networks[0].State.State == "connected" {
			break
		}
	}
	if len(list.Networks) != 1 || list.Networks[0].Name != "lab" || list.Networks[0].State == nil || list.Networks[0].State.State != "connected" {
		t.Fatalf("networks: %+v", list.Networks)
	}

	// Validation names the member at fault, through the registry.
	e.wantProblem(e.do("POST", "/api/v1/networks", tok, map[string]any{"name": "Bad Name", "kind": "test"}), 400, "name")
	e.wantProblem(e.do("POST", "/api/v1/networks", tok, map[string]any{"name": "ok"}), 400, "kind")
	e.wantProblem(e.do("POST", "/api/v1/networks", tok, map[string]any{"name": "ok", "kind": "smtp"}), 400, "settings")
	e.wantProblem(e.do("POST", "/api/v1/networks", tok, map[string]any{"name": "ok", "kind": "test", "settings": map[string]string{"addr": "bad"}}), 400, "settings.addr")
	e.wantProblem(e.do("POST", "/api/v1/networks", tok, map[string]any{"name": "lab", "kind": "test"}), 409, "name")

	// A merge patch: set, remove, keep; secrets are never sent back.
	path := fmt.Sprintf("/api/v1/networks/%d", n.ID)
	var got networkJSON
	e.mustDo("PATCH", path, tok, map[string]any{"settings": map[string]any{"addr": "x:1", "password": "s3cret", "nick": "al"}}, 200, &got)
	got = networkJSON{} // Unmarshal would merge into the old map
	e.mustDo("PATCH", path, tok, map[string]any{"settings": map[string]any{"nick": nil}, "enabled": false}, 200, &got)
	if got.Enabled || got.Settings["addr"] != "x:1" || got.Settings["nick"] != "" || len(got.Secrets) != 1 || got.Settings["password"] != "" {
		t.Fatalf("patched: %+v", got)
	}
	e.wantProblem(e.do("PATCH", path, tok, map[string]any{"settings": map[string]any{"addr": "bad"}}), 400, "settings.addr")
	e.wantProblem(e.do("PATCH", "/api/v1/networks/999", tok, map[string]any{}), 404, "")

	// Deleting a network with history takes ?with_history=true.
	e.mustDo("PATCH", path, tok, map[string]any{"enabled": true}, 200, nil)
	_, b := e.network(tok, "chat")
	b.incoming(t, "#x", "hello")
	e.wantProblem(e.do("DELETE", fmt.Sprintf("/api/v1/networks/%d", b.env.Network.ID), tok, nil), 409, "with_history")
	e.mustDo("DELETE", fmt.Sprintf("/api/v1/networks/%d?with_history=true", b.env.Network.ID), tok, nil, 204, nil)
	e.mustDo("DELETE", path, tok, nil, 204, nil)
	e.mustDo("GET", "/api/v1/networks", tok, nil, 200, &list)
	if len(list.Networks) != 0 {
		t.Fatalf("after deleting: %+v", list.Networks)
	}
}
