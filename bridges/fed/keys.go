package fed

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// SigningKey is one of the server's Ed25519 keys.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
	// RetireAt, when set, is when the key stops being published: a
	// retiring key is still published, for requests signed with it that
	// may be in flight, but never signs.
	RetireAt time.Time
}

// Key files in the key directory: ID + keyFileSuffix holds the base64 of
// the 32-byte seed; ID + retireSuffix, when present, the RFC 3339 time the
// key stops being published.
const (
	keyFileSuffix = ".key"
	retireSuffix  = ".retire"
)

// LoadKeys reads the keys in dir that are still published, sorted by id:
// the last one that is not retiring signs, and all are published, which
// is how keys rotate (docs/federation.md, section 3.4; RotateKeys). With
// no key that may sign, it creates one.
func LoadKeys(dir string, now time.Time) ([]SigningKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("federation key directory: %w", err)
	}
	keys, _, err := readKeys(dir, now)
	if err != nil {
		return nil, err
	}
	if signingKey(keys) == nil {
		k, err := NewKeyFile(dir, now)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// readKeys returns the published keys of dir sorted by id, and the ids of
// those whose retirement time passed.
func readKeys(dir string, now time.Time) (published []SigningKey, retired []string, err error) {
	names, err := filepath.Glob(filepath.Join(dir, "*"+keyFileSuffix))
	if err != nil {
		return nil, nil, err
	}
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, nil, fmt.Errorf("federation key: %w", err)
		}
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, nil, fmt.Errorf("federation key %s: want the base64 of a %d-byte Ed25519 seed", name, ed25519.SeedSize)
		}
		id := strings.TrimSuffix(filepath.Base(name), keyFileSuffix)
		if err := checkKeyID(id); err != nil {
			return nil, nil, fmt.Errorf("federation key %s: %w", name, err)
		}
		k := SigningKey{ID: id, Private: ed25519.NewKeyFromSeed(seed)}
		switch at, err := os.ReadFile(filepath.Join(dir, id+retireSuffix)); {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, nil, fmt.Errorf("federation key %s: %w", id, err)
		default:
			if k.RetireAt, err = time.Parse(time.RFC3339, strings.TrimSpace(string(at))); err != nil {
				return nil, nil, fmt.Errorf("federation key %s: retirement time: %w", id, err)
			}
			if !now.Before(k.RetireAt) {
				retired = append(retired, id)
				continue
			}
		}
		published = append(published, k)
	}
	sort.Slice(published, func(i, j int) bool { return published[i].ID < published[j].ID })
	sort.Strings(retired)
	return published, retired, nil
}

// signingKey is the key that signs among keys sorted by id: the last one
// not retiring; nil when there is none.
func signingKey(keys []SigningKey) *SigningKey {
	for i := len(keys) - 1; i >= 0; i-- {
		if keys[i].RetireAt.IsZero() {
			return &keys[i]
		}
	}
	return nil
}

// RotateKeys makes a new signing key in dir and sets every other key that
// signs to retire after retireAfter: published until then, for requests
// signed with it that may still be in flight, never signing again. Files
// of keys retired before are deleted. A running daemon picks the change
// up within keyReload; a stopped one when it starts.
func RotateKeys(dir string, now time.Time, retireAfter time.Duration) (SigningKey, []SigningKey, error) {
	keys, retired, err := readKeys(dir, now)
	if err != nil {
		return SigningKey{}, nil, err
	}
	for _, id := range retired {
		for _, suffix := range []string{keyFileSuffix, retireSuffix} {
			if err := os.Remove(filepath.Join(dir, id+suffix)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return SigningKey{}, nil, fmt.Errorf("deleting retired key %s: %w", id, err)
			}
		}
	}
	k, err := NewKeyFile(dir, now)
	if err != nil {
		return SigningKey{}, nil, err
	}
	var retiring []SigningKey
	for _, old := range keys {
		if old.RetireAt.IsZero() {
			old.RetireAt = now.Add(retireAfter).UTC().Truncate(time.Second)
			at := []byte(old.RetireAt.Format(time.RFC3339) + "\n")
			if err := os.WriteFile(filepath.Join(dir, old.ID+retireSuffix), at, 0o600); err != nil {
				return SigningKey{}, nil, fmt.Errorf("retiring key %s: %w", old.ID, err)
			}
		}
		retiring = append(retiring, old)
	}
	return k, retiring, nil
}

// NewKeyFile makes a new key in dir named after now, which sorts after
// every older one, so it becomes the signing key at the next start.
func NewKeyFile(dir string, now time.Time) (SigningKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return SigningKey{}, fmt.Errorf("federation key directory: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	id := now.UTC().Format("20060102T150405Z")
	name := filepath.Join(dir, id+keyFileSuffix)
	data := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return SigningKey{}, fmt.Errorf("creating federation key: a key named %s exists; try again in a second", id)
	}
	if err != nil {
		return SigningKey{}, fmt.Errorf("creating federation key: %w", err)
	}
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		return SigningKey{}, err
	}
	if err := f.Close(); err != nil {
		return SigningKey{}, err
	}
	return SigningKey{ID: id, Private: priv}, nil
}

// keyReload is how often a running Service reads its key directory again.
const keyReload = 30 * time.Second

// reloadKeys reads the key directory every keyReload until ctx ends, so a
// rotation or retirement needs no restart.
func (s *Service) reloadKeys(ctx context.Context) {
	t := time.NewTicker(keyReload)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		keys, err := LoadKeys(s.keyDir, s.now())
		if err != nil {
			s.log.Warn("reading the federation keys again", "dir", s.keyDir, "err", err)
			continue
		}
		s.mu.Lock()
		s.keys = keys
		s.mu.Unlock()
	}
}

// checkKeyID allows 1 to 128 printable ASCII characters without '"' or
// '\', what an sf-string can carry unescaped.
func checkKeyID(id string) error {
	if id == "" || len(id) > 128 {
		return errors.New("key id must be 1 to 128 characters")
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Errorf("key id %q: character %q not allowed", id, c)
		}
	}
	return nil
}

// KeyInfo describes a key of the key directory for the CLI.
type KeyInfo struct {
	ID    string
	State string // "signs", "published until T", "retired at T"
}

// ListKeys describes the keys in dir, oldest first, without creating any.
func ListKeys(dir string, now time.Time) ([]KeyInfo, error) {
	published, retired, err := readKeys(dir, now)
	if err != nil {
		return nil, err
	}
	signer := signingKey(published)
	var out []KeyInfo
	for _, id := range retired {
		at, _ := os.ReadFile(filepath.Join(dir, id+retireSuffix))
		out = append(out, KeyInfo{ID: id, State: "retired at " + strings.TrimSpace(string(at)) + " (deleted at the next rotation)"})
	}
	for _, k := range published {
		switch {
		case signer != nil && k.ID == signer.ID:
			out = append(out, KeyInfo{ID: k.ID, State: "signs"})
		case !k.RetireAt.IsZero():
			out = append(out, KeyInfo{ID: k.ID, State: "published until " + k.RetireAt.Format(time.RFC3339)})
		default:
			out = append(out, KeyInfo{ID: k.ID, State: "published (an older key that no longer signs)"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}
