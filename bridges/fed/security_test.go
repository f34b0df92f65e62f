package fed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestSpoofedOriginCostsNothing: requests that only claim to come from a
// peer use up none of that peer's rate limit, so a third party cannot get
// a real peer refused by naming it.
func TestSpoofedOriginCostsNothing(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	bob := b.user("bob")
	for i := range 60 {
		req := signedRequest(t, c, b, batchOf("alice@a.test", "bob@b.test", fmt.Sprintf("spoof%d", i)))
		req.Header.Set("Switchboard-Origin", "a.test")
		if status, typ := do(t, a, b, req); status != 401 || typ != "bad-signature" {
			t.Fatalf("spoofed request %d: %d %s, want 401 bad-signature", i, status, typ)
		}
	}
	status, typ := do(t, a, b, signedRequest(t, a, b, batchOf("alice@a.test", "bob@b.test", "real")))
	if status != 200 {
		t.Fatalf("a's own request after the spoofed ones: %d %s, want 200", status, typ)
	}
	if ms := bob.messages(); len(ms) != 1 || ms[0].Body != "body of real" {
		t.Fatalf("bob got %+v", ms)
	}
}

// TestUnauthenticatedOriginNotRemembered: an origin named by a request
// that does not authenticate is not added to the peer table (bounded by
// maxPeers, which made-up origins could otherwise fill for good).
func TestUnauthenticatedOriginNotRemembered(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	b.svc.discover = true
	req := signedRequest(t, a, b, batchOf("x@localhost", "bob@b.test", "m1"))
	req.Header.Set("Switchboard-Origin", "localhost")
	if status, _ := do(t, a, b, req); status == 200 {
		t.Fatal("a request claiming an undiscoverable origin was accepted")
	}
	b.svc.mu.Lock()
	_, remembered := b.svc.peers["localhost"]
	n := len(b.svc.peers)
	b.svc.mu.Unlock()
	if remembered {
		t.Errorf("the unauthenticated origin is in the peer table (%d peers)", n)
	}
	// A request that authenticates is remembered, with its rate limit.
	if status, typ := do(t, a, b, signedRequest(t, a, b, batchOf("alice@a.test", "bob@b.test", "ok"))); status != 200 {
		t.Fatalf("valid request: %d %s", status, typ)
	}
	b.svc.mu.Lock()
	_, remembered = b.svc.peers["a.test"]
	b.svc.mu.Unlock()
	if !remembered {
		t.Error("an authenticated origin is not in the peer table")
	}
}

// TestDiscoveryBudget: documents of domains never fetched before are
// fetched within a shared budget, so requests naming ever new origins
// cannot make the server fetch without end.
func TestDiscoveryBudget(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	b := s["b.test"]
	b.svc.discover = true
	busy := 0
	for range discoveryBurst + 20 {
		p, err := b.svc.lookupPeer("localhost")
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = p.document(context.Background(), false)
		if err == nil {
			t.Fatal("localhost's document was fetched")
		}
		if errors.Is(err, errDiscoveryBusy) {
			busy++
		}
	}
	if busy < 10 {
		t.Errorf("%d of %d fetches of new domains refused for the budget, want at least 10", busy, discoveryBurst+20)
	}
}

// TestDiscoveryStaysOutside: a discovered domain (or the endpoint its
// document names) that resolves to a loopback or private address is not
// connected to; static peers (the operator's choice) still may be.
func TestDiscoveryStaysOutside(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	b := s["b.test"]
	b.svc.discover = true
	p, err := b.svc.lookupPeer("localhost")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.document(context.Background(), false)
	if !errors.Is(err, errNotPublic) {
		t.Fatalf("discovering localhost: %v, want %v", err, errNotPublic)
	}
	// The same guard covers the endpoint of a document: here a static
	// peer's document on 127.0.0.1, fetched by a client of a discovered one.
	a, err := b.svc.peer("a.test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.document(context.Background(), false); err != nil {
		t.Fatalf("static peer on 127.0.0.1: %v", err)
	}
	c, err := p.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(a.base() + WellKnownPath)
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, errNotPublic) {
		t.Fatalf("a discovered peer's client reached %s: %v", a.base(), err)
	}

	for addr, want := range map[string]bool{
		"127.0.0.1": false, "10.1.2.3": false, "192.168.0.1": false, "172.16.5.5": false, "169.254.169.254": false,
		"100.64.0.1": false, "0.1.2.3": false, "::1": false, "fe80::1": false, "fd00::1": false, "::": false,
		"224.0.0.1": false, "8.8.8.8": true, "2001:4860:4860::8888": true, "93.184.216.34": true,
	} {
		if got := isPublic(netip.MustParseAddr(addr)); got != want {
			t.Errorf("isPublic(%s) = %v, want %v", addr, got, want)
		}
	}
	if err := refuseNonPublic("tcp", "[::ffff:127.0.0.1]:443", nil); !errors.Is(err, errNotPublic) {
		t.Errorf("IPv4-mapped loopback: %v", err)
	}
}

