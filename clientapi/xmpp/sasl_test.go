package xmpp

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/switchboard/switchboard/core"
)

const saslTestDomain = "example.org"

var errTestNotFound = errors.New("not found")

// memStore is an in-memory CredentialStore that counts its queries.
type memStore struct {
	mu      sync.Mutex
	users   map[string]core.User
	keys    map[core.UserID]map[string]core.ScramKeys
	err     error // when set, every query fails with it
	queries int
}

var _ CredentialStore = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{users: map[string]core.User{}, keys: map[core.UserID]map[string]core.ScramKeys{}}
}

func (s *memStore) add(t testing.TB, name, password string) core.User {
	t.Helper()
	ks, err := core.NewCredentials(password)
	if err != nil {
		t.Fatal(err)
	}
	return s.addKeys(name, ks...)
}

func (s *memStore) addKeys(name string, ks ...core.ScramKeys) core.User {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[name]
	if !ok {
		u = core.User{ID: core.UserID(len(s.users) + 1), Name: name}
		s.users[name] = u
		s.keys[u.ID] = map[string]core.ScramKeys{}
	}
	for _, k := range ks {
		s.keys[u.ID][k.Mechanism] = k
	}
	return u
}

func (s *memStore) UserByName(ctx context.Context, name string) (core.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	if s.err != nil {
		return core.User{}, s.err
	}
	u, ok := s.users[name]
	if !ok {
		return core.User{}, fmt.Errorf("user %q: %w", name, errTestNotFound)
	}
	return u, nil
}

func (s *memStore) Credentials(ctx context.Context, user core.UserID, mech string) (core.ScramKeys, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	if s.err != nil {
		return core.ScramKeys{}, s.err
	}
	k, ok := s.keys[user][mech]
	if !ok {
		return core.ScramKeys{}, fmt.Errorf("%s keys of %d: %w", mech, user, errTestNotFound)
	}
	return k, nil
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries
}

// --- TLS fixtures ---

var certCache sync.Map // kind → tls.Certificate

// testCert returns a self-signed certificate: "p256" (ECDSA with
// SHA-256), "p384" (ECDSA with SHA-384) or "ed25519".
func testCert(t testing.TB, kind string) tls.Certificate {
	t.Helper()
	if c, ok := certCache.Load(kind); ok {
		return c.(tls.Certificate)
	}
	var priv any
	var pub any
	switch kind {
	case "p256", "p384":
		curve := elliptic.P256()
		if kind == "p384" {
			curve = elliptic.P384()
		}
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, &k.PublicKey
	case "ed25519":
		p, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		priv, pub = k, p
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: saslTestDomain},
		DNSNames:     []string{saslTestDomain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv, Leaf: leaf}
	certCache.Store(kind, c)
	return c
}

// tlsPair makes a TLS connection of version over loopback TCP and returns
// the connection state of both ends.
func tlsPair(t testing.TB, version uint16, cert tls.Certificate) (server, client tls.ConnectionState) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		conn *tls.Conn
		err  error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		tc := tls.Server(nc, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: version, MaxVersion: version})
		done <- result{tc, tc.Handshake()}
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cc := tls.Client(nc, &tls.Config{InsecureSkipVerify: true, MinVersion: version, MaxVersion: version})
	if err := cc.Handshake(); err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.conn.Close()
	return r.conn.ConnectionState(), cc.ConnectionState()
}

// --- helpers ---

func hashOf(mech string) scram.HashGeneratorFcn {
	if strings.HasPrefix(mech, core.ScramSHA1) && !strings.HasPrefix(mech, core.ScramSHA256) {
		return scram.SHA1
	}
	return scram.SHA256
}

