package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/clientapi/upload"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/history/ftsquery"
)

// The tests run the API over real TLS on loopback against the real store
// and Hub; only the network is fake: a bridge kind "test" that reports
// itself connected, records what it is asked to send, and lets the test
// play messages in from the network.

const testKind core.NetworkKind = "test"

type fakeBridge struct {
	env core.BridgeEnv

	mu       sync.Mutex
	sent     []*core.Message
	statuses []core.Status
}

// ReactsInRooms: the test network's rooms carry reactions, as an XMPP
// group chat's do; a network named plain… has the same bridge without
// them (plainBridge).
func (b *fakeBridge) ReactsInRooms() {}

// plainBridge is a fakeBridge whose rooms carry no reactions, as IRC's.
type plainBridge struct{ core.Bridge }

func (b *fakeBridge) Run(ctx context.Context) error {
	_ = b.env.Inbound.Receive(ctx, core.NetworkStateEvent{State: core.StateConnected})
	<-ctx.Done()
	return nil
}

func (b *fakeBridge) Send(_ context.Context, m *core.Message) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sent = append(b.sent, m)
	return "", nil
}

func (b *fakeBridge) SetStatus(_ context.Context, s core.Status) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses = append(b.statuses, s)
	return nil
}

func (b *fakeBridge) sentBodies() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, m := range b.sent {
		out = append(out, m.Body)
	}
	return out
}

func (b *fakeBridge) lastStatus() (core.Status, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.statuses) == 0 {
		return core.Status{}, false
	}
	return b.statuses[len(b.statuses)-1], true
}

type env struct {
	t     testing.TB
	st    *history.Store
	hub   *core.Hub
	srv   *Server
	ts    *httptest.Server
	clock func() time.Time

	mu      sync.Mutex
	bridges map[core.NetworkID]*fakeBridge
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := history.Open(context.Background(), filepath.Join(t.TempDir(), "test.db"), history.Options{Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, st)
}

// newEnvOn serves the API on st (a benchmark's kept database); the
// environment closes st when the test ends.
func newEnvOn(t testing.TB, st *history.Store) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	e := &env{t: t, st: st, bridges: make(map[core.NetworkID]*fakeBridge)}
	reg := &core.Registry{}
	reg.Register(core.BridgeKind{
		Kind: testKind,
		New: func(be core.BridgeEnv) (core.Bridge, error) {
			b := &fakeBridge{env: be}
			e.mu.Lock()
			e.bridges[be.Network.ID] = b
			e.mu.Unlock()
			if strings.HasPrefix(be.Network.Name, "plain") {
				return plainBridge{b}, nil // its rooms carry no reactions
			}
			return b, nil
		},
		// Names starting with # are rooms, as on IRC.
		ParsePeer: func(remote string) core.Peer {
			if strings.HasPrefix(remote, "#") {
				return core.Peer{Kind: core.Room, Remote: remote}
			}
			return core.Peer{Kind: core.Direct, Remote: remote}
		},
		ValidateSettings: func(s core.Settings) error {
			if s["addr"] == "bad" {
				return errors.New(`setting "addr": bad address`)
			}
			return nil
		},
	})
	e.hub = core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, Log: log,
		AwayWhenDetached: true, AwayStatus: core.Status{Show: core.ShowAway}})
	ctx, cancel := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		_ = e.hub.Run(ctx)
	}()
	// The daemon's upload service, on the same listener as the API.
	e.ts = httptest.NewUnstartedServer(nil)
	e.ts.StartTLS()
	uploads, err := upload.New(upload.Config{Dir: filepath.Join(t.TempDir(), "uploads"), BaseURL: e.ts.URL,
		MaxFileSize: 1 << 20, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = New(Config{
		Store: st, Hub: e.hub, Log: log, Version: "v-test", Uploads: uploads,
		Errors: StoreErrors{
			NotFound: func(err error) bool { return errors.Is(err, history.ErrNotFound) },
			Exists:   func(err error) bool { return errors.Is(err, history.ErrExists) },
			BadQuery: func(err error) bool { var q *ftsquery.Error; return errors.As(err, &q) },
		},
		ValidateNetwork: func(kind core.NetworkKind, s core.Settings) error {
			k, ok := reg.Lookup(kind)
			if !ok {
				return fmt.Errorf("kind %q: not one this server knows", kind)
			}
			return k.ValidateSettings(s)
		},
		MaxLoginFailures: 3, LoginLockout: time.Minute,
	})
	go e.srv.Run(ctx)
	mux := http.NewServeMux()
	mux.Handle(upload.Path, uploads.Handler())
	mux.Handle("/", e.srv.Handler())
	e.ts.Config.Handler = mux
	t.Cleanup(func() {
		e.ts.CloseClientConnections()
		e.ts.Close()
		cancel()
		<-hubDone
		st.Close()
	})
	return e
}

// user creates a user and logs in, returning the token.
func (e *env) user(name string) (core.User, string) {
	e.t.Helper()
	u, err := e.st.CreateUser(context.Background(), name, "pw-"+name, false)
	if err != nil {
		e.t.Fatal(err)
	}
	var tok loginResponse
	e.mustDo("POST", "/api/v1/tokens", "", map[string]any{"username": name, "password": "pw-" + name}, 201, &tok)
	return u, tok.Token
}

// network adds a network of the test kind through the API and waits
// until its bridge runs.
func (e *env) network(token, name string) (networkJSON, *fakeBridge) {
	e.t.Helper()
	var n networkJSON
	e.mustDo("POST", "/api/v1/networks", token, map[string]any{"name": name, "kind": "test"}, 201, &n)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.mu.Lock()
		b := e.bridges[core.NetworkID(n.ID)]
		e.mu.Unlock()
		if b != nil {
			return n, b
		}
		time.Sleep(5 * time.Millisecond)
	}
	e.t.Fatalf("network %s never started", name)
	return n, nil
}

