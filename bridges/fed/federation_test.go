package fed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestDeliveryBothWays: alice@a.test and bob@b.test write to each other
// through real HTTPS listeners, discovery documents and signatures.
func TestDeliveryBothWays(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	id := alice.send(t, 1, "Bob@B.test", "hello bob")
	got := bob.waitMessages(t, 1)[0]
	if got.Body != "hello bob" || got.Sender.Addr != "alice@a.test" || got.Peer.Remote != "alice@a.test" ||
		got.Direction != core.Incoming || got.OriginID != id {
		t.Fatalf("bob got %+v", got)
	}
	// alice's devices learn that b stored it.
	waitFor(t, func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		for _, e := range alice.events {
			if d, ok := e.(core.DeliveredEvent); ok && d.Message == 1 {
				return true
			}
		}
		return false
	})
	bob.send(t, 7, "alice@a.test", "hi alice")
	if got := alice.waitMessages(t, 1)[0]; got.Body != "hi alice" || got.Sender.Addr != "bob@b.test" {
		t.Fatalf("alice got %+v", got)
	}
	// The same message sent again (a retry after a crash) carries the
	// same event id, by which the receiver's store drops the copy.
	if again := alice.send(t, 1, "bob@b.test", "hello bob"); again != id {
		t.Fatalf("event id %s on retry, first %s", again, id)
	}
	waitFor(t, func() bool { return a.queue.pending() == 0 })
	for _, m := range bob.messages() {
		if m.OriginID != id {
			t.Fatalf("bob got %+v, want only event %s", m, id)
		}
	}
}

// TestOrderAcrossOutage: events queued while the peer is down arrive once
// each, in order, after it comes back; an unknown recipient fails back to
// the sender.
func TestOrderAcrossOutage(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	bob.mu.Lock()
	bob.fail = errStoreDown // b answers 503: nothing may be taken as delivered
	bob.mu.Unlock()
	for i := 1; i <= 20; i++ {
		alice.send(t, core.MessageID(i), "bob@b.test", fmt.Sprintf("m%02d", i))
	}
	recoverAfterFirstAttempt(t, a, bob)
	// The retry waits out its backoff; a kick does not skip it.
	ms := bob.waitMessages(t, 20)
	var bodies []string
	for _, m := range ms {
		bodies = append(bodies, m.Body)
	}
	want := make([]string, 20)
	for i := range want {
		want[i] = fmt.Sprintf("m%02d", i+1)
	}
	if fmt.Sprint(bodies) != fmt.Sprint(want) {
		t.Fatalf("bob got %v", bodies)
	}

	alice.send(t, 100, "nobody@b.test", "anyone?")
	waitFor(t, func() bool {
		alice.mu.Lock()
		defer alice.mu.Unlock()
		for _, e := range alice.events {
			if f, ok := e.(core.SendFailedEvent); ok && f.Message == 100 && strings.Contains(f.Reason, "no such user") {
				return true
			}
		}
		return false
	})
}

// signedRequest builds a request from server from to server to, signed by
// from's key, at time now.
func signedRequest(t *testing.T, from, to *testServer, body []byte) *http.Request {
	t.Helper()
	return signedRequestTo(t, from, to, "events", body)
}

func batchOf(from, to string, ids ...string) []byte {
	var b Batch
	for _, id := range ids {
		b.Events = append(b.Events, Event{ID: id, Type: TypeMessage, From: from, To: to, Time: time.Now().UTC(), Kind: "chat", Body: "body of " + id})
	}
	out, _ := json.Marshal(b)
	return out
}

// do sends req with to's peer client of from (trusting to's certificate)
// and returns the status and problem type.
func do(t *testing.T, from, to *testServer, req *http.Request) (int, string) {
	t.Helper()
	status, contentType, body := exchange(t, from, to, req)
	var pr problem
	_ = json.Unmarshal(body, &pr)
	if status != 200 && contentType != "application/problem+json" {
		t.Errorf("status %d with Content-Type %q", status, contentType)
	}
	return status, strings.TrimPrefix(pr.Type, problemBase)
}

