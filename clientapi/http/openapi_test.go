package httpapi

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
)

type openAPIDoc struct {
	OpenAPI string                                       `json:"openapi"`
	Paths   map[string]map[string]openAPIOperation       `json:"paths"`
	Comps   struct{ Schemas map[string]json.RawMessage } `json:"components"`
}

type openAPIOperation struct {
	Security  *[]map[string][]string `json:"security"`
	Responses map[string]json.RawMessage
}

// TestOpenAPIMatchesRoutes walks the registered routes: each must be in
// openapi.json with the same method, and the document may name no route
// the server lacks. Public routes must say so (security: []), and every
// $ref must resolve.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc openAPIDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	documented := map[string]openAPIOperation{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	srv := New(Config{})
	registered := map[string]bool{}
	for _, rt := range srv.routes {
		key := rt.method + " " + rt.pattern
		registered[key] = true
		op, ok := documented[key]
		if !ok {
			t.Errorf("route %s is not in openapi.json", key)
			continue
		}
		public := op.Security != nil && len(*op.Security) == 0
		if public != rt.public {
			t.Errorf("%s: public %v in the code, %v in openapi.json", key, rt.public, public)
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s documents no response", key)
		}
	}
	var extra []string
	for key := range documented {
		if !registered[key] {
			extra = append(extra, key)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("openapi.json documents routes the server lacks: %v", extra)
	}
	// Every schema reference resolves.
	for _, ref := range refsIn(openAPI) {
		name, ok := strings.CutPrefix(ref, "#/components/schemas/")
		if ok && doc.Comps.Schemas[name] == nil {
			t.Errorf("unresolved %s", ref)
		}
	}
}

func refsIn(b []byte) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "$ref" {
					out = append(out, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	var v any
	_ = json.Unmarshal(b, &v)
	walk(v)
	return out
}
