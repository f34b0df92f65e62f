package fed

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/selfsigned"
)

// testServer is one Service on a real loopback HTTPS listener, with its
// own self-signed certificate and recording users.
type testServer struct {
	t      *testing.T
	domain string
	svc    *Service
	queue  *memQueue
	rooms  *memRooms
	url    string
	cert   string // PEM file of its certificate
	srv    *http.Server
	ln     net.Listener
	users  *recordingUsers
	cancel context.CancelFunc
	done   chan struct{}
}

// startServers starts one server per domain, each knowing the others
// through its static peer map.
func startServers(t *testing.T, domains ...string) map[string]*testServer {
	t.Helper()
	out := make(map[string]*testServer)
	for _, d := range domains {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		cert, err := selfsigned.LoadOrCreate(certFile, keyFile, d)
		if err != nil {
			t.Fatal(err)
		}
		ts := &testServer{t: t, domain: d, ln: ln, url: "https://" + ln.Addr().String(), cert: certFile, queue: newMemQueue(),
			rooms: newMemRooms()}
		ts.srv = &http.Server{TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}, ErrorLog: nil}
		out[d] = ts
	}
	for _, ts := range out {
		peers := make(map[string]StaticPeer)
		for d, other := range out {
			if d != ts.domain {
				peers[d] = StaticPeer{URL: other.url, CAFile: other.cert}
			}
		}
		keys, err := LoadKeys(filepath.Join(t.TempDir(), "keys"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		ts.users = &recordingUsers{known: map[string]bool{"alice": true, "bob": true}, byName: map[string]*recorder{},
			blocked: map[core.UserID][]string{}}
		ts.svc, err = NewService(Config{Domain: ts.domain, Directory: ts.users, Blocks: ts.users, Queue: ts.queue, Keys: keys, Contacts: newMemContacts(),
			Rooms:     ts.rooms,
			PublicURL: ts.url, Peers: peers, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Burst: 20, Rate: 10})
		if err != nil {
			t.Fatal(err)
		}
		ts.users.svc = ts.svc
		ts.srv.Handler = ts.svc.Handler()
		ts.serve()
	}
	return out
}

func (ts *testServer) serve() {
	go func() { _ = ts.srv.ServeTLS(ts.ln, "", "") }()
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel, ts.done = cancel, make(chan struct{})
	go func() { defer close(ts.done); _ = ts.svc.Run(ctx) }()
	ts.t.Cleanup(ts.stop)
	// Ephemeral events go out only once Run runs.
	waitFor(ts.t, func() bool {
		ts.svc.mu.Lock()
		defer ts.svc.mu.Unlock()
		return ts.svc.runCtx == ctx
	})
}

func (ts *testServer) stop() {
	ts.cancel()
	<-ts.done
	_ = ts.srv.Close()
}

// user returns the recorder of a local user, registering its bridge.
func (ts *testServer) user(name string) *recorder {
	r, _ := ts.users.ensure(name)
	return r
}

// recorder is a user's fed bridge whose Hub only records.
type recorder struct {
	b      *bridge
	mu     sync.Mutex
	events []core.Event
	wake   chan struct{}
	fail   error // Receive fails with it when set
	// stored, when set, drops messages whose conversation holds their
	// origin id, as the history store does (dedupeLikeTheStore).
	stored map[string]bool
}

func (r *recorder) Receive(_ context.Context, events ...core.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	for _, e := range events {
		if me, ok := e.(core.MessageEvent); ok && r.stored != nil && me.Message.OriginID != "" {
			key := fmt.Sprint(me.Message.Peer.Kind, me.Message.Peer.Remote, "\x00", me.Message.OriginID)
			if r.stored[key] {
				continue
			}
			r.stored[key] = true
		}
		r.events = append(r.events, e)
	}
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return nil
}

// dedupeLikeTheStore makes r drop, as the history store does, a message
// whose conversation already holds its origin id.
func (r *recorder) dedupeLikeTheStore() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored = map[string]bool{}
}

// messages returns the bodies of the messages received so far.
func (r *recorder) messages() []*core.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*core.Message
	for _, e := range r.events {
		if me, ok := e.(core.MessageEvent); ok {
			out = append(out, me.Message)
		}
	}
	return out
}

// waitMessages waits until n messages arrived.
func (r *recorder) waitMessages(t *testing.T, n int) []*core.Message {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if ms := r.messages(); len(ms) >= n {
			return ms
		}
		select {
		case <-r.wake:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d messages, want %d", len(r.messages()), n)
		}
	}
}

// send makes the user's bridge send a chat message with server id id and
// returns its event id.
func (r *recorder) send(t *testing.T, id core.MessageID, to, body string) string {
	t.Helper()
	m := &core.Message{ID: id, User: r.b.env.User.ID, Network: 1, Peer: core.Peer{Kind: core.Direct, Remote: to},
		Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: body}
	if _, err := r.b.Send(context.Background(), m); err != nil {
		t.Fatalf("send %q: %v", body, err)
	}
	return eventID(r.b.self, id)
}

