package fed

import (
	"context"
	"errors"
	"fmt"
	"testing"
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
