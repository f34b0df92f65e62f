package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/clientapi/http/web"
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

// TestPageMounted checks the web page is served through the port's
// handler with the page's policy, while the API keeps its stricter one.
func TestPageMounted(t *testing.T) {
	e := newEnv(t)
	page := e.do("GET", "/", "", nil)
	defer page.Body.Close()
	if page.StatusCode != 200 || page.Header.Get("Content-Security-Policy") != web.ContentSecurityPolicy ||
		!strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %s %v", page.Status, page.Header)
	}
	api := e.do("GET", "/healthz", "", nil)
	defer api.Body.Close()
	if got := api.Header.Get("Content-Security-Policy"); got != "default-src 'none'; frame-ancestors 'none'" {
		t.Fatalf("/healthz CSP %q", got)
	}
	// The page's paths are not API routes: openapi.json does not name
	// them, and nothing under /api/ is the page.
	for _, p := range web.Paths {
		if strings.Contains(p, "/api/") {
			t.Errorf("page path %s is under the API", p)
		}
	}
	e.wantProblem(e.do("GET", "/api/v1/", "", nil), http.StatusNotFound, "")
	if resp := e.do("GET", "/nope", "", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %s", resp.Status)
	}
}
