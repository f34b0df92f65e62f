package fed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// memContacts is a core.FedContactStore in memory.
type memContacts struct {
	mu   sync.Mutex
	m    map[core.UserID]map[string]core.FedContact
	fail error // FedContact fails with it when set
}

func newMemContacts() *memContacts {
	return &memContacts{m: make(map[core.UserID]map[string]core.FedContact)}
}

func (s *memContacts) FedContacts(_ context.Context, user core.UserID) ([]core.FedContact, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []core.FedContact
	for _, c := range s.m[user] {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Addr < out[j].Addr })
	return out, nil
}

func (s *memContacts) FedContact(_ context.Context, user core.UserID, addr string) (core.FedContact, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return core.FedContact{}, false, s.fail
	}
	c, ok := s.m[user][addr]
	return c, ok, nil
}

func (s *memContacts) PutFedContact(_ context.Context, user core.UserID, c core.FedContact) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Empty() {
		delete(s.m[user], c.Addr)
		return nil
	}
	if s.m[user] == nil {
		s.m[user] = make(map[string]core.FedContact)
	}
	s.m[user][c.Addr] = c
	return nil
}

func (s *memContacts) CountFedPending(_ context.Context, user core.UserID) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.m[user] {
		if c.Pending {
			n++
		}
	}
	return n, nil
}

// entry reads r's user's entry for addr.
func (r *recorder) entry(addr string) core.FedContact {
	c, _, _ := r.b.svc.contacts.FedContact(context.Background(), r.b.env.User.ID, addr)
	return c
}

// waitEvent waits for an event matching want, among those after the
// first skip ones, and returns its index.
func (r *recorder) waitEvent(t *testing.T, skip int, what string, want func(core.Event) bool) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for i := skip; i < len(r.events); i++ {
			if want(r.events[i]) {
				r.mu.Unlock()
				return i
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s within 20 s", what)
	return 0
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events)
}

func isSub(contact string, kind core.SubscriptionKind) func(core.Event) bool {
	return func(e core.Event) bool {
		s, ok := e.(core.SubscriptionEvent)
		return ok && s.Contact == contact && s.Kind == kind
	}
}

func isPresence(contact string, show core.Show, text string) func(core.Event) bool {
	return func(e core.Event) bool {
		p, ok := e.(core.PresenceEvent)
		return ok && p.Contact == contact && p.Show == show && p.Text == text
	}
}

func isContact(addr string, sub core.Subscription, asked bool) func(core.Event) bool {
	return func(e core.Event) bool {
		c, ok := e.(core.ContactEvent)
		return ok && !c.Removed && c.Contact.Addr == addr && c.Contact.Subscription == sub && c.Contact.Asked == asked
	}
}

// handshake makes alice subscribe to bob and bob allow it.
func handshake(t *testing.T, alice, bob *recorder) {
	t.Helper()
	ctx := context.Background()
	aliceAddr, bobAddr := alice.b.self.String(), bob.b.self.String()
	if err := alice.b.Subscribe(ctx, bobAddr); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, 0, "alice's asked contact", isContact(bobAddr, core.SubNone, true))
	bob.waitEvent(t, 0, "bob's request", isSub(aliceAddr, core.SubscribeRequest))
	if c := bob.entry(aliceAddr); !c.Pending || c.Listed {
		t.Fatalf("bob's entry for alice %+v; want an unlisted pending request", c)
	}
	if err := bob.b.AnswerSubscription(ctx, aliceAddr, true); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, 0, "alice's approval", isSub(bobAddr, core.SubscribeApproved))
	alice.waitEvent(t, 0, "alice's contact with subscription to", isContact(bobAddr, core.SubTo, false))
	if c := bob.entry(aliceAddr); !c.From || c.Pending || !c.Listed {
		t.Fatalf("bob's entry for alice %+v after allowing", c)
	}
}