// scramLogin runs a whole exchange between x and the library's client
// conversation cc, and checks the server's signature.
func scramLogin(t testing.TB, x *saslExchange, cc *scram.ClientConversation) (core.User, error) {
	t.Helper()
	c1, err := cc.Step("")
	if err != nil {
		t.Fatal(err)
	}
	s1, done, err := x.Step([]byte(c1))
	if err != nil {
		return core.User{}, err
	}
	if done {
		t.Fatal("done after client-first-message")
	}
	c2, err := cc.Step(string(s1))
	if err != nil {
		t.Fatalf("client rejected %q: %v", s1, err)
	}
	s2, done, err := x.Step([]byte(c2))
	if err != nil {
		return core.User{}, err
	}
	if !done {
		t.Fatal("not done after client-final-message")
	}
	if _, err := cc.Step(string(s2)); err != nil || !cc.Valid() {
		t.Fatalf("client rejected the server signature %q: %v", s2, err)
	}
	return x.User(), nil
}

func mustSASL(t testing.TB, mech string, store CredentialStore, cs *tls.ConnectionState, cert *x509.Certificate) *saslExchange {
	t.Helper()
	x, err := newSASL(context.Background(), mech, store, cs, cert, saslTestDomain)
	if err != nil {
		t.Fatalf("newSASL(%s): %v", mech, err)
	}
	return x
}

func newClient(t testing.TB, mech, user, password, authzid string) *scram.Client {
	t.Helper()
	c, err := hashOf(mech).NewClient(user, password, authzid)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// wantCondition fails unless err is a *saslError with condition.
func wantCondition(t testing.TB, err error, condition string) *saslError {
	t.Helper()
	se, ok := err.(*saslError)
	if !ok {
		t.Fatalf("got error %v (%T), want *saslError %s", err, err, condition)
	}
	if se.Condition != condition {
		t.Fatalf("got condition %s (%v), want %s", se.Condition, se, condition)
	}
	return se
}

// --- tests ---

func TestSASLSCRAM(t *testing.T) {
	store := newMemStore()
	alice := store.add(t, "alice", "correct horse")
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))
	for _, mech := range []string{core.ScramSHA1, core.ScramSHA256} {
		for _, cs := range []*tls.ConnectionState{nil, &srv} {
			for _, name := range []string{"alice", "Alice", "alice@example.org", "ALICE@Example.ORG"} {
				t.Run(fmt.Sprintf("%s/tls=%v/%s", mech, cs != nil, name), func(t *testing.T) {
					x := mustSASL(t, mech, store, cs, nil)
					u, err := scramLogin(t, x, newClient(t, mech, name, "correct horse", "").NewConversation())
					if err != nil {
						t.Fatal(err)
					}
					if u != alice {
						t.Fatalf("logged in as %+v, want %+v", u, alice)
					}
					// The exchange is over.
					_, _, err = x.Step([]byte("c=biws,r=x,p=AAAA"))
					wantCondition(t, err, saslMalformedRequest)
				})
			}
		}
	}
}

// TestSASLSCRAMVectors replays RFC 5802 §5 and RFC 7677 §3.
func TestSASLSCRAMVectors(t *testing.T) {
	vectors := []struct {
		mech, salt, serverNonce string
		c1, s1, c2, s2          string
	}{{
		core.ScramSHA1, "QSXCR+Q6sek8bf92", "3rfcNHYJY1ZVvWVs7j",
		"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
		"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
		"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
		"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
	}, {
		core.ScramSHA256, "W22ZaJ0SNY7soEsUEjb6gQ==", "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
		"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
		"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
	}}
	for _, v := range vectors {
		t.Run(v.mech, func(t *testing.T) {
			salt, err := base64.StdEncoding.DecodeString(v.salt)
			if err != nil {
				t.Fatal(err)
			}
			k, err := core.DeriveScramKeys(v.mech, "pencil", salt, 4096)
			if err != nil {
				t.Fatal(err)
			}
			store := newMemStore()
			store.addKeys("user", k)
			x := mustSASL(t, v.mech, store, nil, nil)
			x.nonce = func() string { return v.serverNonce }
			s1, done, err := x.Step([]byte(v.c1))
			if err != nil || done || string(s1) != v.s1 {
				t.Fatalf("server-first = %q, %v, %v; want %q", s1, done, err, v.s1)
			}
			s2, done, err := x.Step([]byte(v.c2))
			if err != nil || !done || string(s2) != v.s2 {
				t.Fatalf("server-final = %q, %v, %v; want %q", s2, done, err, v.s2)
			}
			if x.User().Name != "user" {
				t.Fatalf("user %+v", x.User())
			}
		})
	}
}

