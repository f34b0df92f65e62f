package fed

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/bridges/fed/httpsig"
)

// WellKnownPath is where a server publishes its discovery document.
const WellKnownPath = "/.well-known/switchboard"

// APIPath is the federation API's path on the HTTP listener.
const APIPath = "/_switchboard/fed/v1/"

// Document is the discovery document (docs/federation.md, section 2).
type Document struct {
	Version  int         `json:"version"`
	Domain   string      `json:"domain"`
	Endpoint string      `json:"endpoint"`
	Keys     []PublicKey `json:"keys"`
}

// PublicKey is a published verification key.
type PublicKey struct {
	ID     string `json:"id"`
	Alg    string `json:"alg"`
	Public string `json:"public"` // base64url, no padding
}

// StaticPeer is a peer reached without public discovery: the base URL its
// discovery document is fetched from, and the certificate (PEM) to trust
// for it, with the peer's domain as the TLS server name.
type StaticPeer struct {
	URL    string
	CAFile string
}

// Timings of discovery.
const (
	documentTTL     = time.Hour
	refetchInterval = 30 * time.Second // at most one forced fetch per peer
	// maxStaleDocument is how long past documentTTL a document serves
	// while the peer's discovery fails.
	maxStaleDocument = 24 * time.Hour
	fetchTimeout     = 10 * time.Second
	requestTimeout   = 30 * time.Second
	maxDocumentBytes = 64 << 10
	maxAnswerBytes   = 1 << 20
	// maxPeers bounds the peers remembered at once, so origins made up
	// by a hostile sender cannot grow memory without end; idle ones are
	// forgotten first.
	maxPeers = 10000
)

// peer is what the Service knows of another domain.
type peer struct {
	svc     *Service
	domain  string
	static  *StaticPeer
	limiter *rate.Limiter // inbound requests from it

	mu         sync.Mutex
	client     *http.Client
	doc        *Document
	keys       map[string]ed25519.PublicKey
	fetched    time.Time
	lastForced time.Time
	lastFailed time.Time // of the last failed fetch, with its error
	lastErr    error

	kickc   chan struct{}
	running bool // a delivery worker runs; guarded by svc.mu
	// ephemeral is set while a typing event is on its way (ephemeral.go).
	ephemeral atomic.Bool
	// backingOff is set while the worker waits out a failed attempt;
	// retryNow cuts that wait short once (heardFrom), at most every
	// earlyRetryEvery (lastEarlyRetry, guarded by svc.mu).
	backingOff, retryNow atomic.Bool
	lastEarlyRetry       time.Time
	// srvAddr is DOMAIN:PORT of the SRV record found last, and srvTarget
	// the TARGET:PORT dialled for it (srv.go); guarded by mu.
	srvAddr, srvTarget string
	used               time.Time // last looked up; guarded by svc.mu
}

// peer returns the peer for domain, remembering it, or an error when the
// Service may not talk to it.
func (s *Service) peer(domain string) (*peer, error) {
	p, err := s.lookupPeer(domain)
	if err != nil {
		return nil, err
	}
	return s.adopt(p)
}

// lookupPeer returns the remembered peer for domain, or a new one that is
// not remembered until adopt: an inbound request names its origin before
// it is authenticated, and made-up origins must not fill the peer table.
func (s *Service) lookupPeer(domain string) (*peer, error) {
	if domain == s.domain {
		return nil, errors.New("a server does not federate with its own domain")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.peers[domain]; ok {
		p.used = s.now()
		return p, nil
	}
	sp, static := s.static[domain]
	if !static && !s.discover {
		return nil, fmt.Errorf("%s is not in the federation peer map", domain)
	}
	p := &peer{svc: s, domain: domain, limiter: rate.NewLimiter(s.rate, s.burst), kickc: make(chan struct{}, 1)}
	if static {
		// The operator listed it: remembered at once, so its document
		// is cached even while only unauthenticated requests name it.
		p.static = &sp
		p.used = s.now()
		s.peers[domain] = p
	}
	return p, nil
}

// adopt remembers p and returns the peer remembered for its domain: p, or
// the one another request remembered first.
func (s *Service) adopt(p *peer) (*peer, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q, ok := s.peers[p.domain]; ok {
		return q, nil
	}
	if len(s.peers) >= s.maxPeers && !s.forgetIdlePeer() {
		return nil, errors.New("too many federation peers")
	}
	p.used = s.now()
	s.peers[p.domain] = p
	return p, nil
}

// forgetIdlePeer drops the least recently used peer without a delivery
// worker, so a full table (filled by many domains that authenticated
// once) still takes new peers. It reports whether one was dropped; s.mu
// is held.
func (s *Service) forgetIdlePeer() bool {
	var victim *peer
	for _, p := range s.peers {
		if !p.running && (victim == nil || p.used.Before(victim.used)) {
			victim = p
		}
	}
	if victim == nil {
		return false
	}
	delete(s.peers, victim.domain)
	return true
}

// httpClient builds the peer's client on first use; a static peer's
// certificate file is read then, so it may appear after the daemon starts.
func (p *peer) httpClient() (*http.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.svc.rootCAs}
	if p.static != nil && p.static.CAFile != "" {
		pem, err := os.ReadFile(p.static.CAFile)
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", p.domain, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("peer %s: %s holds no certificate", p.domain, p.static.CAFile)
		}
		tlsCfg.RootCAs = pool
		tlsCfg.ServerName = p.domain
	}
	dialer := &net.Dialer{Timeout: fetchTimeout, KeepAlive: 30 * time.Second}
	if p.static == nil {
		// A discovered domain, and the endpoint its document names, are
		// chosen by whoever sends a request: they must not make this
		// server connect into its own or its operator's network. The check
		// is on the address dialled, after DNS, so rebinding cannot evade
		// it. Private peers belong in the static peer map.
		dialer.Control = p.svc.dialControl
	}
	tr := &http.Transport{
		DialContext:         p.srvDial(dialer),
		TLSHandshakeTimeout: fetchTimeout,
		TLSClientConfig:     tlsCfg,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	p.client = &http.Client{Transport: tr, Timeout: requestTimeout,
		// A redirect would send a signed request somewhere unsigned for.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return p.client, nil
}

// releaseClient closes p's idle connections and drops its client, which
// the next use builds again.
func (p *peer) releaseClient() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.CloseIdleConnections()
		p.client = nil
	}
}

