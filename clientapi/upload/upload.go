package upload

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

// Config configures the service.
type Config struct {
	// Dir holds the uploads; it is created (mode 0700) if missing.
	Dir string
	// BaseURL is the public address of the HTTPS port, as devices and
	// the people they send links to reach it: https://host:port.
	BaseURL string
	// MaxFileSize bounds one file, in bytes.
	MaxFileSize int64
	// Quota bounds what one user stores, in bytes; 0 is no bound.
	Quota int64
	Log   *slog.Logger
	Now   func() time.Time
}

// Limits on slots: how long one waits for its PUT, how many one user and
// everyone may hold at once. A slot reserves its size in the quota, so
// these bound what requests alone can tie up.
const (
	slotLifetime     = 5 * time.Minute
	maxSlotsPerUser  = 16
	maxSlots         = 4096
	maxFileNameBytes = 255
	// putIdleTimeout is how long a PUT's body may pause.
	putIdleTimeout = 2 * time.Minute
)

// slot is a granted upload waiting for its PUT.
type slot struct {
	id, name, contentType string
	size                  int64
	user                  core.UserID
	token                 string // the Authorization header's value the PUT must carry
	expires               time.Time
}

// meta describes a stored upload; it is kept beside the file.
type meta struct {
	User        core.UserID `json:"user"`
	Name        string      `json:"name"`
	ContentType string      `json:"content_type,omitempty"`
	Size        int64       `json:"size"`
	Time        time.Time   `json:"time"`
}

// Service grants slots and stores and serves the files. It is safe for
// concurrent use.
type Service struct {
	cfg  Config
	base *url.URL
	log  *slog.Logger

	// idleTimeout bounds the wait for each read of a PUT's body.
	idleTimeout time.Duration

	mu      sync.Mutex
	slots   map[string]*slot      // by id
	pending map[core.UserID]int   // slots per user
	used    map[core.UserID]int64 // bytes stored and reserved by slots
	files   map[string]*meta      // stored uploads by id
}

// New opens the upload directory, reading what is stored already.
func New(cfg Config) (*Service, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil || base.Scheme != "https" && base.Scheme != "http" || base.Host == "" {
		return nil, fmt.Errorf("upload base URL %q: want https://host[:port]", cfg.BaseURL)
	}
	base.Path = strings.TrimSuffix(base.Path, "/")
	if cfg.MaxFileSize <= 0 {
		return nil, fmt.Errorf("upload max file size %d: want a positive number of bytes", cfg.MaxFileSize)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("upload directory: %w", err)
	}
	s := &Service{cfg: cfg, base: base, log: cfg.Log, idleTimeout: putIdleTimeout,
		slots: make(map[string]*slot), pending: make(map[core.UserID]int),
		used: make(map[core.UserID]int64), files: make(map[string]*meta)}
	if err := s.load(); err != nil {
		return nil, err
	}
	return s, nil
}

// load reads the stored uploads' descriptions, and removes what an
// interrupted PUT left behind. An upload whose description cannot be
// read is logged and left on disk for the operator, neither served nor
// counted: one damaged file must not keep the daemon from starting.
func (s *Service) load() error {
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		return fmt.Errorf("reading the upload directory: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			if err := os.RemoveAll(filepath.Join(s.cfg.Dir, name)); err != nil {
				return fmt.Errorf("removing an unfinished upload: %w", err)
			}
			continue
		}
		if !validID(name) || !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(s.cfg.Dir, name, metaFile))
		m := new(meta)
		if err == nil {
			err = json.Unmarshal(b, m)
		}
		if err != nil {
			s.log.Error("upload left unserved: its description cannot be read", "id", name, "file", metaFile, "err", err)
			continue
		}
		s.files[name] = m
		s.used[m.User] += m.Size
	}
	return nil
}

// MaxFileSize is the largest file a slot is granted for.
func (s *Service) MaxFileSize() int64 { return s.cfg.MaxFileSize }

// NewSlot grants user an upload of one file (core.Uploads).
func (s *Service) NewSlot(user core.UserID, name string, size int64, contentType string) (core.UploadSlot, error) {
	if err := checkName(name); err != nil {
		return core.UploadSlot{}, err
	}
	switch {
	case size <= 0:
		return core.UploadSlot{}, core.ErrUploadSize
	case size > s.cfg.MaxFileSize:
		return core.UploadSlot{}, &core.UploadTooLargeError{Max: s.cfg.MaxFileSize}
	}
	if strings.ContainsAny(contentType, "\r\n") || len(contentType) > 255 {
		contentType = ""
	}
	id, token := randomID(), randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked()
	switch {
	case s.pending[user] >= maxSlotsPerUser || len(s.slots) >= maxSlots:
		return core.UploadSlot{}, core.ErrUploadBusy
	case s.cfg.Quota > 0 && s.used[user]+size > s.cfg.Quota:
		return core.UploadSlot{}, core.ErrUploadQuota
	}
	s.slots[id] = &slot{id: id, name: name, contentType: contentType, size: size, user: user, token: "Bearer " + token,
		expires: s.cfg.Now().Add(slotLifetime)}
	s.pending[user]++
	s.used[user] += size
	u := s.fileURL(id, name)
	return core.UploadSlot{PutURL: u, GetURL: u, Headers: map[string]string{"Authorization": "Bearer " + token}}, nil
}

