package httpapi

import (
	"fmt"
	"net/url"
	"testing"
)

func TestSearch(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	n, b := e.network(tok, "lab")
	b.incoming(t, "#a", "the build failed again", "lunch?")
	b.incoming(t, "#b", "build is green <b>")
	a := e.convOf(tok, "#a")
	type results struct{ Results []searchResultJSON }
	var r results
	e.mustDo("GET", "/api/v1/search?q=build", tok, nil, 200, &r)
	if len(r.Results) != 2 || r.Results[0].Message.Body != "build is green <b>" {
		t.Fatalf("results: %+v", r.Results)
	}
	// Snippets come with highlights, and escaped for HTML.
	if got := r.Results[0].SnippetHTML; got != "<mark>build</mark> is green &lt;b&gt;" {
		t.Fatalf("snippet_html %q", got)
	}
	if h := r.Results[0].Highlights; len(h) != 1 || r.Results[0].Snippet[h[0].Start:h[0].End] != "build" {
		t.Fatalf("highlights %+v", h)
	}
	e.mustDo("GET", fmt.Sprintf("/api/v1/search?q=build&conversation=%d", a.ID), tok, nil, 200, &r)
	if len(r.Results) != 1 || r.Results[0].Message.ID == "" || r.Results[0].Message.Conversation != a.ID {
		t.Fatalf("in #a: %+v", r.Results)
	}
	e.mustDo("GET", fmt.Sprintf("/api/v1/search?q=build&network=%d&sender=bob&since=2000-01-01T00:00:00Z&order=relevance", n.ID), tok, nil, 200, &r)
	if len(r.Results) != 2 {
		t.Fatalf("filtered: %+v", r.Results)
	}
	e.mustDo("GET", "/api/v1/search?q=build&sender=carol", tok, nil, 200, &r)
	if len(r.Results) != 0 {
		t.Fatalf("from carol: %+v", r.Results)
	}
	e.mustDo("GET", "/api/v1/search?q=build&until=2000-01-01T00:00:00Z", tok, nil, 200, &r)
	if len(r.Results) != 0 {
		t.Fatalf("until 2000: %+v", r.Results)
	}
	for _, c := range []struct{ query, field string }{
		{"", "q"}, {"q=" + url.QueryEscape(`"unclosed`), "q"}, {"q=x&since=yesterday", "since"},
		{"q=x&conversation=-1", "conversation"}, {"q=x&order=best", "order"}, {"q=x&limit=9999", "limit"},
		{"q=x&before=zz", "before"},
	} {
		e.wantProblem(e.do("GET", "/api/v1/search?"+c.query, tok, nil), 400, c.field)
	}
}
