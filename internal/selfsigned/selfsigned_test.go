package selfsigned

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func paths(t *testing.T) (dir, cert, key string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "data", "tls")
	return dir, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
}

func TestCreatesOnceThenReuses(t *testing.T) {
	_, cert, key := paths(t)
	first, err := LoadOrCreate(cert, key, "chat.example.org")
	if err != nil {
		t.Fatalf("first LoadOrCreate: %v", err)
	}
	second, err := LoadOrCreate(cert, key, "other.example.org")
	if err != nil {
		t.Fatalf("second LoadOrCreate: %v", err)
	}
	if first.Leaf.SerialNumber.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Errorf("second call made a new certificate: serial %v, then %v", first.Leaf.SerialNumber, second.Leaf.SerialNumber)
	}

	leaf := first.Leaf
	if want := []string{"chat.example.org", "localhost"}; !slices.Equal(leaf.DNSNames, want) {
		t.Errorf("DNSNames = %v, want %v", leaf.DNSNames, want)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].IsLoopback() || !leaf.IPAddresses[1].IsLoopback() {
		t.Errorf("IPAddresses = %v, want 127.0.0.1 and ::1", leaf.IPAddresses)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life < 10*365*24*time.Hour {
		t.Errorf("certificate lives %v, want ten years", life)
	}
}

func TestFileModes(t *testing.T) {
	dir, cert, key := paths(t)
	if _, err := LoadOrCreate(cert, key); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{key: 0o600, dir: 0o700 | os.ModeDir} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s mode = %v, want %v", path, fi.Mode(), want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("%s holds %d entries, want only cert.pem and key.pem (no temp files left)", dir, len(entries))
	}
}

func TestServesTLS(t *testing.T) {
	_, certFile, keyFile := paths(t)
	cert, err := LoadOrCreate(certFile, keyFile, "chat.example.org")
	if err != nil {
		t.Fatal(err)
	}

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = c.Write([]byte("hello")) // the first write runs the handshake
	}()

	// The pool holds the certificate as read from disk, as a client that
	// pinned it would.
	pemBytes, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("cert.pem did not go into a pool")
	}
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("handshake verifying localhost: %v", err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil || string(got) != "hello" {
		t.Errorf("read %q, %v; want hello", got, err)
	}
}

func TestServesTLSForEveryName(t *testing.T) {
	_, certFile, keyFile := paths(t)
	cert, err := LoadOrCreate(certFile, keyFile, "chat.example.org")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for _, name := range []string{"localhost", "chat.example.org", "127.0.0.1", "::1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("certificate does not verify for %q: %v", name, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "evil.example"}); err == nil {
		t.Error("certificate verifies for a name it was not made for")
	}
}

func TestHalfPresentPairIsRefused(t *testing.T) {
	_, cert, key := paths(t)
	if _, err := LoadOrCreate(cert, key); err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}

	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(cert, key); err == nil || !strings.Contains(err.Error(), key+" does not") {
		t.Errorf("certificate without key: error %v does not name %s as missing", err, key)
	}

	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(cert); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(cert, key); err == nil || !strings.Contains(err.Error(), cert+" does not") {
		t.Errorf("key without certificate: error %v does not name %s as missing", err, cert)
	}
	if _, err := os.Stat(cert); err == nil {
		t.Error("a half-present pair was completed instead of refused")
	}
}

func TestBrokenCertificateIsNamed(t *testing.T) {
	_, cert, key := paths(t)
	if _, err := LoadOrCreate(cert, key); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		"not PEM":         "garbage\n",
		"PEM, not a cert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
	} {
		if err := os.WriteFile(cert, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreate(cert, key)
		if err == nil || !strings.Contains(err.Error(), cert) {
			t.Errorf("%s: error %v does not name %s", name, err, cert)
		}
	}
}

func TestMismatchedKeyIsRefused(t *testing.T) {
	_, cert1, key1 := paths(t)
	_, cert2, key2 := paths(t)
	for _, p := range [][2]string{{cert1, key1}, {cert2, key2}} {
		if _, err := LoadOrCreate(p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadOrCreate(cert1, key2); err == nil {
		t.Error("a certificate with another pair's key was accepted")
	}
}
