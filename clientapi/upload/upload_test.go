package upload

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

type rig struct {
	svc *Service
	srv *httptest.Server
	now time.Time
	dir string
}

// newRig runs the service behind a real TLS listener, with a clock the
// test moves.
func newRig(t *testing.T, dir string, quota int64) *rig {
	t.Helper()
	r := &rig{now: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC), dir: dir}
	r.srv = httptest.NewUnstartedServer(nil)
	r.srv.StartTLS()
	t.Cleanup(r.srv.Close)
	svc, err := New(Config{Dir: dir, BaseURL: r.srv.URL, MaxFileSize: 1000, Quota: quota,
		Log: slog.New(slog.DiscardHandler), Now: func() time.Time { return r.now }})
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	r.srv.Config.Handler = svc.Handler()
	return r
}

func (r *rig) do(t *testing.T, method, url string, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := r.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func (r *rig) put(t *testing.T, sl core.UploadSlot, body, contentType string) *http.Response {
	hdr := map[string]string{"Content-Type": contentType}
	for k, v := range sl.Headers {
		hdr[k] = v
	}
	return r.do(t, "PUT", sl.PutURL, body, hdr)
}

func readAll(t *testing.T, res *http.Response) string {
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUploadAndFetch: a slot, its PUT, and the GET anyone with the
// address can make, with headers that keep the file from running as the
// daemon's page; the slot works once.
func TestUploadAndFetch(t *testing.T) {
	r := newRig(t, t.TempDir(), 0)
	sl, err := r.svc.NewSlot(1, "holiday photo.png", 5, "image/png")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sl.PutURL, r.srv.URL+"/upload/") || !strings.HasSuffix(sl.PutURL, "/holiday%20photo.png") || sl.GetURL != sl.PutURL {
		t.Fatalf("slot addresses %q, %q", sl.PutURL, sl.GetURL)
	}
	if res := r.put(t, sl, "\x89PNG!", "image/png"); res.StatusCode != 201 {
		t.Fatalf("PUT answered %d: %s", res.StatusCode, readAll(t, res))
	}
	res := r.do(t, "GET", sl.GetURL, "", nil)
	if res.StatusCode != 200 || readAll(t, res) != "\x89PNG!" {
		t.Fatalf("GET answered %d", res.StatusCode)
	}
	h := res.Header
	if h.Get("Content-Type") != "image/png" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") ||
		h.Get("Content-Security-Policy") != "default-src 'none'; sandbox" || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("GET headers %v", h)
	}
	if res := r.put(t, sl, "again", "image/png"); res.StatusCode != 409 {
		t.Errorf("a second PUT to the slot answered %d, want 409", res.StatusCode)
	}
	if res := r.do(t, "GET", strings.TrimSuffix(sl.GetURL, ".png")+".jpg", "", nil); res.StatusCode != 404 {
		t.Errorf("GET under another name answered %d, want 404", res.StatusCode)
	}
	if r.svc.Used(1) != 5 {
		t.Errorf("user 1 uses %d bytes, want 5", r.svc.Used(1))
	}
}

// TestUploadServesMarkupAsDownload: an HTML or SVG upload is never shown
// as a page on the daemon's origin.
func TestUploadServesMarkupAsDownload(t *testing.T) {
	r := newRig(t, t.TempDir(), 0)
	for _, ct := range []string{"text/html", "image/svg+xml", ""} {
		sl, err := r.svc.NewSlot(1, "x.html", 13, ct)
		if err != nil {
			t.Fatal(err)
		}
		if res := r.put(t, sl, "<script>1</script>"[:13], ct); res.StatusCode != 201 {
			t.Fatalf("PUT %q answered %d", ct, res.StatusCode)
		}
		res := r.do(t, "GET", sl.GetURL, "", nil)
		if res.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment") {
			t.Errorf("%q served as %q, %q", ct, res.Header.Get("Content-Type"), res.Header.Get("Content-Disposition"))
		}
	}
}