// errNotPublic is a dial of a discovered peer to a non-public address.
var errNotPublic = errors.New("not a public address")

// cgnat is the shared address space of RFC 6598, not routed publicly.
var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// refuseNonPublic is a net.Dialer Control refusing loopback, private,
// link-local, shared, multicast and unspecified addresses.
func refuseNonPublic(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dialling %s: %w", address, err)
	}
	if ip := ap.Addr().Unmap(); !isPublic(ip) {
		return fmt.Errorf("dialling %s: %w", address, errNotPublic)
	}
	return nil
}

func isPublic(ip netip.Addr) bool {
	thisNet := ip.Is4() && ip.As4()[0] == 0 // 0.0.0.0/8
	return ip.IsGlobalUnicast() && !ip.IsPrivate() && !cgnat.Contains(ip) && !thisNet
}

// base is where the peer's discovery document lives.
func (p *peer) base() string {
	if p.static != nil {
		return strings.TrimSuffix(p.static.URL, "/")
	}
	return "https://" + p.domain
}

// document returns the peer's discovery document, fetching it when the
// cached one is old, or when force is set and no forced fetch happened in
// the last refetchInterval. After a failed fetch none is tried for
// refetchInterval: requests naming the peer must not each wait for (and
// add to) its outage. A cached document serves through an outage, but
// not for longer than maxStaleDocument past its TTL, so keys the peer
// withdrew do not stay trusted for as long as its discovery is down.
func (p *peer) document(ctx context.Context, force bool) (*Document, map[string]ed25519.PublicKey, error) {
	now := p.svc.now()
	p.mu.Lock()
	if p.doc != nil && now.Sub(p.fetched) >= documentTTL+maxStaleDocument {
		p.doc, p.keys = nil, nil
	}
	doc, keys := p.doc, p.keys
	fresh := doc != nil && now.Sub(p.fetched) < documentTTL
	if force && now.Sub(p.lastForced) >= refetchInterval {
		fresh = false
		p.lastForced = now
	}
	failedLately, lastErr := p.lastErr != nil && now.Sub(p.lastFailed) < refetchInterval, p.lastErr
	p.mu.Unlock()
	if fresh {
		return doc, keys, nil
	}
	if failedLately {
		if doc != nil {
			return doc, keys, nil
		}
		return nil, nil, lastErr
	}
	if doc == nil && p.static == nil && !p.svc.discoveries.Allow() {
		// A domain never fetched before: it may be named by a request not
		// yet authenticated, so such fetches share one budget.
		return nil, nil, fmt.Errorf("%w (discovering %s)", errDiscoveryBusy, p.domain)
	}
	fetched, fetchedKeys, err := p.fetch(ctx)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			p.lastFailed, p.lastErr = now, err
		}
		if doc != nil {
			// A peer whose document cannot be fetched keeps its last one
			// until it can, within maxStaleDocument.
			p.svc.log.Warn("fetching a federation peer's document; using the cached one", "peer", p.domain, "err", err)
			return doc, keys, nil
		}
		return nil, nil, err
	}
	p.doc, p.keys, p.fetched, p.lastErr = fetched, fetchedKeys, now, nil
	return fetched, fetchedKeys, nil
}

