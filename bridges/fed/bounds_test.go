package fed

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/core"
)

// TestQueueBoundRefusesSender: a user with MaxQueued events waiting for a
// peer that does not take them has the next refused, permanently, with
// the reason; another user's events to that peer still queue.
func TestQueueBoundRefusesSender(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	a.svc.maxQueued = 3
	alice, aliceBob, bob := a.user("alice"), a.user("bob"), b.user("bob")
	bob.mu.Lock()
	bob.fail = errStoreDown // b answers 503: everything stays queued at a
	bob.mu.Unlock()
	for i := range 3 {
		alice.send(t, core.MessageID(i+1), "bob@b.test", "waiting")
	}
	m := &core.Message{ID: 9, User: alice.b.env.User.ID, Network: 1, Peer: core.Peer{Kind: core.Direct, Remote: "bob@b.test"},
		Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "one too many"}
	_, err := alice.b.Send(context.Background(), m)
	if !core.IsPermanent(err) || !strings.Contains(err.Error(), "at most 3 may wait") {
		t.Fatalf("4th event: %v, want a permanent refusal naming the bound", err)
	}
	// A batch over the bound is refused whole.
	if _, err := alice.b.SendBatch(context.Background(), []*core.Message{m}); err == nil {
		t.Fatal("a batch over the bound was queued")
	}
	aliceBob.send(t, 1, "bob@b.test", "another user's")
	if n := a.queue.pending(); n != 4 {
		t.Fatalf("%d events queued, want 4", n)
	}
}

// TestIdleWorkerStops: a worker whose queue stays empty stops and lets go
// of its client; the next event starts a new one.
func TestIdleWorkerStops(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	a.svc.workerIdle = 50 * time.Millisecond
	alice, bob := a.user("alice"), b.user("bob")
	stopped := counterValue(metricWorkersStopped)
	alice.send(t, 1, "bob@b.test", "first")
	bob.waitMessages(t, 1)
	p, _ := a.svc.peer("b.test")
	waitFor(t, func() bool {
		a.svc.mu.Lock()
		running := p.running
		a.svc.mu.Unlock()
		p.mu.Lock()
		defer p.mu.Unlock()
		return !running && p.client == nil
	})
	if got := counterValue(metricWorkersStopped); got <= stopped {
		t.Errorf("workers stopped counter %v, was %v", got, stopped)
	}
	alice.send(t, 2, "bob@b.test", "second")
	if ms := bob.waitMessages(t, 2); ms[1].Body != "second" {
		t.Fatalf("bob got %+v", ms[1])
	}
}

// TestKickWhileRetiring: kicks racing a worker's decision to stop are
// never lost: every event queued arrives.
func TestKickWhileRetiring(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	a.svc.workerIdle = time.Millisecond
	alice, bob := a.user("alice"), b.user("bob")
	for i := range 30 {
		alice.send(t, core.MessageID(i+1), "bob@b.test", "racing")
		time.Sleep(time.Duration(i%4) * time.Millisecond)
	}
	bob.waitMessages(t, 30)
}

// TestInboundRateAcrossPeers: the limit of all peers together refuses a
// peer that is within its own limit.
func TestInboundRateAcrossPeers(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	b.user("bob")
	b.svc.inbound = rate.NewLimiter(0, 2)
	if st, _ := do(t, a, b, signedRequest(t, a, b, batchOf("alice@a.test", "bob@b.test", "i1"))); st != 200 {
		t.Fatalf("first: %d", st)
	}
	if st, _ := do(t, c, b, signedRequest(t, c, b, batchOf("carol@c.test", "bob@b.test", "i2"))); st != 200 {
		t.Fatalf("second: %d", st)
	}
	if st, typ := do(t, c, b, signedRequest(t, c, b, batchOf("carol@c.test", "bob@b.test", "i3"))); st != 429 || typ != "rate-limited" {
		t.Fatalf("third: %d %s, want 429 rate-limited", st, typ)
	}
}