// sweepLocked drops expired slots and gives back what they reserved.
func (s *Service) sweepLocked() {
	now := s.cfg.Now()
	for id, sl := range s.slots {
		if now.After(sl.expires) {
			s.releaseLocked(id, sl)
		}
	}
}

func (s *Service) releaseLocked(id string, sl *slot) {
	delete(s.slots, id)
	if s.pending[sl.user]--; s.pending[sl.user] <= 0 {
		delete(s.pending, sl.user)
	}
	s.used[sl.user] -= sl.size
}

func (s *Service) fileURL(id, name string) string {
	u := *s.base
	u.Path = s.base.Path + "/upload/" + id + "/" + name
	u.RawPath = s.base.EscapedPath() + "/upload/" + id + "/" + url.PathEscape(name)
	return u.String()
}

// Used returns how many bytes user stores or has reserved.
func (s *Service) Used(user core.UserID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.used[user]
}

// checkName refuses names that cannot be one path segment of a URL and of
// a file name on disk.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > maxFileNameBytes || !utf8.ValidString(name) ||
		strings.ContainsAny(name, "/\\") {
		return core.ErrUploadName
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return core.ErrUploadName
		}
	}
	return nil
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// randomID is an upload's directory name and address: 128 random bits,
// which is what keeps an upload private to those given its address.
func randomID() string {
	var b [16]byte
	rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

func randomToken() string {
	var b [24]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validID reports whether id is one randomID could have made.
func validID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || '2' <= c && c <= '7') {
			return false
		}
	}
	return true
}

// takeSlot returns the slot id names if the PUT's authorization and name
// match it, and removes it, so a slot is used at most once. The status is
// the HTTP answer when it does not.
func (s *Service) takeSlot(id, name, authorization string) (*slot, int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, stored := s.files[id]; stored {
		return nil, 409, errors.New("this upload is already stored")
	}
	sl := s.slots[id]
	switch {
	case sl == nil:
		return nil, 404, errors.New("no upload slot at this address (it may have expired)")
	case subtle.ConstantTimeCompare([]byte(authorization), []byte(sl.token)) != 1:
		return nil, 403, errors.New("the Authorization header is not the slot's")
	case name != sl.name:
		return nil, 403, errors.New("the file name is not the slot's")
	case s.cfg.Now().After(sl.expires):
		s.releaseLocked(id, sl)
		return nil, 403, errors.New("the upload slot has expired")
	}
	delete(s.slots, id)
	if s.pending[sl.user]--; s.pending[sl.user] <= 0 {
		delete(s.pending, sl.user)
	}
	return sl, 0, nil
}

// stored records a finished upload; failed gives a failed one's
// reservation back.
func (s *Service) stored(id string, m *meta) {
	s.mu.Lock()
	s.files[id] = m
	s.mu.Unlock()
}

func (s *Service) failed(sl *slot) {
	s.mu.Lock()
	s.used[sl.user] -= sl.size
	s.mu.Unlock()
}

func (s *Service) file(id string) *meta {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id]
}

// Prune deletes the uploads stored before before, giving their size back
// to their users' quotas; it returns how many it deleted and how many
// bytes that freed. Their addresses answer 404 from then on.
func (s *Service) Prune(before time.Time) (removed int, freed int64, err error) {
	s.mu.Lock()
	var old []string
	for id, m := range s.files {
		if m.Time.Before(before) {
			old = append(old, id)
		}
	}
	s.mu.Unlock()
	for _, id := range old {
		s.mu.Lock()
		m := s.files[id]
		delete(s.files, id) // unserved before it is gone from disk
		s.mu.Unlock()
		if m == nil {
			continue
		}
		if rmErr := os.RemoveAll(filepath.Join(s.cfg.Dir, id)); rmErr != nil {
			s.mu.Lock()
			s.files[id] = m // still there: keep serving and counting it
			s.mu.Unlock()
			err = errors.Join(err, fmt.Errorf("removing upload %s: %w", id, rmErr))
			continue
		}
		s.mu.Lock()
		s.used[m.User] -= m.Size
		s.mu.Unlock()
		removed++
		freed += m.Size
	}
	return removed, freed, err
}

var _ core.Uploads = (*Service)(nil)