// TestFullPeerTableForgetsIdlePeers: once the peer table is full (many
// domains, each authenticated once), a new peer replaces the least
// recently used one without a delivery worker; peers with workers stay.
func TestFullPeerTableForgetsIdlePeers(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	b := s["b.test"]
	b.svc.discover = true
	b.svc.maxPeers = 3
	for _, d := range []string{"p1.example", "p2.example", "p3.example"} {
		if _, err := b.svc.peer(d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.svc.peer("p1.example"); err != nil { // p2 is now the oldest
		t.Fatal(err)
	}
	if _, err := b.svc.peer("p4.example"); err != nil {
		t.Fatalf("a new peer with a full table of idle ones: %v", err)
	}
	b.svc.mu.Lock()
	_, p1 := b.svc.peers["p1.example"]
	_, p2 := b.svc.peers["p2.example"]
	for _, p := range b.svc.peers {
		p.running = true
	}
	n := len(b.svc.peers)
	b.svc.mu.Unlock()
	if n != 3 || !p1 || p2 {
		t.Errorf("after adding p4: %d peers, p1 kept %v, p2 kept %v; want 3, true, false", n, p1, p2)
	}
	if _, err := b.svc.peer("p5.example"); err == nil {
		t.Error("a peer with a delivery worker was forgotten")
	}
}

// TestReplayCacheForgetsExpired: signatures leave the replay cache once
// expired, before it is full, and a replay inside the window is caught.
func TestReplayCacheForgetsExpired(t *testing.T) {
	c := newReplayCache(100)
	now := time.Unix(1_800_000_000, 0)
	for i := range 90 {
		if v := c.add([]byte{byte(i)}, now.Add(time.Duration(1+i%3)*time.Second), now); v != replayFresh {
			t.Fatalf("signature %d: verdict %d", i, v)
		}
	}
	if v := c.add([]byte{5}, now.Add(time.Minute), now.Add(time.Second/2)); v != replaySeen {
		t.Fatalf("replay within the window: verdict %d, want seen", v)
	}
	later := now.Add(5 * time.Second)
	if v := c.add([]byte("new"), later.Add(time.Minute), later); v != replayFresh {
		t.Fatalf("verdict %d", v)
	}
	if n := len(c.seen); n != 1 {
		t.Errorf("%d signatures remembered after all but one expired, want 1", n)
	}
	for i := range 99 {
		c.add([]byte{1, byte(i)}, later.Add(time.Minute), later)
	}
	if v := c.add([]byte("one too many"), later.Add(time.Minute), later); v != replayFull {
		t.Errorf("cache of 100 live signatures: verdict %d, want full", v)
	}
}

// TestBatchesStayUnderTheBodyLimit: a backlog of large messages goes out
// in requests the receiver takes, not in one it refuses as too large.
func TestBatchesStayUnderTheBodyLimit(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	tooLarge := metricRefused.WithLabelValues("too-large")
	before := counterValue(tooLarge)
	bob.mu.Lock()
	bob.fail = errStoreDown // the backlog builds up behind the first event
	bob.mu.Unlock()
	const n = 30 // 30 × 60 KiB: about 1.8 MiB
	for i := 1; i <= n; i++ {
		alice.send(t, core.MessageID(i), "bob@b.test", fmt.Sprintf("%02d", i)+strings.Repeat("x", 60<<10))
	}
	recoverAfterFirstAttempt(t, a, bob)
	bob.waitMessages(t, n)
	if d := counterValue(tooLarge) - before; d != 0 {
		t.Errorf("%v requests refused as too large", d)
	}
}

// blockingReader never yields data until done is closed.
type blockingReader struct{ done chan struct{} }

func (r blockingReader) Read([]byte) (int, error) { <-r.done; return 0, io.EOF }

// TestTrickledBodyTimesOut: a signed request whose body stops coming is
// answered once the body timeout passes, not held open for ever.
func TestTrickledBodyTimesOut(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	b.user("bob")
	b.svc.bodyTimeout = 300 * time.Millisecond
	body := batchOf("alice@a.test", "bob@b.test", "slow")
	req := signedRequest(t, a, b, body)
	done := make(chan struct{})
	defer close(done)
	req.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body[:len(body)/2]), blockingReader{done}))
	req.GetBody = nil
	// Go's HTTP/2 client waits for its body writer before returning the
	// answer, so the server's side is watched: its refusal counter.
	malformed := metricRefused.WithLabelValues("malformed")
	before := counterValue(malformed)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := a.svc.peer("b.test")
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := c.Do(req.WithContext(ctx)); err == nil {
			resp.Body.Close()
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for counterValue(malformed) == before {
		if time.Now().After(deadline) {
			t.Fatal("a stalled body is still being waited for after 3 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