func TestSASLWrongPassword(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "correct horse")
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))
	for _, mech := range []string{core.ScramSHA1, core.ScramSHA256} {
		x := mustSASL(t, mech, store, &srv, nil)
		_, err := scramLogin(t, x, newClient(t, mech, "alice", "battery staple", "").NewConversation())
		se := wantCondition(t, err, saslNotAuthorized)
		if se.Text != "" {
			t.Errorf("%s: not-authorized carries text %q", mech, se.Text)
		}
		if x.User() != (core.User{}) {
			t.Errorf("%s: User() = %+v after a failure", mech, x.User())
		}
	}
}

// parseServerFirst returns the salt and iteration count of a
// server-first-message.
func parseServerFirst(t testing.TB, s1 []byte) (salt, iters string) {
	t.Helper()
	for f := range strings.SplitSeq(string(s1), ",") {
		switch {
		case strings.HasPrefix(f, "s="):
			salt = f[2:]
		case strings.HasPrefix(f, "i="):
			iters = f[2:]
		}
	}
	if salt == "" || iters == "" {
		t.Fatalf("bad server-first-message %q", s1)
	}
	return salt, iters
}

func TestSASLUnknownUser(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "correct horse")
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))

	for _, mech := range []string{core.ScramSHA1, core.ScramSHA256} {
		first := func(name string) (salt, iters string, queries int) {
			x := mustSASL(t, mech, store, &srv, nil)
			c1, _ := newClient(t, mech, name, "whatever", "").NewConversation().Step("")
			before := store.count()
			s1, _, err := x.Step([]byte(c1))
			if err != nil {
				t.Fatalf("%s %s: %v", mech, name, err)
			}
			salt, iters = parseServerFirst(t, s1)
			return salt, iters, store.count() - before
		}
		salt1, iters1, q1 := first("mallory")
		salt2, iters2, q2 := first("mallory")
		salt3, _, _ := first("Mallory@example.org")
		otherSalt, _, _ := first("trudy")
		_, realIters, realQ := first("alice")
		if salt1 != salt2 || salt1 != salt3 || iters1 != iters2 {
			t.Errorf("%s: unknown user's salt changed between tries: %s,%s %s,%s %s", mech, salt1, iters1, salt2, iters2, salt3)
		}
		if salt1 == otherSalt {
			t.Errorf("%s: two unknown users share the salt %s", mech, salt1)
		}
		if raw, _ := base64.StdEncoding.DecodeString(salt1); len(raw) != 16 {
			t.Errorf("%s: fake salt is %d bytes, real ones 16", mech, len(raw))
		}
		if iters1 != realIters || iters1 != fmt.Sprint(core.ScramIterations) {
			t.Errorf("%s: fake iterations %s, real %s", mech, iters1, realIters)
		}
		if q1 != realQ || q2 != realQ {
			t.Errorf("%s: %d store queries for an unknown user, %d for a known one", mech, q1, realQ)
		}

		// The exchange runs to the end and fails like a wrong password.
		x := mustSASL(t, mech, store, &srv, nil)
		_, err := scramLogin(t, x, newClient(t, mech, "mallory", "whatever", "").NewConversation())
		se := wantCondition(t, err, saslNotAuthorized)
		if se.Text != "" || !errors.Is(se, errTestNotFound) {
			t.Errorf("%s: unknown user: text %q, cause %v", mech, se.Text, se.Cause)
		}
	}
	// SHA-1 and SHA-256 salts differ, as a real user's do.
	x1 := mustSASL(t, core.ScramSHA1, store, nil, nil)
	x256 := mustSASL(t, core.ScramSHA256, store, nil, nil)
	s1, _, _ := x1.Step([]byte("n,,n=mallory,r=abc"))
	s256, _, _ := x256.Step([]byte("n,,n=mallory,r=abc"))
	if a, _ := parseServerFirst(t, s1); strings.Contains(string(s256), "s="+a) {
		t.Error("the SHA-1 and SHA-256 fake salts are the same")
	}
}