// exchange sends req with to's peer client of from and returns the
// status, content type and body of the answer.
func exchange(t *testing.T, from, to *testServer, req *http.Request) (int, string, []byte) {
	t.Helper()
	p, err := from.svc.peer(to.domain)
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.httpClient()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), body
}

// TestRefusals sends bad requests at a real listener: each is refused
// with its problem type, and nothing reaches bob.
func TestRefusals(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	bob := b.user("bob")
	good := batchOf("alice@a.test", "bob@b.test", "ok1")

	check := func(name string, req *http.Request, wantStatus int, wantType string) {
		t.Helper()
		status, typ := do(t, a, b, req)
		if status != wantStatus || typ != wantType {
			t.Errorf("%s: %d %s, want %d %s", name, status, typ, wantStatus, wantType)
		}
	}

	req := signedRequest(t, a, b, good)
	req.Header.Del("Signature")
	check("unsigned", req, 401, "unsigned")

	signed := signedRequest(t, a, b, good)
	req, _ = http.NewRequest("POST", signed.URL.String(), bytes.NewReader(bytes.Replace(good, []byte("body of"), []byte("BODY OF"), 1)))
	req.Header = signed.Header.Clone()
	check("body changed after signing", req, 401, "bad-signature")

	req = signedRequest(t, a, b, good)
	sig := req.Header.Get("Signature")
	req.Header.Set("Signature", sig[:10]+strings.Map(func(r rune) rune {
		if r == 'A' {
			return 'B'
		}
		return 'A'
	}, sig[10:12])+sig[12:])
	check("signature bytes changed", req, 401, "bad-signature")

	// c signs, but claims to be a.
	req = signedRequest(t, c, b, good)
	req.Header.Set("Switchboard-Origin", "a.test")
	check("another server's key", req, 401, "bad-signature")

	// a signs a batch claiming a user of c.
	check("forged sender", signedRequest(t, a, b, batchOf("carol@c.test", "bob@b.test", "f1")), 403, "wrong-domain")
	check("recipient elsewhere", signedRequest(t, a, b, batchOf("alice@a.test", "dave@c.test", "f2")), 403, "wrong-domain")

	// Signed by a's key on a clock 10 minutes slow: a second Service, as
	// a's own clock is read by its running goroutines.
	slow, err := NewService(Config{Domain: "a.test", Directory: a.users, Queue: newMemQueue(), Keys: a.svc.keys,
		PublicURL: a.url, Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	req = signedRequest(t, &testServer{t: t, domain: "a.test", svc: slow}, b, good)
	check("stale", req, 401, "stale")

	check("malformed", signedRequest(t, a, b, []byte(`{"events":[{"id":"x"}]}`)), 400, "malformed")

	huge := []byte(`{"events":[],"pad":"` + strings.Repeat("x", MaxRequestBytes) + `"}`)
	check("oversize", signedRequest(t, a, b, huge), 413, "too-large")

	req = signedRequest(t, a, b, good)
	req.Header.Set("Content-Type", "text/plain")
	check("content type", req, 415, "unsupported-media-type")

	// A valid request is accepted once; the same bytes again are a replay.
	req = signedRequest(t, a, b, good)
	replay := req.Clone(context.Background())
	replay.Body = io.NopCloser(bytes.NewReader(good))
	check("valid", req, 200, "")
	check("replayed", replay, 401, "replayed")

	if ms := bob.messages(); len(ms) != 1 || ms[0].Body != "body of ok1" {
		t.Fatalf("bob got %+v", ms)
	}

	// Past its burst a peer is told to slow down.
	var limited bool
	for i := range 40 {
		status, typ := do(t, a, b, signedRequest(t, a, b, batchOf("alice@a.test", "bob@b.test", fmt.Sprintf("r%d", i))))
		if status == 429 && typ == "rate-limited" {
			limited = true
			break
		}
	}
	if !limited {
		t.Error("40 requests at once were never rate limited")
	}
}

// TestKeyRotation: a server that starts signing with a new key is
// verified at once by a peer that cached its old document.
func TestKeyRotation(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	bob := b.user("bob")
	alice := a.user("alice")
	alice.send(t, 1, "bob@b.test", "with the old key")
	bob.waitMessages(t, 1)
	k, err := NewKeyFile(t.TempDir(), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a.svc.mu.Lock()
	a.svc.keys = append(a.svc.keys, k)
	a.svc.mu.Unlock()
	alice.send(t, 2, "bob@b.test", "with the new key")
	if ms := bob.waitMessages(t, 2); ms[1].Body != "with the new key" {
		t.Fatalf("bob got %+v", ms)
	}
}

func TestDocument(t *testing.T) {
	s := startServers(t, "a.test")
	a := s["a.test"]
	d := a.svc.document()
	body, _ := json.Marshal(d)
	doc, keys, err := parseDocument("a.test", body)
	if err != nil || doc.Endpoint != a.url+APIPath || len(keys) != 1 {
		t.Fatalf("own document %s: %v", body, err)
	}
	for name, bad := range map[string]string{
		"other domain": strings.Replace(string(body), `"a.test"`, `"b.test"`, 1),
		"http":         strings.Replace(string(body), "https://", "http://", 1),
		"no keys":      `{"version":1,"domain":"a.test","endpoint":"https://x/","keys":[]}`,
		"bad key":      `{"version":1,"domain":"a.test","endpoint":"https://x/","keys":[{"id":"k","alg":"ed25519","public":"AAAA"}]}`,
	} {
		if _, _, err := parseDocument("a.test", []byte(bad)); err == nil {
			t.Errorf("%s: accepted %s", name, bad)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 20 s")
}

// TestMetrics: refusals and deliveries are counted.
func TestMetrics(t *testing.T) {
	refusedBefore := counterValue(metricRefused.WithLabelValues("unsigned"))
	deliveredBefore := counterValue(metricOutEvents.WithLabelValues("delivered"))
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	b.user("bob")
	req := signedRequest(t, a, b, batchOf("alice@a.test", "bob@b.test", "m1"))
	req.Header.Del("Signature")
	do(t, a, b, req)
	a.user("alice").send(t, 1, "bob@b.test", "counted")
	waitFor(t, func() bool {
		return counterValue(metricOutEvents.WithLabelValues("delivered")) == deliveredBefore+1
	})
	if got := counterValue(metricRefused.WithLabelValues("unsigned")); got != refusedBefore+1 {
		t.Errorf("unsigned refusals %v, want %v", got, refusedBefore+1)
	}
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}

// TestBlocked: a recipient who blocked an address or its whole domain gets
// nothing from it, and the sender learns the message failed.
func TestBlocked(t *testing.T) {
	s := startServers(t, "a.test", "b.test", "c.test")
	a, b, c := s["a.test"], s["b.test"], s["c.test"]
	bob := b.user("bob")
	alice, carol := a.user("alice"), c.user("alice")
	b.users.mu.Lock()
	b.users.blocked[bob.b.env.User.ID] = []string{"alice@a.test", "C.test"}
	b.users.mu.Unlock()
	alice.send(t, 1, "bob@b.test", "from a")
	carol.send(t, 2, "bob@b.test", "from c")
	for _, r := range []*recorder{alice, carol} {
		waitFor(t, func() bool {
			r.mu.Lock()
			defer r.mu.Unlock()
			for _, e := range r.events {
				if f, ok := e.(core.SendFailedEvent); ok && strings.Contains(f.Reason, "does not accept") {
					return true
				}
			}
			return false
		})
	}
	a.users.mu.Lock()
	a.users.known["dora"] = true
	a.users.mu.Unlock()
	a.user("dora").send(t, 3, "bob@b.test", "from dora")
	if ms := bob.waitMessages(t, 1); len(ms) != 1 || ms[0].Body != "from dora" {
		t.Fatalf("bob got %+v", ms)
	}
}