// TestPresenceAcrossDomains: alice@a.test asks to see bob@b.test's
// presence through real HTTPS listeners; bob allows, his status changes
// reach alice, and after bob revokes it they no longer do.
func TestPresenceAcrossDomains(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	ctx := context.Background()
	if err := bob.b.SetStatus(ctx, core.Status{Show: core.ShowAvailable, Text: "at my desk"}); err != nil {
		t.Fatal(err)
	}
	handshake(t, alice, bob)
	// The newly allowed subscriber gets bob's current presence.
	alice.waitEvent(t, 0, "bob's current presence", isPresence("bob@b.test", core.ShowAvailable, "at my desk"))
	mark := alice.count()
	if err := bob.b.SetStatus(ctx, core.Status{Show: core.ShowAway, Text: "lunch"}); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, mark, "bob's away", isPresence("bob@b.test", core.ShowAway, "lunch"))
	// bob does not see alice's presence: she asked, he did not.
	if c := alice.entry("bob@b.test"); c.From {
		t.Fatalf("alice's entry %+v", c)
	}
	if got := b.svc.applyPresence(ctx, []PresenceUpdate{{Type: TypePresence, From: "alice@a.test", To: "bob@b.test", Time: time.Now(), Show: "dnd"}}); got[0].Status != StatusRejected {
		t.Fatalf("presence bob did not ask for: %+v", got)
	}
	mark = alice.count()
	if err := bob.b.AnswerSubscription(ctx, "alice@a.test", false); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, mark, "alice's unsubscribed", isSub("bob@b.test", core.Unsubscribed))
	alice.waitEvent(t, mark, "bob offline for alice", isPresence("bob@b.test", core.ShowOffline, ""))
	if c := alice.entry("bob@b.test"); c.To || c.Ask || !c.Listed {
		t.Fatalf("alice's entry after the revocation %+v", c)
	}
	// A presence bob's server sent now would be refused by alice's.
	if got := a.svc.applyPresence(ctx, []PresenceUpdate{{Type: TypePresence, From: "bob@b.test", To: "alice@a.test", Time: time.Now(), Show: "chat"}}); got[0].Status != StatusRejected {
		t.Fatalf("presence after the revocation: %+v", got)
	}
}