func TestSASLUserWithoutKeys(t *testing.T) {
	// A user lacking keys for the mechanism fails like an unknown one.
	store := newMemStore()
	ks, _ := core.NewCredentials("pw")
	store.addKeys("bob", ks[1]) // SHA-256 only
	x := mustSASL(t, core.ScramSHA1, store, nil, nil)
	_, err := scramLogin(t, x, newClient(t, core.ScramSHA1, "bob", "pw", "").NewConversation())
	wantCondition(t, err, saslNotAuthorized)
}

func TestSASLStoreErrors(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "pw")
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))

	store.err = fmt.Errorf("query: %w", context.DeadlineExceeded)
	x := mustSASL(t, core.ScramSHA256, store, nil, nil)
	_, _, err := x.Step([]byte("n,,n=alice,r=abc"))
	wantCondition(t, err, saslTemporaryFailure)
	x = mustSASL(t, mechPlain, store, &srv, nil)
	_, _, err = x.Step([]byte("\x00alice\x00pw"))
	wantCondition(t, err, saslTemporaryFailure)

	// Any other error cannot be told from "not found": not-authorized,
	// with the cause kept.
	broken := errors.New("disk on fire")
	store.err = broken
	x = mustSASL(t, mechPlain, store, &srv, nil)
	_, _, err = x.Step([]byte("\x00alice\x00pw"))
	if se := wantCondition(t, err, saslNotAuthorized); !errors.Is(se, broken) {
		t.Errorf("cause %v", se.Cause)
	}

	// A cancelled context is temporary whatever the store says.
	store.err = broken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x, err = newSASL(ctx, core.ScramSHA256, store, nil, nil, saslTestDomain)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = x.Step([]byte("n,,n=alice,r=abc"))
	wantCondition(t, err, saslTemporaryFailure)
}

func TestSASLMalformedStoredKeys(t *testing.T) {
	store := newMemStore()
	store.addKeys("alice", core.ScramKeys{Mechanism: core.ScramSHA256, Salt: []byte("s"), Iterations: 1, StoredKey: []byte("short"), ServerKey: []byte("short")})
	x := mustSASL(t, core.ScramSHA256, store, nil, nil)
	_, _, err := x.Step([]byte("n,,n=alice,r=abc"))
	wantCondition(t, err, saslTemporaryFailure)
}

func TestSASLMechanisms(t *testing.T) {
	p256 := testCert(t, "p256")
	ed := testCert(t, "ed25519")
	srv13, _ := tlsPair(t, tls.VersionTLS13, p256)
	srv12, _ := tlsPair(t, tls.VersionTLS12, p256)
	srv12ed, _ := tlsPair(t, tls.VersionTLS12, ed)
	noUnique := srv12ed
	noUnique.TLSUnique = nil // as on a resumed session without extended master secret

	all := []string{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"}
	tests := []struct {
		name  string
		cs    *tls.ConnectionState
		cert  *x509.Certificate
		mechs []string
		cb    []string
	}{
		{"no TLS", nil, p256.Leaf, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}, nil},
		{"TLS 1.3", &srv13, p256.Leaf, all, []string{"tls-exporter", "tls-server-end-point"}},
		{"TLS 1.3 no cert", &srv13, nil, all, []string{"tls-exporter"}},
		{"TLS 1.2", &srv12, p256.Leaf, all, []string{"tls-server-end-point", "tls-unique"}},
		{"TLS 1.2 Ed25519", &srv12ed, ed.Leaf, all, []string{"tls-unique"}},
		{"TLS 1.2 nothing to bind", &noUnique, ed.Leaf, all[2:], nil},
		{"handshake not complete", &tls.ConnectionState{Version: tls.VersionTLS13}, p256.Leaf, []string{"SCRAM-SHA-256", "SCRAM-SHA-1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := saslMechanisms(tt.cs, tt.cert); !slices.Equal(got, tt.mechs) {
				t.Errorf("mechanisms %v, want %v", got, tt.mechs)
			}
			if got := channelBindingTypes(tt.cs, tt.cert); !slices.Equal(got, tt.cb) {
				t.Errorf("channel bindings %v, want %v", got, tt.cb)
			}
		})
	}

	store := newMemStore()
	for _, tt := range []struct {
		mech string
		cs   *tls.ConnectionState
		want string
	}{
		{"DIGEST-MD5", &srv13, saslInvalidMechanism},
		{"scram-sha-256", &srv13, saslInvalidMechanism},
		{"SCRAM-SHA-512", &srv13, saslInvalidMechanism},
		{"", &srv13, saslInvalidMechanism},
		{"SCRAM-SHA-256-PLUS", nil, saslInvalidMechanism},
		{"SCRAM-SHA-1-PLUS", &noUnique, saslInvalidMechanism},
		{"PLAIN", nil, saslEncryptionRequired},
	} {
		_, err := newSASL(context.Background(), tt.mech, store, tt.cs, ed.Leaf, saslTestDomain)
		wantCondition(t, err, tt.want)
	}
}