// incoming plays messages in from the network, as the bridge would.
func (b *fakeBridge) incoming(t testing.TB, room string, bodies ...string) {
	t.Helper()
	var evs []core.Event
	for _, body := range bodies {
		evs = append(evs, core.MessageEvent{Message: &core.Message{
			Peer: core.Peer{Kind: core.Room, Remote: room}, Sender: core.Address{Addr: "bob", Name: "Bob"},
			Time: time.Now(), Kind: core.KindChat, Body: body,
		}})
	}
	if err := b.env.Inbound.Receive(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

// do sends a request; body is JSON-encoded unless it is a string or nil.
func (e *env) do(method, path, token string, body any, hdr ...string) *http.Response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, r)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// mustDo checks the status and decodes the answer into out (if not nil).
func (e *env) mustDo(method, path, token string, body any, want int, out any, hdr ...string) *http.Response {
	e.t.Helper()
	resp := e.do(method, path, token, body, hdr...)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		e.t.Fatalf("%s %s: %s, want %d: %s", method, path, resp.Status, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decoding %q: %v", method, path, b, err)
		}
	}
	return resp
}

// wantProblem checks an answer is a problem with status and field.
func (e *env) wantProblem(resp *http.Response, status int, field string) problem {
	e.t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var p problem
	if err := json.Unmarshal(b, &p); err != nil {
		e.t.Fatalf("%s %s: not JSON: %q", resp.Request.Method, resp.Request.URL.Path, b)
	}
	if resp.StatusCode != status || p.Status != status || p.Field != field ||
		resp.Header.Get("Content-Type") != "application/problem+json" || p.Title == "" || p.Detail == "" {
		e.t.Fatalf("%s %s: %s %s %+v, want %d naming %q", resp.Request.Method, resp.Request.URL.Path,
			resp.Status, resp.Header.Get("Content-Type"), p, status, field)
	}
	return p
}

type sseEvent struct{ name, id, data string }

// sseStream is an open GET /api/v1/events.
type sseStream struct {
	t      testing.TB
	resp   *http.Response
	events chan sseEvent
}

func (e *env) events(token, lastID string) *sseStream {
	e.t.Helper()
	var hdr []string
	if lastID != "" {
		hdr = []string{"Last-Event-ID", lastID}
	}
	resp := e.do("GET", "/api/v1/events", token, nil, hdr...)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("events: %s %s", resp.Status, b)
	}
	s := &sseStream{t: e.t, resp: resp, events: make(chan sseEvent, 1000)}
	go func() {
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					s.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = line[len("event: "):]
			case strings.HasPrefix(line, "id: "):
				ev.id = line[len("id: "):]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[len("data: "):]
			}
		}
	}()
	e.t.Cleanup(s.close)
	return s
}

func (s *sseStream) close() { s.resp.Body.Close() }

// next returns the next event named one of names, skipping others.
func (s *sseStream) next(names ...string) sseEvent {
	s.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				s.t.Fatalf("event stream ended waiting for %v", names)
			}
			for _, n := range names {
				if ev.name == n {
					return ev
				}
			}
		case <-timeout:
			s.t.Fatalf("no %v event within 10 s", names)
		}
	}
}

// quiet checks no event named one of names comes within d.
func (s *sseStream) quiet(d time.Duration, names ...string) {
	s.t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-s.events:
			if !ok {
				return
			}
			for _, n := range names {
				if ev.name == n {
					s.t.Fatalf("unexpected %s event: %+v", n, ev)
				}
			}
		case <-timeout:
			return
		}
	}
}

func messageOf(t testing.TB, ev sseEvent) messageJSON {
	t.Helper()
	var m messageJSON
	if err := json.Unmarshal([]byte(ev.data), &m); err != nil {
		t.Fatalf("%s event data %q: %v", ev.name, ev.data, err)
	}
	return m
}
