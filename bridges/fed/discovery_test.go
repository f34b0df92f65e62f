package fed

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/selfsigned"
)

// docServer serves a discovery document for domain on a loopback HTTPS
// listener, counting fetches; while failing is set it answers 500.
type docServer struct {
	url, cert string
	hits      atomic.Int32
	failing   atomic.Bool
}

func startDocServer(t *testing.T, domain string) *docServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ds := &docServer{url: "https://" + ln.Addr().String(), cert: filepath.Join(dir, "cert.pem")}
	cert, err := selfsigned.LoadOrCreate(ds.cert, filepath.Join(dir, "key.pem"), domain)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := json.Marshal(Document{Version: 1, Domain: domain, Endpoint: ds.url + APIPath,
		Keys: []PublicKey{{ID: "k1", Alg: "ed25519", Public: base64.RawURLEncoding.EncodeToString(pub)}}})
	srv := &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			ds.hits.Add(1)
			if ds.failing.Load() {
				http.Error(w, "down", http.StatusInternalServerError)
				return
			}
			_, _ = w.Write(doc)
		})}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return ds
}

// TestDocumentThroughOutage: while a peer's discovery fails, its cached
// document serves without a fetch per request, but not for ever.
func TestDocumentThroughOutage(t *testing.T) {
	ds := startDocServer(t, "d.test")
	now := time.Now()
	clock := func() time.Time { return now }
	svc, err := NewService(Config{Domain: "b.test", Directory: &recordingUsers{}, Now: func() time.Time { return clock() },
		Peers: map[string]StaticPeer{"d.test": {URL: ds.url, CAFile: ds.cert}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := svc.peer("d.test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := p.key(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	ds.failing.Store(true)
	later := now.Add(2 * documentTTL)
	clock = func() time.Time { return later }
	for i := range 10 {
		if _, err := p.key(ctx, "k1"); err != nil {
			t.Fatalf("lookup %d during the outage: %v", i, err)
		}
	}
	if n := ds.hits.Load(); n != 2 {
		t.Errorf("%d fetches for 11 lookups with one outage, want 2", n)
	}
	muchLater := now.Add(documentTTL + maxStaleDocument + time.Minute)
	clock = func() time.Time { return muchLater }
	if _, err := p.key(ctx, "k1"); err == nil {
		t.Errorf("a document fetched %s ago still serves", muchLater.Sub(now))
	}
}

// TestStaticPeerDocumentCachedForSpoofs: requests that merely name a
// static peer fetch its document once, not once each.
func TestStaticPeerDocumentCachedForSpoofs(t *testing.T) {
	ds := startDocServer(t, "d.test")
	svc, err := NewService(Config{Domain: "b.test", Directory: &recordingUsers{},
		Peers: map[string]StaticPeer{"d.test": {URL: ds.url, CAFile: ds.cert}}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		p, err := svc.lookupPeer("d.test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.key(context.Background(), "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := ds.hits.Load(); n != 1 {
		t.Errorf("%d fetches of a static peer's document for 5 lookups, want 1", n)
	}
}