func TestSASLEndPointHash(t *testing.T) {
	for _, tt := range []struct {
		kind string
		sum  func([]byte) []byte
	}{
		{"p256", func(b []byte) []byte { s := sha256.Sum256(b); return s[:] }},
		{"p384", func(b []byte) []byte { s := sha512.Sum384(b); return s[:] }},
	} {
		leaf := testCert(t, tt.kind).Leaf
		got, ok := endPointHash(leaf)
		if !ok || string(got) != string(tt.sum(leaf.Raw)) {
			t.Errorf("%s (%v): got %x, %v", tt.kind, leaf.SignatureAlgorithm, got, ok)
		}
	}
	// RFC 5929 §4.1: MD5 and SHA-1 signatures use SHA-256.
	sha1Cert := &x509.Certificate{Raw: []byte("der"), SignatureAlgorithm: x509.SHA1WithRSA}
	if got, _ := endPointHash(sha1Cert); string(got) != string(func() []byte { s := sha256.Sum256([]byte("der")); return s[:] }()) {
		t.Errorf("SHA-1 certificate: got %x", got)
	}
	if _, ok := endPointHash(testCert(t, "ed25519").Leaf); ok {
		t.Error("Ed25519 certificates have no tls-server-end-point binding")
	}
	if _, ok := endPointHash(nil); ok {
		t.Error("nil certificate has a binding")
	}
}

