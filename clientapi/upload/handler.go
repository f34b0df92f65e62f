package upload

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Path is where the handler is mounted on the HTTPS port.
const Path = "/upload/"

const (
	dataFile  = "file"
	metaFile  = "meta.json"
	tmpPrefix = ".tmp-"
)

// Handler serves PUT (the device's upload, authorized by its slot), GET
// and HEAD (anyone with the address) and the CORS preflight web clients
// send before a PUT from another origin.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT "+Path+"{id}/{name}", s.put)
	mux.HandleFunc("GET "+Path+"{id}/{name}", s.get)
	mux.HandleFunc("OPTIONS "+Path+"{id}/{name}", s.preflight)
	return cors(mux)
}

// cors lets web clients on other origins (Converse.js on its own host)
// upload and fetch: the address and the slot's token are the only
// credentials, and a browser sends no cookie of ours with them. Every
// answer, refusals included, is also kept from running or being sniffed
// into something that runs on the daemon's origin.
func cors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

func (s *Service) preflight(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, HEAD, PUT, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// problem answers with an RFC 9457 problem, as the rest of the port does.
func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": http.StatusText(status), "status": status, "detail": detail})
}

func (s *Service) put(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	if !validID(id) {
		problem(w, http.StatusNotFound, "no upload slot at this address")
		return
	}
	sl, status, err := s.takeSlot(id, name, r.Header.Get("Authorization"))
	if err != nil {
		problem(w, status, err.Error())
		return
	}
	if status, err := s.write(w, r, sl); err != nil {
		s.failed(sl)
		if status >= 500 {
			s.log.Error("storing an upload", "user", sl.user, "id", id, "err", err)
		}
		problem(w, status, err.Error())
		return
	}
	s.log.Info("file uploaded", "user", sl.user, "id", id, "size", sl.size)
	w.Header().Set("Location", s.fileURL(id, name))
	w.WriteHeader(http.StatusCreated)
}

// write stores the PUT's body as the slot's file: in a temporary
// directory first, synced, then renamed into place, so a crash leaves
// either the whole upload or nothing that is served.
func (s *Service) write(w http.ResponseWriter, r *http.Request, sl *slot) (int, error) {
	switch {
	case r.ContentLength > sl.size:
		return http.StatusRequestEntityTooLarge, fmt.Errorf("Content-Length %d is over the slot's %d bytes", r.ContentLength, sl.size)
	case r.ContentLength != sl.size:
		return http.StatusBadRequest, fmt.Errorf("Content-Length must be the slot's %d bytes", sl.size)
	case sl.contentType != "" && r.Header.Get("Content-Type") != sl.contentType:
		return http.StatusBadRequest, fmt.Errorf("Content-Type must be the slot's %q", sl.contentType)
	}
	tmp := filepath.Join(s.cfg.Dir, tmpPrefix+sl.id)
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("creating the upload: %w", err)
	}
	done := false
	defer func() {
		if !done {
			os.RemoveAll(tmp)
		}
	}()
	// The slot's reservation is held until the body is in; a device
	// that stops sending (a dead mobile link, or on purpose) gives it
	// back when a read waits longer than idleTimeout. The port has no
	// whole-request deadline, which a large upload on a slow link would
	// exceed.
	rc := http.NewResponseController(w)
	defer rc.SetReadDeadline(time.Time{})
	body := &idleReader{r: http.MaxBytesReader(nil, r.Body, sl.size+1), idle: s.idleTimeout, rc: rc}
	if err := writeSynced(filepath.Join(tmp, dataFile), func(f *os.File) error {
		n, err := io.Copy(f, body)
		if err == nil && n != sl.size {
			err = fmt.Errorf("the body has %d bytes, not the slot's %d", n, sl.size)
		}
		return err
	}); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return http.StatusRequestEntityTooLarge, fmt.Errorf("the body is over the slot's %d bytes", sl.size)
		}
		return http.StatusBadRequest, fmt.Errorf("reading the upload: %w", err)
	}
	m := &meta{User: sl.user, Name: sl.name, ContentType: sl.contentType, Size: sl.size, Time: s.cfg.Now().UTC()}
	b, err := json.Marshal(m)
	if err != nil {
		return http.StatusInternalServerError, err
	}
	if err := writeSynced(filepath.Join(tmp, metaFile), func(f *os.File) error { _, err := f.Write(b); return err }); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("writing the upload's description: %w", err)
	}
	if err := syncDir(tmp); err != nil {
		return http.StatusInternalServerError, err
	}
	if err := os.Rename(tmp, filepath.Join(s.cfg.Dir, sl.id)); err != nil {
		return http.StatusInternalServerError, fmt.Errorf("storing the upload: %w", err)
	}
	if err := syncDir(s.cfg.Dir); err != nil {
		// The PUT is answered as failed and its reservation given back,
		// so nothing of it may stay to be found at the next start.
		if rerr := os.RemoveAll(filepath.Join(s.cfg.Dir, sl.id)); rerr != nil {
			s.log.Error("removing an upload that failed to sync", "id", sl.id, "err", rerr)
		}
		return http.StatusInternalServerError, err
	}
	done = true
	s.stored(sl.id, m)
	return 0, nil
}

func writeSynced(path string, fill func(*os.File) error) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// idleReader reads a PUT's body, moving the connection's read deadline
// before each read.
type idleReader struct {
	r    io.Reader
	idle time.Duration
	rc   *http.ResponseController
}

func (b *idleReader) Read(p []byte) (int, error) {
	if err := b.rc.SetReadDeadline(time.Now().Add(b.idle)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return 0, fmt.Errorf("setting the read deadline: %w", err)
	}
	return b.r.Read(p)
}

// syncDir is a variable so a test can make it fail.
var syncDir = func(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// inlineTypes are the media types shown in the browser rather than
// downloaded: none of them can run script.
var inlineTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "audio/mpeg": true, "audio/ogg": true, "audio/mp4": true, "audio/aac": true, "audio/opus": true,
	"video/mp4": true, "video/webm": true, "video/ogg": true, "text/plain": true}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("name")
	var m *meta
	if validID(id) {
		m = s.file(id)
	}
	if m == nil || m.Name != name {
		problem(w, http.StatusNotFound, "no such upload")
		return
	}
	f, err := os.Open(filepath.Join(s.cfg.Dir, id, dataFile))
	if err != nil {
		s.log.Error("serving an upload", "id", id, "err", err)
		problem(w, http.StatusInternalServerError, "the upload cannot be read")
		return
	}
	defer f.Close()
	h := w.Header()
	mediaType, _, _ := mime.ParseMediaType(m.ContentType)
	disposition := "attachment"
	if inlineTypes[mediaType] {
		disposition = "inline"
		h.Set("Content-Type", m.ContentType)
	} else {
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Content-Disposition", disposition+"; filename*=UTF-8''"+extValue(m.Name))
	// The page and the API share this origin: nothing served here may
	// run, be sniffed into something that runs, or frame the page (the
	// CSP and nosniff are set for every answer, in cors).
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", m.Time, f)
}

// extValue percent-encodes s as an RFC 8187 ext-value's value-chars:
// everything but attr-char, which is narrower than a URL path's
// characters (no ':', '=', '@', for one).
func extValue(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