// TestUploadRefusals: each way a PUT or a slot request can be wrong gets
// its own answer, and a refused PUT gives its reservation back.
func TestUploadRefusals(t *testing.T) {
	r := newRig(t, t.TempDir(), 1500)
	for _, name := range []string{"", "..", "a/b", "a\\b", "tab\there", strings.Repeat("x", 256), "bad\xff"} {
		if _, err := r.svc.NewSlot(1, name, 1, ""); !errors.Is(err, core.ErrUploadName) {
			t.Errorf("name %q: %v, want core.ErrUploadName", name, err)
		}
	}
	if _, err := r.svc.NewSlot(1, "f", 0, ""); !errors.Is(err, core.ErrUploadSize) {
		t.Errorf("size 0: %v", err)
	}
	var tooLarge *core.UploadTooLargeError
	if _, err := r.svc.NewSlot(1, "f", 1001, ""); !errors.As(err, &tooLarge) || tooLarge.Max != 1000 {
		t.Errorf("size over the limit: %v", err)
	}

	sl, err := r.svc.NewSlot(1, "f.txt", 10, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		url  string
		body string
		hdr  map[string]string
		want int
	}{
		{"no authorization", sl.PutURL, "0123456789", map[string]string{"Content-Type": "text/plain"}, 403},
		{"another slot's token", sl.PutURL, "0123456789", map[string]string{"Content-Type": "text/plain", "Authorization": "Bearer 00"}, 403},
		{"unknown id", r.srv.URL + "/upload/aaaaaaaaaaaaaaaaaaaaaaaaaa/f.txt", "0123456789", sl.Headers, 404},
		{"malformed id", r.srv.URL + "/upload/..%2f..%2fetc/passwd", "0123456789", sl.Headers, 404},
	} {
		if res := r.do(t, "PUT", tc.url, tc.body, tc.hdr); res.StatusCode != tc.want ||
			res.Header.Get("Content-Type") != "application/problem+json" && res.StatusCode != 404 {
			t.Errorf("%s: PUT answered %d (%s), want %d", tc.name, res.StatusCode, res.Header.Get("Content-Type"), tc.want)
		}
	}
	// The slot was taken by the first authorized try only; these fail it.
	for _, tc := range []struct {
		name, body, ct string
		want           int
	}{
		{"short body", "01234", "text/plain", 400},
		{"long body", "0123456789ABC", "text/plain", 413},
		{"other type", "0123456789", "image/png", 400},
	} {
		sl, err := r.svc.NewSlot(1, "f.txt", 10, "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if res := r.put(t, sl, tc.body, tc.ct); res.StatusCode != tc.want {
			t.Errorf("%s: PUT answered %d, want %d", tc.name, res.StatusCode, tc.want)
		}
		if res := r.do(t, "GET", sl.GetURL, "", nil); res.StatusCode != 404 {
			t.Errorf("%s: the refused upload is served (%d)", tc.name, res.StatusCode)
		}
	}
	// Only the first slot (10 bytes, never used) still holds quota.
	if got := r.svc.Used(1); got != 10 {
		t.Errorf("after refused PUTs user 1 holds %d bytes, want the open slot's 10", got)
	}
	entries, _ := os.ReadDir(r.dir)
	if len(entries) != 0 {
		t.Errorf("refused uploads left %d entries on disk", len(entries))
	}

	// Quota: 1500 bytes, 10 reserved.
	if _, err := r.svc.NewSlot(1, "big", 1000, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.NewSlot(1, "big2", 600, ""); !errors.Is(err, core.ErrUploadQuota) {
		t.Errorf("over the quota: %v", err)
	}
	if _, err := r.svc.NewSlot(2, "big2", 600, ""); err != nil {
		t.Errorf("another user's quota is their own: %v", err)
	}
	// Slots expire and give their reservation back.
	r.now = r.now.Add(slotLifetime + time.Second)
	if _, err := r.svc.NewSlot(1, "big2", 600, ""); err != nil {
		t.Errorf("after the slots expired: %v", err)
	}
	if res := r.put(t, sl, "0123456789", "text/plain"); res.StatusCode != 404 {
		t.Errorf("PUT to an expired slot answered %d, want 404", res.StatusCode)
	}
	for i := range maxSlotsPerUser {
		if _, err := r.svc.NewSlot(3, "f", 1, ""); err != nil {
			t.Fatalf("slot %d: %v", i, err)
		}
	}
	if _, err := r.svc.NewSlot(3, "f", 1, ""); !errors.Is(err, core.ErrUploadBusy) {
		t.Errorf("slot %d: %v, want core.ErrUploadBusy", maxSlotsPerUser+1, err)
	}
}

// TestUploadsSurviveARestart: a new service on the same directory serves
// what was stored and counts it against the quota; an unfinished upload
// is removed.
func TestUploadsSurviveARestart(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, 100)
	sl, err := r.svc.NewSlot(core.UserID(7), "notes.txt", 4, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if res := r.put(t, sl, "abcd", "text/plain"); res.StatusCode != 201 {
		t.Fatalf("PUT answered %d", res.StatusCode)
	}
	if err := os.Mkdir(filepath.Join(dir, tmpPrefix+"zzzzzzzzzzzzzzzzzzzzzzzzzz"), 0o700); err != nil {
		t.Fatal(err)
	}
	again := newRig(t, dir, 100)
	path := strings.TrimPrefix(sl.GetURL, r.srv.URL)
	if res := again.do(t, "GET", again.srv.URL+path, "", nil); res.StatusCode != 200 || readAll(t, res) != "abcd" {
		t.Errorf("after a restart GET answered %d", res.StatusCode)
	}
	if got := again.svc.Used(7); got != 4 {
		t.Errorf("after a restart user 7 uses %d bytes, want 4", got)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"zzzzzzzzzzzzzzzzzzzzzzzzzz")); !os.IsNotExist(err) {
		t.Errorf("an unfinished upload was kept: %v", err)
	}
}