func TestSASLChannelBinding(t *testing.T) {
	store := newMemStore()
	alice := store.add(t, "alice", "pw")
	p256 := testCert(t, "p256")
	p384 := testCert(t, "p384")
	srv13, cli13 := tlsPair(t, tls.VersionTLS13, p256)
	_, otherCli13 := tlsPair(t, tls.VersionTLS13, p256)
	_, cli13p384 := tlsPair(t, tls.VersionTLS13, p384)
	srv12, cli12 := tlsPair(t, tls.VersionTLS12, p256)
	_, otherCli12 := tlsPair(t, tls.VersionTLS12, p256)

	exporter := func(cs tls.ConnectionState) scram.ChannelBinding {
		cb, err := scram.NewTLSExporterBinding(&cs)
		if err != nil {
			t.Fatal(err)
		}
		return cb
	}
	endPoint := func(cs tls.ConnectionState) scram.ChannelBinding {
		cb, err := scram.NewTLSServerEndpointBinding(&cs)
		if err != nil {
			t.Fatal(err)
		}
		return cb
	}
	unique := func(cs tls.ConnectionState) scram.ChannelBinding { return scram.NewTLSUniqueBinding(cs.TLSUnique) }
	// wrongType claims a type with another type's data.
	wrongType := func(cb scram.ChannelBinding, typ scram.ChannelBindingType) scram.ChannelBinding {
		cb.Type = typ
		return cb
	}

	tests := []struct {
		name string
		srv  *tls.ConnectionState
		cb   scram.ChannelBinding
		text string // of the failure; "" for success
	}{
		{"1.3 tls-exporter", &srv13, exporter(cli13), ""},
		{"1.3 tls-server-end-point", &srv13, endPoint(cli13), ""},
		{"1.2 tls-server-end-point", &srv12, endPoint(cli12), ""},
		{"1.2 tls-unique", &srv12, unique(cli12), ""},
		{"1.3 tls-exporter of another connection", &srv13, exporter(otherCli13), "does not match"},
		{"1.3 tls-server-end-point of another certificate", &srv13, endPoint(cli13p384), "does not match"},
		{"1.2 tls-unique of another connection", &srv12, unique(otherCli12), "does not match"},
		{"1.2 tls-exporter", &srv12, wrongType(endPoint(cli12), scram.ChannelBindingTLSExporter), "not available"},
		{"1.3 tls-unique", &srv13, wrongType(exporter(cli13), scram.ChannelBindingTLSUnique), "not available"},
	}
	for _, tt := range tests {
		for _, mech := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS"} {
			t.Run(tt.name+"/"+mech, func(t *testing.T) {
				x := mustSASL(t, mech, store, tt.srv, p256.Leaf)
				u, err := scramLogin(t, x, newClient(t, mech, "alice", "pw", "").NewConversationWithChannelBinding(tt.cb))
				if tt.text == "" {
					if err != nil || u != alice {
						t.Fatalf("got %+v, %v", u, err)
					}
					return
				}
				// A mismatch is an unauthorized login (or a man in the
				// middle); a type the connection lacks tests no password.
				cond := saslNotAuthorized
				if tt.text == "not available" {
					cond = saslMalformedRequest
				}
				if se := wantCondition(t, err, cond); !strings.Contains(se.Text, tt.text) {
					t.Fatalf("text %q, want %q", se.Text, tt.text)
				}
			})
		}
	}

	// A -PLUS mechanism without channel binding is malformed, and so is
	// channel binding under a plain SCRAM mechanism.
	x := mustSASL(t, "SCRAM-SHA-256-PLUS", store, &srv13, p256.Leaf)
	_, err := scramLogin(t, x, newClient(t, "SCRAM-SHA-256", "alice", "pw", "").NewConversation())
	wantCondition(t, err, saslMalformedRequest)
	x = mustSASL(t, "SCRAM-SHA-256", store, &srv13, p256.Leaf)
	_, err = scramLogin(t, x, newClient(t, "SCRAM-SHA-256", "alice", "pw", "").NewConversationWithChannelBinding(exporter(cli13)))
	wantCondition(t, err, saslMalformedRequest)
}

// TestSASLDowngrade: a client that supports channel binding but saw no
// -PLUS (GS2 flag y) must be refused when -PLUS was offered (RFC 5802 §6).
func TestSASLDowngrade(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "pw")
	p256 := testCert(t, "p256")
	srv13, _ := tlsPair(t, tls.VersionTLS13, p256)
	srv12ed, _ := tlsPair(t, tls.VersionTLS12, testCert(t, "ed25519"))
	srv12ed.TLSUnique = nil // nothing to bind: no -PLUS offered

	for _, mech := range []string{core.ScramSHA1, core.ScramSHA256} {
		x := mustSASL(t, mech, store, &srv13, p256.Leaf)
		_, err := scramLogin(t, x, newClient(t, mech, "alice", "pw", "").NewConversationAdvertisingChannelBinding())
		if se := wantCondition(t, err, saslMalformedRequest); !strings.Contains(se.Text, "downgrade") {
			t.Errorf("text %q", se.Text)
		}
		for _, cs := range []*tls.ConnectionState{nil, &srv12ed} {
			x = mustSASL(t, mech, store, cs, nil)
			if _, err := scramLogin(t, x, newClient(t, mech, "alice", "pw", "").NewConversationAdvertisingChannelBinding()); err != nil {
				t.Errorf("%s: flag y without -PLUS offered: %v", mech, err)
			}
		}
	}
}

