package core

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"
)

// SCRAM mechanism names (RFC 5802, RFC 7677).
const (
	ScramSHA1   = "SCRAM-SHA-1"
	ScramSHA256 = "SCRAM-SHA-256"
)

// ScramIterations is the PBKDF2 iteration count for new keys: the same as
// Prosody's default, costly to brute-force yet quick enough for phones,
// which repeat the derivation at every login.
const ScramIterations = 10000

// ScramKeys is what the server keeps of a password for one SCRAM
// mechanism: enough to verify a SCRAM or PLAIN login, never the password.
type ScramKeys struct {
	Mechanism  string
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

func scramHash(mech string) (func() hash.Hash, error) {
	switch mech {
	case ScramSHA1:
		return sha1.New, nil
	case ScramSHA256:
		return sha256.New, nil
	}
	return nil, fmt.Errorf("unknown SCRAM mechanism %q", mech)
}

// DeriveScramKeys computes the keys of password for mech (RFC 5802 §3).
// The password is used as given: clients apply SASLprep, which leaves the
// ASCII passwords this server generates unchanged.
func DeriveScramKeys(mech, password string, salt []byte, iterations int) (ScramKeys, error) {
	h, err := scramHash(mech)
	if err != nil {
		return ScramKeys{}, err
	}
	if iterations < 1 || len(salt) == 0 {
		return ScramKeys{}, fmt.Errorf("deriving %s keys: need a salt and at least one iteration", mech)
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return ScramKeys{}, fmt.Errorf("deriving %s keys: %w", mech, err)
	}
	clientKey := hmacSum(h, salted, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramKeys{
		Mechanism:  mech,
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored.Sum(nil),
		ServerKey:  hmacSum(h, salted, "Server Key"),
	}, nil
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// NewCredentials derives SCRAM-SHA-1 and SCRAM-SHA-256 keys for password,
// each with its own random salt.
func NewCredentials(password string) ([]ScramKeys, error) {
	if password == "" {
		return nil, fmt.Errorf("password is empty")
	}
	var out []ScramKeys
	for _, mech := range []string{ScramSHA1, ScramSHA256} {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, fmt.Errorf("generating salt: %w", err)
		}
		k, err := DeriveScramKeys(mech, password, salt, ScramIterations)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// Verify reports whether password derives k, in constant time.
func (k ScramKeys) Verify(password string) bool {
	d, err := DeriveScramKeys(k.Mechanism, password, k.Salt, k.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(d.StoredKey, k.StoredKey) == 1
}

// GeneratePassword returns a random password: 26 base32 characters
// carrying 128 bits.
func GeneratePassword() string { return rand.Text() }