// TestUploadPreflight: web clients on other origins may PUT.
func TestUploadPreflight(t *testing.T) {
	r := newRig(t, t.TempDir(), 0)
	res := r.do(t, "OPTIONS", r.srv.URL+"/upload/aaaaaaaaaaaaaaaaaaaaaaaaaa/f", "", map[string]string{
		"Origin": "https://converse.example", "Access-Control-Request-Method": "PUT"})
	if res.StatusCode != 204 || res.Header.Get("Access-Control-Allow-Origin") != "*" ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Methods"), "PUT") ||
		!strings.Contains(res.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("preflight answered %d %v", res.StatusCode, res.Header)
	}
}

// TestDamagedUploadDoesNotStopTheService: an upload whose description is
// unreadable is skipped (and logged), the others still served.
func TestDamagedUploadDoesNotStopTheService(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, 0)
	sl, err := r.svc.NewSlot(1, "good.txt", 4, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if res := r.put(t, sl, "good", "text/plain"); res.StatusCode != 201 {
		t.Fatalf("PUT answered %d", res.StatusCode)
	}
	bad := filepath.Join(dir, "bbbbbbbbbbbbbbbbbbbbbbbbbb")
	if err := os.Mkdir(bad, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, metaFile), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := newRig(t, dir, 0) // fails the test if New refuses
	path := strings.TrimPrefix(sl.GetURL, r.srv.URL)
	if res := again.do(t, "GET", again.srv.URL+path, "", nil); res.StatusCode != 200 {
		t.Errorf("the good upload answered %d after a restart beside a damaged one", res.StatusCode)
	}
	if res := again.do(t, "GET", again.srv.URL+"/upload/bbbbbbbbbbbbbbbbbbbbbbbbbb/x", "", nil); res.StatusCode != 404 {
		t.Errorf("the damaged upload answered %d, want 404", res.StatusCode)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the damaged upload was removed: %v", err)
	}
}

// TestPrune: uploads older than the cut are deleted and their size given
// back to the quota; newer ones stay served.
func TestPrune(t *testing.T) {
	r := newRig(t, t.TempDir(), 100)
	put := func(name string) core.UploadSlot {
		sl, err := r.svc.NewSlot(1, name, 4, "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if res := r.put(t, sl, "abcd", "text/plain"); res.StatusCode != 201 {
			t.Fatalf("PUT %s answered %d", name, res.StatusCode)
		}
		return sl
	}
	old := put("old.txt")
	r.now = r.now.Add(48 * time.Hour)
	recent := put("new.txt")
	n, freed, err := r.svc.Prune(r.now.Add(-24 * time.Hour))
	if err != nil || n != 1 || freed != 4 {
		t.Fatalf("Prune = %d, %d, %v; want 1 file of 4 bytes", n, freed, err)
	}
	if res := r.do(t, "GET", old.GetURL, "", nil); res.StatusCode != 404 {
		t.Errorf("the pruned upload answered %d", res.StatusCode)
	}
	if res := r.do(t, "GET", recent.GetURL, "", nil); res.StatusCode != 200 {
		t.Errorf("the recent upload answered %d", res.StatusCode)
	}
	if got := r.svc.Used(1); got != 4 {
		t.Errorf("after pruning user 1 uses %d bytes, want 4", got)
	}
	entries, _ := os.ReadDir(r.dir)
	if len(entries) != 1 {
		t.Errorf("%d entries left on disk, want the recent upload's", len(entries))
	}
}