func TestSASLPlain(t *testing.T) {
	store := newMemStore()
	alice := store.add(t, "alice", "correct horse")
	ks, _ := core.NewCredentials("old")
	carol := store.addKeys("carol", ks[0]) // SCRAM-SHA-1 keys only
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))

	plain := func(msg string) (*saslExchange, []byte, bool, error) {
		x := mustSASL(t, mechPlain, store, &srv, nil)
		out, done, err := x.Step([]byte(msg))
		return x, out, done, err
	}
	for _, tt := range []struct {
		msg  string
		user core.User
	}{
		{"\x00alice\x00correct horse", alice},
		{"\x00Alice\x00correct horse", alice},
		{"\x00alice@example.org\x00correct horse", alice},
		{"alice@example.org\x00alice\x00correct horse", alice},
		{"\x00carol\x00old", carol},
	} {
		x, out, done, err := plain(tt.msg)
		if err != nil || !done || len(out) != 0 || x.User() != tt.user {
			t.Errorf("%q: %q, %v, %v, %+v", tt.msg, out, done, err, x.User())
		}
	}
	for _, msg := range []string{
		"\x00alice\x00wrong",
		"\x00alice\x00correct horse ",
		"\x00mallory\x00correct horse",
		"\x00alice@other.org\x00correct horse",
		"\x00al!ce\x00correct horse",
	} {
		_, _, _, err := plain(msg)
		wantCondition(t, err, saslNotAuthorized)
	}
	for _, msg := range []string{
		"alice",
		"alice\x00correct horse",
		"\x00alice\x00correct horse\x00",
		"\x00\x00correct horse",
		"\x00alice\x00",
		"\x00alice\x00\xff\xfe",
	} {
		_, _, _, err := plain(msg)
		wantCondition(t, err, saslMalformedRequest)
	}

	// No initial response: an empty challenge asks for it, once.
	x := mustSASL(t, mechPlain, store, &srv, nil)
	out, done, err := x.Step(nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("empty initial response: %q, %v, %v", out, done, err)
	}
	if _, done, err = x.Step([]byte("\x00alice\x00correct horse")); err != nil || !done {
		t.Fatalf("after the empty challenge: %v, %v", done, err)
	}
	x = mustSASL(t, mechPlain, store, &srv, nil)
	x.Step(nil)
	_, _, err = x.Step(nil)
	wantCondition(t, err, saslMalformedRequest)
}

func TestSASLAuthzid(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "pw")
	srv, _ := tlsPair(t, tls.VersionTLS13, testCert(t, "p256"))
	for _, tt := range []struct {
		authcid, authzid string
		ok               bool
	}{
		{"alice", "", true},
		{"alice", "alice@example.org", true},
		{"alice", "Alice@Example.ORG", true},
		{"Alice@example.org", "alice@example.org", true},
		{"alice", "bob@example.org", false},
		{"alice", "alice@other.org", false},
		{"alice", "alice@example.org/phone", false},
		{"alice", "alice", false},
		{"alice", "@example.org", false},
		{"mallory", "mallory@example.org", true}, // then not-authorized
	} {
		for _, mech := range []string{mechPlain, core.ScramSHA1, core.ScramSHA256} {
			t.Run(fmt.Sprintf("%s/%s/%s", mech, tt.authcid, tt.authzid), func(t *testing.T) {
				x := mustSASL(t, mech, store, &srv, nil)
				var err error
				if mech == mechPlain {
					_, _, err = x.Step([]byte(tt.authzid + "\x00" + tt.authcid + "\x00pw"))
				} else {
					// NewClientUnprepped: SASLprep would reject nothing here,
					// but keep the names exactly as written.
					c, _ := hashOf(mech).NewClientUnprepped(tt.authcid, "pw", tt.authzid)
					_, err = scramLogin(t, x, c.NewConversation())
				}
				switch {
				case !tt.ok:
					wantCondition(t, err, saslInvalidAuthzid)
				case tt.authcid == "mallory":
					wantCondition(t, err, saslNotAuthorized)
				case err != nil:
					t.Fatal(err)
				}
			})
		}
	}
}

