package httpapi

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestUploads: a slot from the API, the PUT it names, the GET anyone can
// make; refusals name the member at fault; another user's token cannot
// use the slot's PUT address without the slot's own header.
func TestUploads(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	var slot uploadSlotJSON
	e.mustDo("POST", "/api/v1/uploads", tok, map[string]any{"name": "plan.txt", "size": 9, "type": "text/plain"}, 201, &slot)
	if !strings.HasPrefix(slot.PutURL, e.ts.URL+"/upload/") || slot.GetURL != slot.PutURL || slot.Headers["Authorization"] == "" {
		t.Fatalf("slot %+v", slot)
	}
	put := func(headers map[string]string) int {
		req, _ := http.NewRequest("PUT", slot.PutURL, strings.NewReader("step one!"))
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := put(map[string]string{"Authorization": "Bearer " + tok}); got != 403 {
		t.Errorf("PUT with the API token instead of the slot's header answered %d, want 403", got)
	}
	if got := put(slot.Headers); got != 201 {
		t.Fatalf("PUT answered %d", got)
	}
	resp, err := e.ts.Client().Get(slot.GetURL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "step one!" {
		t.Errorf("GET answered %d %q", resp.StatusCode, b)
	}

	e.wantProblem(e.do("POST", "/api/v1/uploads", tok, map[string]any{"name": "big.iso", "size": 2 << 20}), 413, "size")
	e.wantProblem(e.do("POST", "/api/v1/uploads", tok, map[string]any{"name": "a/b", "size": 1}), 400, "name")
	e.wantProblem(e.do("POST", "/api/v1/uploads", tok, map[string]any{"name": "a", "size": 0}), 400, "size")
	e.wantProblem(e.do("POST", "/api/v1/uploads", tok, map[string]any{"name": "a", "size": 1, "colour": "red"}), 400, "colour")
	e.wantProblem(e.do("POST", "/api/v1/uploads", "", map[string]any{"name": "a", "size": 1}), 401, "Authorization")
}