// TestPresenceCancelAndRemove: alice stops following bob (cancel), then
// removes him; bob's list follows each step.
func TestPresenceCancelAndRemove(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	ctx := context.Background()
	handshake(t, alice, bob)
	mark := bob.count()
	if err := alice.b.Unsubscribe(ctx, "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	bob.waitEvent(t, mark, "bob's unsubscribe notice", isSub("alice@a.test", core.UnsubscribeNotice))
	if c := bob.entry("alice@a.test"); c.From || !c.Listed {
		t.Fatalf("bob's entry after alice's cancel %+v", c)
	}
	if c := alice.entry("bob@b.test"); c.To || !c.Listed {
		t.Fatalf("alice's entry after her cancel %+v", c)
	}
	// Asking again, then removing the contact, withdraws the request.
	if err := alice.b.Subscribe(ctx, "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return bob.entry("alice@a.test").Pending })
	if err := alice.b.RemoveContact(ctx, "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return !bob.entry("alice@a.test").Pending })
	if c, ok, _ := a.svc.contacts.FedContact(ctx, alice.b.env.User.ID, "bob@b.test"); ok {
		t.Fatalf("alice's removed entry still stored: %+v", c)
	}
}

// TestPresenceSameDomain: two users of one server subscribe in-process,
// with nothing queued.
func TestPresenceSameDomain(t *testing.T) {
	s := startServers(t, "a.test")
	a := s["a.test"]
	alice, bob := a.user("alice"), a.user("bob")
	ctx := context.Background()
	handshake(t, alice, bob)
	if err := bob.b.SetStatus(ctx, core.Status{Show: core.ShowDND, Text: "focus"}); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, 0, "bob's dnd", isPresence("bob@a.test", core.ShowDND, "focus"))
	if n := a.queue.pending(); n != 0 {
		t.Fatalf("%d events queued for the own domain", n)
	}
	// bob stops: his subscribers see him offline at once.
	mark := alice.count()
	bob.b.stopped()
	alice.waitEvent(t, mark, "bob offline", isPresence("bob@a.test", core.ShowOffline, ""))
	// A subscription to nobody fails at once and is not left asked.
	err := alice.b.Subscribe(ctx, "nobody@a.test")
	if err == nil || !core.IsPermanent(err) {
		t.Fatalf("subscribing to nobody: %v", err)
	}
	if c := alice.entry("nobody@a.test"); c.Ask {
		t.Fatalf("entry for nobody %+v", c)
	}
}

// TestPresenceBlocked: a blocked domain cannot subscribe; its request
// fails back to its sender, and nothing is pending on the blocker's side.
func TestPresenceBlocked(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	failedBefore := counterValue(metricOutEvents.WithLabelValues("failed"))
	b.users.mu.Lock()
	b.users.blocked[bob.b.env.User.ID] = []string{"A.test"}
	b.users.mu.Unlock()
	if err := alice.b.Subscribe(context.Background(), "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, 0, "alice's refusal", isSub("bob@b.test", core.Unsubscribed))
	alice.waitEvent(t, 0, "alice's request cleared", isContact("bob@b.test", core.SubNone, false))
	if c := bob.entry("alice@a.test"); c.Pending || !c.Empty() {
		t.Fatalf("bob keeps %+v of a blocked domain", c)
	}
	if failed := counterValue(metricOutEvents.WithLabelValues("failed")); failed != failedBefore+1 {
		t.Fatal("the refused request was not counted as failed")
	}
}

// TestPresencePendingBound: a peer cannot pile up requests: past
// MaxPendingRequests unanswered ones, more are rejected.
func TestPresencePendingBound(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	b.user("bob")
	var events []Event
	for i := range MaxPendingRequests + 5 {
		events = append(events, Event{ID: fmt.Sprintf("s%d", i), Type: TypeSubscribe, From: fmt.Sprintf("u%d@a.test", i), To: "bob@b.test", Time: time.Now()})
	}
	body, _ := json.Marshal(Batch{Events: events})
	req := signedRequest(t, a, b, body)
	p, _ := a.svc.peer("b.test")
	c, _ := p.httpClient()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res BatchResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || len(res.Results) != len(events) {
		t.Fatalf("answer %d: %+v %v", resp.StatusCode, res, err)
	}
	for i, r := range res.Results {
		want := StatusAccepted
		if i >= MaxPendingRequests {
			want = StatusRejected
		}
		if r.Status != want {
			t.Fatalf("request %d: %+v, want %s", i, r, want)
		}
	}
	bob := b.user("bob")
	if n, _ := b.svc.contacts.CountFedPending(context.Background(), bob.b.env.User.ID); n != MaxPendingRequests {
		t.Fatalf("%d pending", n)
	}
}

// TestPresenceRestart: a network that starts again shows the stored list
// and the unanswered requests, and asks followed contacts for presence.
func TestPresenceRestart(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	ctx := context.Background()
	a.users.mu.Lock()
	a.users.known["carol"] = true
	a.users.mu.Unlock()
	carol := a.user("carol")
	handshake(t, alice, bob)
	if err := carol.b.Subscribe(ctx, "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return bob.entry("carol@a.test").Pending })
	if err := bob.b.SetStatus(ctx, core.Status{Show: core.ShowXA, Text: "gone fishing"}); err != nil {
		t.Fatal(err)
	}
	alice.waitEvent(t, 0, "bob's xa", isPresence("bob@b.test", core.ShowXA, "gone fishing"))

	mark := bob.count()
	bob.b.started(ctx)
	i := bob.waitEvent(t, mark, "bob's contact list", func(e core.Event) bool { _, ok := e.(core.ContactsEvent); return ok })
	bob.mu.Lock()
	list := bob.events[i].(core.ContactsEvent)
	bob.mu.Unlock()
	if len(list.Contacts) != 1 || list.Contacts[0].Addr != "alice@a.test" || list.Contacts[0].Subscription != core.SubFrom {
		t.Fatalf("bob's list %+v", list)
	}
	bob.waitEvent(t, mark, "carol's request again", isSub("carol@a.test", core.SubscribeRequest))

	// alice's network starts again: she probes bob and gets his presence.
	mark = alice.count()
	alice.b.started(ctx)
	alice.waitEvent(t, mark, "bob's presence after alice's probe", isPresence("bob@b.test", core.ShowXA, "gone fishing"))
}

// TestPresenceRefusals: POST presence checks the sender's domain and the
// body.
func TestPresenceRefusals(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	b.user("bob")
	post := func(body string) (int, string) {
		return do(t, a, b, signedRequestTo(t, a, b, "presence", []byte(body)))
	}
	now := time.Now().UTC().Format(time.RFC3339)
	for _, c := range []struct{ body, want string }{
		{`{"updates":[{"type":"presence","from":"eve@c.test","to":"bob@b.test","time":"` + now + `","show":"away"}]}`, "wrong-domain"},
		{`{"updates":[{"type":"presence","from":"eve@a.test","to":"bob@b.test","time":"` + now + `","show":"sleepy"}]}`, "malformed"},
		{`{"updates":[]}`, "malformed"},
		{`{"updates":[{"type":"probe","from":"eve@a.test","to":"bob@b.test","time":"` + now + `","show":"away"}]}`, "malformed"},
	} {
		if status, typ := post(c.body); typ != c.want {
			t.Errorf("%s: %d %s, want %s", c.body, status, typ, c.want)
		}
	}
	if status, typ := post(`{"updates":[{"type":"presence","from":"eve@a.test","to":"bob@b.test","time":"` + now + `","show":"away"}]}`); status != http.StatusOK {
		t.Errorf("a valid update: %d %s", status, typ)
	}
}

// signedRequestTo is signedRequest for another endpoint.
func signedRequestTo(t *testing.T, from, to *testServer, path string, body []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", to.url+APIPath+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := from.svc.sign(req, body); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestDecodePresence(t *testing.T) {
	ok := `{"updates":[{"type":"presence","from":"Bob@B.example","to":"alice@a.example","time":"2026-11-24T01:30:00Z","show":"dnd","status":"busy"}]}`
	b, err := DecodePresence([]byte(ok))
	if err != nil || b.Updates[0].From != "bob@b.example" || b.Updates[0].Show != "dnd" {
		t.Fatalf("%+v %v", b, err)
	}
	for _, bad := range []string{
		`{"updates":[{"type":"presence","from":"bob@b.example","to":"alice@a.example","show":"dnd"}]}`,
		`{"updates":[{"type":"status","from":"bob@b.example","to":"alice@a.example","time":"2026-11-24T01:30:00Z"}]}`,
		`{"updates":[{"type":"presence","from":"bob","to":"alice@a.example","time":"2026-11-24T01:30:00Z","show":"away"}]}`,
		`{"updates":[{"type":"presence","from":"bob@b.example","to":"alice@a.example","time":"2026-11-24T01:30:00Z","show":"away","status":"` + strings.Repeat("x", MaxStatusBytes+1) + `"}]}`,
		ok + `{}`,
		ok + `]`,
		`[]`,
	} {
		if _, err := DecodePresence([]byte(bad)); err == nil {
			t.Errorf("accepted %.120s", bad)
		}
	}
}

func FuzzDecodePresence(f *testing.F) {
	f.Add([]byte(`{"updates":[{"type":"presence","from":"bob@b.example","to":"alice@a.example","time":"2026-11-24T01:30:00Z","show":"dnd","status":"busy"}]}`))
	f.Add([]byte(`{"updates":[{"type":"probe","from":"bob@b.example","to":"alice@a.example","time":"2026-11-24T01:30:00Z"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodePresence(body)
		if err != nil {
			return
		}
		for _, u := range b.Updates {
			if _, err := ParseAddress(u.From); err != nil {
				t.Fatalf("accepted from %q", u.From)
			}
			if len(u.Status) > MaxStatusBytes {
				t.Fatalf("accepted a status of %d bytes", len(u.Status))
			}
			if u.Type == TypePresence {
				if _, ok := core.ParseShow(u.Show); !ok {
					t.Fatalf("accepted show %q", u.Show)
				}
			}
		}
	})
}

// TestPresenceLatestWins: a burst of status changes ends, on the
// subscriber's side, at the last one; none is shown after it.
func TestPresenceLatestWins(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	handshake(t, alice, bob)
	for i := range 30 {
		if err := bob.b.SetStatus(context.Background(), core.Status{Show: core.ShowAway, Text: fmt.Sprintf("s%02d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	alice.waitEvent(t, 0, "the last status", isPresence("bob@b.test", core.ShowAway, "s29"))
	time.Sleep(300 * time.Millisecond) // room for a late, older one
	alice.mu.Lock()
	defer alice.mu.Unlock()
	for i := len(alice.events) - 1; i >= 0; i-- {
		if p, ok := alice.events[i].(core.PresenceEvent); ok {
			if p.Text != "s29" {
				t.Fatalf("alice's last presence of bob is %+v", p)
			}
			return
		}
	}
}

// TestPresenceRequestRetried: a request the peer could not store (503)
// stays queued and arrives once the peer can store it again.
func TestPresenceRequestRetried(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	store := b.svc.contacts.(*memContacts)
	store.mu.Lock()
	store.fail = errStoreDown
	store.mu.Unlock()
	if err := alice.b.Subscribe(context.Background(), "bob@b.test"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		a.queue.mu.Lock()
		defer a.queue.mu.Unlock()
		return len(a.queue.items) == 1 && a.queue.items[0].Attempts > 0
	})
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()
	bob.waitEvent(t, 0, "the retried request", isSub("alice@a.test", core.SubscribeRequest))
	waitFor(t, func() bool { return a.queue.pending() == 0 })
	if c := alice.entry("bob@b.test"); !c.Ask {
		t.Fatalf("alice's entry %+v after a retried request", c)
	}
}

// TestPresenceFromTheFutureDoesNotPin: an update dated far ahead (a
// peer's wrong clock, once) must not make every later update look
// overtaken until that date.
func TestPresenceFromTheFutureDoesNotPin(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	handshake(t, alice, bob)
	send := func(at time.Time, show string) {
		body, _ := json.Marshal(PresenceBatch{Updates: []PresenceUpdate{{Type: TypePresence, From: "bob@b.test", To: "alice@a.test",
			Time: at, Show: show}}})
		if status, answer := postStatus(t, b, a, "presence", body); status != http.StatusOK {
			t.Fatalf("%d %s", status, answer)
		}
	}
	send(time.Now().Add(365*24*time.Hour).UTC(), "dnd")
	alice.waitEvent(t, 0, "dnd", isPresence("bob@b.test", core.ShowDND, ""))
	send(time.Now().UTC(), "away")
	alice.waitEvent(t, 0, "away after a clock fixed", isPresence("bob@b.test", core.ShowAway, ""))
}