func TestSASLMalformedSCRAM(t *testing.T) {
	store := newMemStore()
	store.add(t, "alice", "pw")
	for _, msg := range []string{
		"n,,n=alice",               // no nonce
		"x,,n=alice,r=abc",         // bad flag
		"n",                        // no header
		"p=,,n=alice,r=abc",        // empty binding type
		"n,,m=ext,n=alice,r=abc",   // extension
		"n,,n=al=ice,r=abc",        // bad escape
		"n,b=x,n=alice,r=abc",      // authzid field without a=
		"n,a=al=ice,n=alice,r=abc", // bad authzid escape
		"n,,n=alice,r=abc\xff",     // not UTF-8
	} {
		x := mustSASL(t, core.ScramSHA256, store, nil, nil)
		_, _, err := x.Step([]byte(msg))
		wantCondition(t, err, saslMalformedRequest)
	}
	for _, final := range []string{"", "c=biws", "c=!!,r=abcS,p=AAAA", "c=biws,r=abcS,p=!!", "x=1,r=abcS,p=AAAA"} {
		x := mustSASL(t, core.ScramSHA256, store, nil, nil)
		x.nonce = func() string { return "S" }
		if _, _, err := x.Step([]byte("n,,n=alice,r=abc")); err != nil {
			t.Fatal(err)
		}
		_, _, err := x.Step([]byte(final))
		wantCondition(t, err, saslMalformedRequest)
	}
	// A well-formed final message with the wrong nonce or a short proof
	// fails as unauthorized.
	for _, final := range []string{"c=biws,r=abcX,p=AAAA", "c=biws,r=abcS,p=AAAA"} {
		x := mustSASL(t, core.ScramSHA256, store, nil, nil)
		x.nonce = func() string { return "S" }
		x.Step([]byte("n,,n=alice,r=abc"))
		_, _, err := x.Step([]byte(final))
		wantCondition(t, err, saslNotAuthorized)
	}
}

var saslConditions = map[string]bool{
	"aborted": true, "account-disabled": true, "credentials-expired": true,
	"encryption-required": true, "incorrect-encoding": true, "invalid-authzid": true,
	"invalid-mechanism": true, "malformed-request": true, "mechanism-too-weak": true,
	"not-authorized": true, "temporary-auth-failure": true,
}

func FuzzSASLStep(f *testing.F) {
	store := newMemStore()
	k256, _ := core.DeriveScramKeys(core.ScramSHA256, "pw", []byte("salt"), 4096)
	k1, _ := core.DeriveScramKeys(core.ScramSHA1, "pw", []byte("salt"), 4096)
	store.addKeys("alice", k256, k1)
	p256 := testCert(f, "p256")
	srv13, _ := tlsPair(f, tls.VersionTLS13, p256)
	srv12, _ := tlsPair(f, tls.VersionTLS12, p256)
	type setup struct {
		mech string
		cs   *tls.ConnectionState
	}
	var setups []setup
	for _, cs := range []*tls.ConnectionState{nil, &srv12, &srv13} {
		for _, m := range saslMechanisms(cs, p256.Leaf) {
			setups = append(setups, setup{m, cs})
		}
	}

	for i, s := range setups {
		switch {
		case s.mech == mechPlain:
			f.Add(uint8(i), []byte("\x00alice\x00pw"), []byte(nil))
			f.Add(uint8(i), []byte("alice@example.org\x00Alice\x00pw"), []byte(nil))
		case strings.HasSuffix(s.mech, plusSuffix):
			f.Add(uint8(i), []byte("p=tls-exporter,,n=alice,r=abc"), []byte("c=cD10bHMtZXhwb3J0ZXIsLA==,r=abcS,p=AAAA"))
			f.Add(uint8(i), []byte("p=tls-unique,a=alice@example.org,n=alice,r=abc"), []byte("c=biws,r=abcS,p=AAAA"))
		default:
			f.Add(uint8(i), []byte("n,,n=alice,r=abc"), []byte("c=biws,r=abcS,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="))
			f.Add(uint8(i), []byte("y,,n=mallory,r=abc"), []byte("c=eSws,r=abcS,p=AAAA"))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, first, second []byte) {
		s := setups[int(which)%len(setups)]
		x := mustSASL(t, s.mech, store, s.cs, p256.Leaf)
		x.nonce = func() string { return "S" }
		for _, msg := range [][]byte{first, second, second} {
			_, done, err := x.Step(msg)
			if err != nil {
				se, ok := err.(*saslError)
				if !ok || !saslConditions[se.Condition] {
					t.Fatalf("%s: error %v (%T)", s.mech, err, err)
				}
				return
			}
			if done {
				if u := x.User(); u.Name != "alice" {
					t.Fatalf("%s: done as %+v", s.mech, u)
				}
				return
			}
		}
	})
}
