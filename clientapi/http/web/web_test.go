package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

// TestHeaders checks that every file of the page comes with its type and
// the page's policy: no inline code, this origin only, no framing, no
// sniffing, no referrer, Trusted Types.
func TestHeaders(t *testing.T) {
	h := Handler()
	for path, ctype := range map[string]string{
		"/":                 "text/html; charset=utf-8",
		"/assets/app.js":    "text/javascript; charset=utf-8",
		"/assets/style.css": "text/css; charset=utf-8",
		"/assets/icon.svg":  "image/svg+xml",
	} {
		resp := get(t, h, path)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ctype {
			t.Errorf("%s: %s %q, want 200 %q", path, resp.Status, resp.Header.Get("Content-Type"), ctype)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
			"frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "*") || strings.Contains(csp, "data:") {
			t.Errorf("%s: CSP %q allows more than this origin", path, csp)
		}
		for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"} {
			if got := resp.Header.Get(k); got != v {
				t.Errorf("%s: %s %q, want %q", path, k, got, v)
			}
		}
		// Unchanged files revalidate to 304.
		if again := get(t, h, path, "If-None-Match", resp.Header.Get("ETag")); again.StatusCode != http.StatusNotModified {
			t.Errorf("%s with its ETag: %s, want 304", path, again.Status)
		}
	}
	for _, path := range []string{"/assets/nope.js", "/assets/", "/assets/index.html", "/assets/../web.go"} {
		if resp := get(t, h, path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %s, want 404", path, resp.Status)
		}
	}
}

// TestNoInlineCodeOrMarkupFromStrings reads the page's own files: the CSP
// would block inline code, and Trusted Types any string turned into
// markup, so a file that tried would be a page that breaks in the
// browser. This finds it before a browser does.
func TestNoInlineCodeOrMarkupFromStrings(t *testing.T) {
	h := Handler()
	index := body(t, get(t, h, "/"))
	if regexp.MustCompile(`<script(\s[^>]*)?>\s*[^<\s]`).MatchString(index) || strings.Contains(index, "<style") ||
		regexp.MustCompile(`\sstyle=|\son[a-z]+=`).MatchString(index) {
		t.Error("index.html has inline script, style or event handler attributes")
	}
	entries, err := static.ReadDir("static")
	if err != nil {
		t.Fatal(err)
	}
	sink := regexp.MustCompile(`innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\('style'`)
	n := 0
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".js") {
			continue
		}
		n++
		src := body(t, get(t, h, "/assets/"+e.Name()))
		if m := sink.FindString(src); m != "" {
			t.Errorf("%s uses %s: build DOM nodes instead", e.Name(), m)
		}
	}
	if n < 5 {
		t.Fatalf("found %d scripts; the walk is broken", n)
	}
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
