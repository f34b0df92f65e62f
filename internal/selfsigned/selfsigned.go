package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// validity is long because nothing renews this certificate: clients pin it
// once, and a new one would have to be trusted again on every device.
const validity = 10 * 365 * 24 * time.Hour

// LoadOrCreate returns the key pair at certFile/keyFile, creating a
// self-signed ECDSA P-256 certificate for the given DNS names (plus
// localhost, 127.0.0.1, ::1) valid ten years when neither file exists.
//
// Files are written atomically (temp file + rename), the key with mode 0600,
// directories created 0700. If only one of the two exists, that is an error
// naming the missing file: replacing the pair would silently change the
// identity clients have pinned. A certificate that does not parse is an
// error naming the file.
func LoadOrCreate(certFile, keyFile string, names ...string) (tls.Certificate, error) {
	certExists, err := exists(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyExists, err := exists(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}

	switch {
	case certExists && keyExists:
		return load(certFile, keyFile)
	case certExists:
		return tls.Certificate{}, halfPair(certFile, keyFile)
	case keyExists:
		return tls.Certificate{}, halfPair(keyFile, certFile)
	}

	certPEM, keyPEM, err := generate(names, time.Now())
	if err != nil {
		return tls.Certificate{}, err
	}
	// The key goes first: a crash between the two renames then leaves a key
	// without a certificate, which is reported below rather than served.
	if err := writeAtomic(keyFile, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeAtomic(certFile, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return load(certFile, keyFile)
}

func halfPair(present, missing string) error {
	return fmt.Errorf("selfsigned: %s exists but %s does not; restore it, or remove %s to generate a new self-signed pair",
		present, missing, present)
}

func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("selfsigned: %w", err)
	}
}

// load reads the pair, parsing the certificate itself first so that a broken
// file is named (tls.X509KeyPair does not say which input it choked on).
func load(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfsigned: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return tls.Certificate{}, fmt.Errorf("selfsigned: %s: no PEM CERTIFICATE block", certFile)
	}
	if _, err := x509.ParseCertificate(block.Bytes); err != nil {
		return tls.Certificate{}, fmt.Errorf("selfsigned: %s: %w", certFile, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfsigned: %w", err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("selfsigned: %s with %s: %w", certFile, keyFile, err)
	}
	return pair, nil
}

// generate makes a new key and a certificate for names, returned as PEM.
func generate(names []string, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("selfsigned: generate key: %w", err)
	}
	// 128 random bits: serials must be unique per issuer, and each of these
	// certificates is its own issuer, but clients still compare them.
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("selfsigned: generate serial: %w", err)
	}

	dnsNames, ips := sans(names)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: dnsNames[0], Organization: []string{"Switchboard self-signed"}},
		// An hour back tolerates clients whose clock runs a little late.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              dnsNames,
		IPAddresses:           ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("selfsigned: create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("selfsigned: encode key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// sans splits names into DNS names and IP addresses (an IP in a DNS SAN is
// not matched by clients), adds the loopback names, and drops duplicates.
// The first DNS name is the configured domain when there is one.
func sans(names []string) (dnsNames []string, ips []net.IP) {
	for _, n := range append(slices.Clone(names), "localhost", "127.0.0.1", "::1") {
		if n == "" {
			continue
		}
		if ip := net.ParseIP(n); ip != nil {
			if !slices.ContainsFunc(ips, ip.Equal) {
				ips = append(ips, ip)
			}
			continue
		}
		if !slices.Contains(dnsNames, n) {
			dnsNames = append(dnsNames, n)
		}
	}
	return dnsNames, ips
}

// writeAtomic replaces path with data so that a reader, or a crash, sees the
// old file or the whole new one, never a part.
func writeAtomic(path string, data []byte, mode fs.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("selfsigned: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("selfsigned: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op once renamed

	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("selfsigned: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("selfsigned: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("selfsigned: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("selfsigned: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("selfsigned: %w", err)
	}
	// Make the rename itself durable; without it a power cut can lose the
	// new name even though the data was synced.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
