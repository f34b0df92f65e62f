package httpapi

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	resp := e.do("GET", "/healthz", "", nil)
	defer resp.Body.Close()
	var body struct{ Status, Version string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ok" || body.Version != "v-test" {
		t.Fatalf("healthz: %d %+v", resp.StatusCode, body)
	}
	if resp := e.do("POST", "/healthz", "", nil); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /healthz: %v", resp.Status)
	}
	// Unknown API paths answer a problem, not the mux's text.
	e.wantProblem(e.do("GET", "/api/v1/nope", "", nil), http.StatusNotFound, "")
}