// recordingUsers is the Directory of a test server: alice and bob exist.
type recordingUsers struct {
	svc     *Service
	mu      sync.Mutex
	known   map[string]bool
	byName  map[string]*recorder
	nextID  core.UserID
	blocked map[core.UserID][]string
}

// BlockList makes recordingUsers the servers' BlockLists.
func (u *recordingUsers) BlockList(_ context.Context, user core.UserID) ([]string, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.blocked[user], nil
}

func (u *recordingUsers) EnsureFedNetwork(_ context.Context, name string) (bool, error) {
	_, ok := u.ensure(name)
	return ok, nil
}

func (u *recordingUsers) ensure(name string) (*recorder, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if !u.known[name] {
		return nil, false
	}
	if r, ok := u.byName[name]; ok {
		return r, true
	}
	u.nextID++
	r := &recorder{wake: make(chan struct{}, 1)}
	r.b = newBridge(u.svc, core.BridgeEnv{User: core.User{ID: u.nextID, Name: name}, Inbound: r, Log: slog.Default()},
		Address{Local: name, Domain: u.svc.domain})
	u.byName[name] = r
	u.svc.register(r.b)
	return r, true
}

// memQueue is a core.FedQueue in memory.
type memQueue struct {
	mu     sync.Mutex
	items  []core.FedQueued
	nextID int64
	failed []core.FedQueued
}

func newMemQueue() *memQueue { return &memQueue{} }

func (q *memQueue) EnqueueFed(_ context.Context, qs []core.FedQueued) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	added := 0
next:
	for _, it := range qs {
		for _, x := range append(q.items, q.failed...) {
			if x.Peer == it.Peer && x.EventID == it.EventID {
				continue next
			}
		}
		q.nextID++
		it.ID = q.nextID
		q.items = append(q.items, it)
		added++
	}
	return added, nil
}

func (q *memQueue) PendingFed(_ context.Context, peer string, limit int) ([]core.FedQueued, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []core.FedQueued
	for _, it := range q.items {
		if it.Peer == peer && len(out) < limit {
			out = append(out, it)
		}
	}
	return out, nil
}

func (q *memQueue) FedPeersPending(context.Context) ([]string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, it := range q.items {
		if !seen[it.Peer] {
			seen[it.Peer] = true
			out = append(out, it.Peer)
		}
	}
	return out, nil
}

func (q *memQueue) update(ids []int64, f func(*core.FedQueued) (keep, failed bool)) {
	q.mu.Lock()
	defer q.mu.Unlock()
	want := map[int64]bool{}
	for _, id := range ids {
		want[id] = true
	}
	kept := q.items[:0]
	for _, it := range q.items {
		if want[it.ID] {
			keep, failed := f(&it)
			if failed {
				q.failed = append(q.failed, it)
			}
			if !keep {
				continue
			}
		}
		kept = append(kept, it)
	}
	q.items = kept
}

func (q *memQueue) CompleteFed(_ context.Context, ids []int64) error {
	q.update(ids, func(*core.FedQueued) (bool, bool) { return false, false })
	return nil
}

func (q *memQueue) RetryFed(_ context.Context, ids []int64, next time.Time, cause string) error {
	q.update(ids, func(it *core.FedQueued) (bool, bool) {
		it.Attempts++
		it.NextAttempt, it.LastError = next, cause
		return true, false
	})
	return nil
}

func (q *memQueue) FailFed(_ context.Context, ids []int64, cause string) error {
	q.update(ids, func(it *core.FedQueued) (bool, bool) { it.LastError = cause; return false, true })
	return nil
}

func (q *memQueue) CountFed(_ context.Context, peer string, user core.UserID) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, it := range q.items {
		if it.Peer == peer && it.User == user {
			n++
		}
	}
	return n, nil
}

func (q *memQueue) PurgeFailedFed(_ context.Context, before time.Time) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	kept := q.failed[:0]
	for _, it := range q.failed {
		if !it.Created.Before(before) {
			kept = append(kept, it)
		}
	}
	n := len(q.failed) - len(kept)
	q.failed = kept
	return n, nil
}

func (q *memQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

var errStoreDown = errors.New("store down")

// recoverAfterFirstAttempt waits until from's queue saw a failed attempt,
// then lets rec store messages again.
func recoverAfterFirstAttempt(t *testing.T, from *testServer, rec *recorder) {
	t.Helper()
	waitFor(t, func() bool {
		from.queue.mu.Lock()
		defer from.queue.mu.Unlock()
		return len(from.queue.items) > 0 && from.queue.items[0].Attempts > 0
	})
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
}