// TestPurgeFailed: failed events older than MaxAge + FailedRetention
// leave the queue; newer ones stay.
func TestPurgeFailed(t *testing.T) {
	s := startServers(t, "a.test")
	a := s["a.test"]
	now := time.Now()
	a.queue.mu.Lock()
	a.queue.failed = []core.FedQueued{{EventID: "old", Created: now.Add(-DefaultMaxAge - DefaultFailedRetention - time.Hour)},
		{EventID: "recent", Created: now.Add(-DefaultMaxAge)}}
	a.queue.mu.Unlock()
	a.svc.purgeOnce(context.Background())
	a.queue.mu.Lock()
	defer a.queue.mu.Unlock()
	if len(a.queue.failed) != 1 || a.queue.failed[0].EventID != "recent" {
		t.Fatalf("failed events after the purge: %+v", a.queue.failed)
	}
}

// fakeSRV answers SRV lookups from a table; a real DNS server is not
// available to the tests.
type fakeSRV struct {
	mu      sync.Mutex
	records map[string][]*net.SRV // by name
	asked   []string
}

func (f *fakeSRV) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := "_" + service + "._" + proto + "." + name
	f.asked = append(f.asked, q)
	if rs, ok := f.records[name]; ok {
		return q, rs, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
}

// TestSRVDiscovery: a discovered domain's document is fetched from the
// host and port its _switchboard._tcp SRV record names, verified as the
// domain; "." refuses; without a record, https://DOMAIN is tried.
func TestSRVDiscovery(t *testing.T) {
	ds := startDocServer(t, "srv.test")
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(ds.url, "https://"))
	var port uint16
	for _, c := range portStr {
		port = port*10 + uint16(c-'0')
	}
	s := startServers(t, "b.test")
	b := s["b.test"]
	pem, err := os.ReadFile(ds.cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	res := &fakeSRV{records: map[string][]*net.SRV{
		"srv.test":  {{Target: host + ".", Port: port}},
		"gone.test": {{Target: ".", Port: 0}},
	}}
	b.svc.discover, b.svc.resolver, b.svc.rootCAs = true, res, pool
	b.svc.dialControl = nil // the document server is on loopback
	p, err := b.svc.lookupPeer("srv.test")
	if err != nil {
		t.Fatal(err)
	}
	doc, _, err := p.document(context.Background(), false)
	if err != nil || doc.Domain != "srv.test" || ds.hits.Load() != 1 {
		t.Fatalf("document through SRV: %+v, %v (%d fetches)", doc, err, ds.hits.Load())
	}
	gone, _ := b.svc.lookupPeer("gone.test")
	if _, _, err := gone.document(context.Background(), false); err == nil || !strings.Contains(err.Error(), "does not federate") {
		t.Errorf("SRV target \".\": %v", err)
	}
	none, _ := b.svc.lookupPeer("none.invalid")
	_, _, err = none.document(context.Background(), false)
	var dnsErr *net.DNSError
	if !errors.As(err, &dnsErr) || !strings.Contains(dnsErr.Name, "none.invalid") {
		t.Errorf("without a record: %v, want the lookup of https://none.invalid to fail", err)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	if strings.Join(res.asked, " ") != "_switchboard._tcp.srv.test _switchboard._tcp.gone.test _switchboard._tcp.none.invalid" {
		t.Errorf("SRV lookups %q", res.asked)
	}
}

// TestPeerBackCutsBackoff: events waiting out a long backoff go as soon
// as the peer is heard from, not when the backoff ends.
func TestPeerBackCutsBackoff(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	bob.mu.Lock()
	bob.fail = errStoreDown
	bob.mu.Unlock()
	alice.send(t, 1, "bob@b.test", "while b could not store")
	recoverAfterFirstAttempt(t, a, bob)
	// The next attempt is an hour away.
	a.queue.mu.Lock()
	a.queue.items[0].NextAttempt = time.Now().Add(time.Hour)
	a.queue.mu.Unlock()
	time.Sleep(100 * time.Millisecond)
	if n := len(bob.messages()); n != 0 {
		t.Fatalf("bob has %d messages before b was heard from", n)
	}
	bob.send(t, 5, "alice@a.test", "I am back")
	if ms := bob.waitMessages(t, 1); ms[0].Body != "while b could not store" {
		t.Fatalf("bob got %+v", ms)
	}
}