func (p *peer) fetch(ctx context.Context) (*Document, map[string]ed25519.PublicKey, error) {
	client, err := p.httpClient()
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	base := p.base()
	if p.static == nil {
		if base, err = p.lookupSRV(ctx); err != nil { // srv.go
			return nil, nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, "GET", base+WellKnownPath, nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery of %s: %w", p.domain, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("discovery of %s: %w", p.domain, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("discovery of %s: %s", p.domain, resp.Status)
	}
	if len(body) > maxDocumentBytes {
		return nil, nil, fmt.Errorf("discovery of %s: document over %d bytes", p.domain, maxDocumentBytes)
	}
	return parseDocument(p.domain, body)
}

// parseDocument checks a discovery document of domain.
func parseDocument(domain string, body []byte) (*Document, map[string]ed25519.PublicKey, error) {
	var doc Document
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, nil, fmt.Errorf("discovery document of %s: %w", domain, err)
	}
	if doc.Domain != domain {
		return nil, nil, fmt.Errorf("discovery document of %s names domain %q", domain, doc.Domain)
	}
	u, err := url.Parse(doc.Endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" || !strings.HasSuffix(u.Path, "/") {
		return nil, nil, fmt.Errorf("discovery document of %s: endpoint %q is not an https URL ending in /", domain, doc.Endpoint)
	}
	keys := make(map[string]ed25519.PublicKey, len(doc.Keys))
	for _, k := range doc.Keys {
		raw, err := base64.RawURLEncoding.DecodeString(k.Public)
		if k.Alg != "ed25519" || err != nil || len(raw) != ed25519.PublicKeySize || checkKeyID(k.ID) != nil {
			continue // a key this server cannot use; others may do
		}
		keys[k.ID] = ed25519.PublicKey(raw)
	}
	if len(keys) == 0 {
		return nil, nil, fmt.Errorf("discovery document of %s lists no usable ed25519 key", domain)
	}
	return &doc, keys, nil
}

// key returns the peer's key id, fetching the document again (within
// limits) when the id is unknown: the peer may have rotated its keys.
func (p *peer) key(ctx context.Context, id string) (ed25519.PublicKey, error) {
	_, keys, err := p.document(ctx, false)
	if err != nil {
		return nil, err
	}
	if k, ok := keys[id]; ok {
		return k, nil
	}
	if _, keys, err = p.document(ctx, true); err != nil {
		return nil, err
	}
	if k, ok := keys[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %s publishes no key %q", errUnknownKey, p.domain, id)
}

// errUnknownKey is a key id the peer's current document does not list.
var errUnknownKey = errors.New("unknown key")

// errDiscoveryBusy means too many unknown domains were discovered lately.
var errDiscoveryBusy = errors.New("too many discoveries of new peers; retry later")

// Budget of fetches of documents of domains not fetched before.
const (
	discoveryRate  = 10 // per second
	discoveryBurst = 50
)

// sigLifetime is how long a signature stays valid (expires - created).
const sigLifetime = 5 * time.Minute

// post sends a signed POST of body to the peer's endpoint + path and
// returns the status, the answer's body and its Retry-After.
func (p *peer) post(ctx context.Context, path string, body []byte) (int, []byte, time.Duration, error) {
	doc, _, err := p.document(ctx, false)
	if err != nil {
		return 0, nil, 0, err
	}
	client, err := p.httpClient()
	if err != nil {
		return 0, nil, 0, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", doc.Endpoint+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := p.svc.sign(req, body); err != nil {
		return 0, nil, 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return 0, nil, 0, err
	}
	var retryAfter time.Duration
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		if n, err := time.ParseDuration(ra + "s"); err == nil && n > 0 {
			retryAfter = min(n, time.Hour)
		}
	}
	return resp.StatusCode, answer, retryAfter, nil
}

// sign adds the Switchboard-Origin, Content-Digest and signature headers
// of docs/federation.md, section 3.
func (s *Service) sign(req *http.Request, body []byte) error {
	req.Header.Set("Switchboard-Origin", s.domain)
	comps := []string{"@method", "@target-uri"}
	if len(body) > 0 {
		req.Header.Set("Content-Digest", httpsig.ContentDigest(body))
		comps = append(comps, "content-digest")
	}
	comps = append(comps, "switchboard-origin")
	s.mu.Lock()
	k := signingKey(s.keys)
	s.mu.Unlock()
	if k == nil {
		return errors.New("no federation key may sign: every key is retiring")
	}
	now := s.now()
	in, sig, err := httpsig.Sign(httpsig.Message{Method: req.Method, URL: req.URL, Header: req.Header}, sigLabel, comps,
		httpsig.Params{Created: now, Expires: now.Add(sigLifetime), KeyID: k.ID, Alg: httpsig.AlgEd25519}, k.Private)
	if err != nil {
		return err
	}
	req.Header.Set("Signature-Input", in)
	req.Header.Set("Signature", sig)
	return nil
}

// sigLabel labels federation signatures.
const sigLabel = "sb"

// document is the Service's own discovery document.
func (s *Service) document() Document {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Document{Version: 1, Domain: s.domain, Endpoint: s.publicURL + APIPath}
	for _, k := range s.keys {
		pub := k.Private.Public().(ed25519.PublicKey)
		d.Keys = append(d.Keys, PublicKey{ID: k.ID, Alg: "ed25519", Public: base64.RawURLEncoding.EncodeToString(pub)})
	}
	return d
}
