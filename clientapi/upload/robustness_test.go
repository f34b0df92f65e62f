package upload

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"
)

// TestStalledPutGivesBackItsReservation: a PUT whose body stops coming
// does not hold the slot's quota reservation (or its connection) for
// ever: the read times out and the reservation is released.
func TestStalledPutGivesBackItsReservation(t *testing.T) {
	r := newRig(t, t.TempDir(), 100)
	r.svc.idleTimeout = 200 * time.Millisecond
	sl, err := r.svc.NewSlot(1, "slow.bin", 10, "")
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	req, err := http.NewRequest("PUT", sl.PutURL, pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = 10
	for k, v := range sl.Headers {
		req.Header.Set(k, v)
	}
	done := make(chan *http.Response, 1)
	go func() {
		res, err := r.srv.Client().Do(req)
		if err != nil {
			done <- nil
			return
		}
		res.Body.Close()
		done <- res
	}()
	if _, err := pw.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.svc.Used(1) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("a PUT stalled after 3 of 10 bytes still holds %d bytes of quota", r.svc.Used(1))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := r.do(t, "GET", sl.GetURL, "", nil); res.StatusCode != 404 {
		t.Errorf("the stalled upload is served (%d)", res.StatusCode)
	}
	pw.CloseWithError(errors.New("test over"))
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("the stalled PUT never ended")
	}
}

// TestUploadDirSyncFailureLeavesNothing: when the upload directory cannot
// be synced after the rename, the PUT fails, and what it renamed into
// place is removed, so the quota, the GET and a restart agree that the
// upload does not exist.
func TestUploadDirSyncFailureLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	r := newRig(t, dir, 100)
	orig := syncDir
	t.Cleanup(func() { syncDir = orig })
	syncDir = func(d string) error {
		if d == dir {
			return errors.New("injected: sync failed")
		}
		return orig(d)
	}
	sl, err := r.svc.NewSlot(1, "a.txt", 4, "text/plain")
	if err != nil {
		t.Fatal(err)
	}
	if res := r.put(t, sl, "abcd", "text/plain"); res.StatusCode != 500 {
		t.Fatalf("PUT answered %d, want 500", res.StatusCode)
	}
	if got := r.svc.Used(1); got != 0 {
		t.Errorf("after the failed PUT user 1 holds %d bytes", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the failed upload left %d entries on disk", len(entries))
	}
	syncDir = orig
	again := newRig(t, dir, 100)
	if got := again.svc.Used(1); got != 0 {
		t.Errorf("after a restart the failed upload counts %d bytes", got)
	}
}

// extValueRE is a Content-Disposition whose filename* is an RFC 8187
// ext-value with the UTF-8 charset and no language.
var extValueRE = regexp.MustCompile("^(inline|attachment); filename\\*=UTF-8''([A-Za-z0-9!#$&+\\-.^_`|~]|%[0-9A-F]{2})+$")

// TestUploadContentDispositionName: the file name in Content-Disposition
// is a valid RFC 8187 ext-value that decodes to the name, whatever
// characters the name holds.
func TestUploadContentDispositionName(t *testing.T) {
	r := newRig(t, t.TempDir(), 0)
	for _, name := range []string{"plain.txt", "a=b@c:d (1).txt", "ünïcødé 😀.png", "semi;colon,\"quote'.txt", "100%.txt"} {
		sl, err := r.svc.NewSlot(1, name, 2, "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		if res := r.put(t, sl, "hi", "text/plain"); res.StatusCode != 201 {
			t.Fatalf("%q: PUT answered %d", name, res.StatusCode)
		}
		res := r.do(t, "GET", sl.GetURL, "", nil)
		cd := res.Header.Get("Content-Disposition")
		if !extValueRE.MatchString(cd) {
			t.Errorf("%q: Content-Disposition %q is not an RFC 8187 ext-value", name, cd)
			continue
		}
		if _, params, err := mime.ParseMediaType(cd); err != nil || params["filename"] != name {
			t.Errorf("%q: Content-Disposition %q decodes to %q, %v", name, cd, params["filename"], err)
		}
	}
}

// TestUploadRefusalsCannotRun: the handler's refusals, whose text can
// quote what a device asked for, carry the same sandboxing CSP and
// nosniff as the files, as the package promises for every answer.
func TestUploadRefusalsCannotRun(t *testing.T) {
	r := newRig(t, t.TempDir(), 0)
	sl, err := r.svc.NewSlot(1, "a.txt", 2, "text/<b>html</b>")
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range []*http.Response{
		r.do(t, "GET", r.srv.URL+"/upload/aaaaaaaaaaaaaaaaaaaaaaaaaa/x", "", nil),
		r.put(t, sl, "hi", "text/plain"),
	} {
		if res.StatusCode < 400 || res.Header.Get("Content-Security-Policy") != "default-src 'none'; sandbox" ||
			res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s %s answered %d with %v", res.Request.Method, res.Request.URL.Path, res.StatusCode, res.Header)
		}
	}
}
