package fed

import (
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
}

// keyFileSuffix names key files in the key directory: ID + suffix, each
// holding the base64 of the 32-byte seed.
const keyFileSuffix = ".key"

// LoadKeys reads every key in dir, sorted by id; the last one signs and
// all are published, which is how keys rotate (docs/federation.md,
// section 3.4): put a new file with a greater name in dir, restart, and
// remove the old one an hour later. With none in dir, it creates one.
func LoadKeys(dir string, now time.Time) ([]SigningKey, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("federation key directory: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+keyFileSuffix))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		k, err := NewKeyFile(dir, now)
		if err != nil {
			return nil, err
		}
		return []SigningKey{k}, nil
	}
	var keys []SigningKey
	for _, name := range names {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("federation key: %w", err)
		}
		seed, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("federation key %s: want the base64 of a %d-byte Ed25519 seed", name, ed25519.SeedSize)
		}
		id := strings.TrimSuffix(filepath.Base(name), keyFileSuffix)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("federation key %s: %w", name, err)
		}
		keys = append(keys, SigningKey{ID: id, Private: ed25519.NewKeyFromSeed(seed)})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ID < keys[j].ID })
	return keys, nil
}

// NewKeyFile makes a new key in dir named after now, which sorts after
// every older one, so it becomes the signing key at the next start.
func NewKeyFile(dir string, now time.Time) (SigningKey, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, err
	}
	id := now.UTC().Format("20060102T150405Z")
	name := filepath.Join(dir, id+keyFileSuffix)
	data := base64.StdEncoding.EncodeToString(priv.Seed()) + "\n"
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
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
