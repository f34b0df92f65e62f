package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard/switchboard/clientapi/http/web"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/loginlimit"
)

// Store is what the API reads and writes in the history store. Every
// method that takes a user is scoped to that user.
type Store interface {
	core.TokenStore
	core.IdempotencyStore
	core.HistoryReader
	User(ctx context.Context, id core.UserID) (core.User, error)
	UserByName(ctx context.Context, name string) (core.User, error)
	Credentials(ctx context.Context, user core.UserID, mechanism string) (core.ScramKeys, error)
	Networks(ctx context.Context, user core.UserID) ([]core.Network, error)
	CreateNetwork(ctx context.Context, n core.Network) (core.Network, error)
	UpdateNetwork(ctx context.Context, n core.Network) error
	DeleteNetwork(ctx context.Context, user core.UserID, id core.NetworkID) error
	Conversation(ctx context.Context, user core.UserID, id core.ConversationID) (core.Conversation, error)
	ConversationSummaries(ctx context.Context, user core.UserID) ([]core.ConversationSummary, error)
	Message(ctx context.Context, user core.UserID, id core.MessageID) (*core.Message, error)
	UserMessages(ctx context.Context, q core.UserPageQuery) ([]*core.Message, error)
	ReadMarkersSince(ctx context.Context, user core.UserID, t time.Time) ([]core.ReadMarker, error)
}

// Hub is what the API needs of core.Hub.
type Hub interface {
	Attach(ctx context.Context, user core.UserID, device string) (*core.Session, error)
	Send(ctx context.Context, s *core.Session, m *core.Message) (*core.Message, error)
	SetStatus(ctx context.Context, s *core.Session, st core.Status) error
	MarkRead(ctx context.Context, s *core.Session, m core.ReadMarker) error
	NetworkStates(user core.UserID) []core.NetworkStateEvent
	Contacts(user core.UserID) []core.ContactList
	SetContact(ctx context.Context, user core.UserID, c core.Contact) error
	RemoveContact(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
	Subscribe(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
	AnswerSubscription(ctx context.Context, user core.UserID, network core.NetworkID, addr string, approve bool) error
	Unsubscribe(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
	JoinRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, key string) error
	LeaveRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, reason string) error
	Rooms(user core.UserID) []core.RoomState
	Room(user core.UserID, network core.NetworkID, room string) (core.RoomState, bool)
	SyncNetworks(ctx context.Context) error
	// ParsePeer reads an address typed on a device as the network files
	// conversations.
	ParsePeer(kind core.NetworkKind, remote string) core.Peer
}

// StoreErrors tells the store's errors apart: the API may not import the
// store, so the daemon hands it these tests.
type StoreErrors struct {
	NotFound func(error) bool // no such row, or another user's: 404
	Exists   func(error) bool // a name already taken: 409
	BadQuery func(error) bool // a search query the grammar refuses: 400
}

// Config configures the API.
type Config struct {
	Store   Store
	Hub     Hub
	Log     *slog.Logger
	Version string
	Errors  StoreErrors
	// ValidateNetwork checks a network's kind and settings: the check the
	// CLI's "network add" and "network set" make, through the bridge
	// registry.
	ValidateNetwork func(kind core.NetworkKind, s core.Settings) error
	// MaxLoginFailures and LoginLockout limit password guessing per
	// account; guessing from one address is limited as well.
	MaxLoginFailures int
	LoginLockout     time.Duration
	// Uploads, if set, grants room for files (uploads.go); nil turns
	// POST /api/v1/uploads off.
	Uploads core.Uploads
	// Limiter, if set, replaces the two above with a limiter the
	// daemon's other ports share, so guesses count on all of them
	// together.
	Limiter *loginlimit.Limiter
	// Federation, when set, serves the federation API and discovery
	// document of docs/federation.md; it authenticates peers itself.
	Federation http.Handler
	// TokenTTL is how long a token lives unless the login asks for less.
	// Default 30 days.
	TokenTTL time.Duration
	Now      func() time.Time
}

// Server is the HTTPS port's handler.
type Server struct {
	cfg     Config
	store   Store
	hub     Hub
	log     *slog.Logger
	limiter *loginlimit.Limiter
	now     func() time.Time
	started time.Time
	routes  []route
	// heartbeat is heartbeatInterval; tests shorten it.
	heartbeat time.Duration

	presenceMu sync.Mutex
	presence   map[core.UserID]*core.Session // see presence.go
}

// route is one registered endpoint; the OpenAPI test walks them.
type route struct {
	method, pattern string
	public          bool // no token needed
	handler         http.Handler
}

// DefaultTokenTTL is how long a token lives by default.
const DefaultTokenTTL = 30 * 24 * time.Hour

// New returns a Server.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Limiter == nil {
		cfg.Limiter = loginlimit.New(cfg.MaxLoginFailures, cfg.LoginLockout, cfg.Now)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	never := func(error) bool { return false }
	for _, f := range []*func(error) bool{&cfg.Errors.NotFound, &cfg.Errors.Exists, &cfg.Errors.BadQuery} {
		if *f == nil {
			*f = never
		}
	}
	s := &Server{
		cfg: cfg, store: cfg.Store, hub: cfg.Hub, log: cfg.Log, now: cfg.Now, started: cfg.Now(),
		limiter:   cfg.Limiter,
		heartbeat: heartbeatInterval,
		presence:  make(map[core.UserID]*core.Session),
	}
	s.routes = []route{
		{"GET", "/healthz", true, http.HandlerFunc(s.healthz)},
		// Counters and gauges only: no user's names or messages.
		{"GET", "/metrics", true, promhttp.Handler()},

		{"GET", "/api/v1/openapi.json", true, http.HandlerFunc(serveOpenAPI)},
		{"POST", "/api/v1/tokens", true, http.HandlerFunc(s.createToken)},
		{"GET", "/api/v1/tokens", false, s.authed(s.listTokens)},
		{"DELETE", "/api/v1/tokens/{id}", false, s.authed(s.deleteToken)},

		{"GET", "/api/v1/networks", false, s.authed(s.listNetworks)},
		{"GET", "/api/v1/contacts", false, s.authed(s.listContacts)}, // contacts.go
		{"PUT", "/api/v1/networks/{id}/contacts/{addr}", false, s.authed(s.putContact)},
		{"DELETE", "/api/v1/networks/{id}/contacts/{addr}", false, s.authed(s.deleteContact)},
		{"POST", "/api/v1/networks/{id}/contacts/{addr}/subscription", false, s.authed(s.changeSubscription)},
		{"GET", "/api/v1/rooms", false, s.authed(s.listRooms)}, // rooms.go
		{"GET", "/api/v1/networks/{id}/rooms/{addr}", false, s.authed(s.getRoom)},
		{"PUT", "/api/v1/networks/{id}/rooms/{addr}", false, s.authed(s.joinRoom)},
		{"DELETE", "/api/v1/networks/{id}/rooms/{addr}", false, s.authed(s.leaveRoom)},
		{"POST", "/api/v1/networks", false, s.authed(s.createNetwork)},
		{"PATCH", "/api/v1/networks/{id}", false, s.authed(s.updateNetwork)},
		{"DELETE", "/api/v1/networks/{id}", false, s.authed(s.deleteNetwork)},

		{"GET", "/api/v1/conversations", false, s.authed(s.listConversations)},
		{"GET", "/api/v1/conversations/{id}/messages", false, s.authed(s.listMessages)},
		{"POST", "/api/v1/conversations/{id}/messages", false, s.authed(s.sendMessage)},
		{"POST", "/api/v1/networks/{id}/messages", false, s.authed(s.sendToAddress)},
		{"PUT", "/api/v1/conversations/{id}/read", false, s.authed(s.markRead)},

		{"GET", "/api/v1/search", false, s.authed(s.search)},
		{"PUT", "/api/v1/presence", false, s.authed(s.setPresence)},
		{"DELETE", "/api/v1/presence", false, s.authed(s.clearPresence)},
		{"GET", "/api/v1/events", false, s.authed(s.events)},
		{"POST", "/api/v1/uploads", false, s.authed(s.createUpload)},
	}
	return s
}

// Handler routes every path the port serves.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.Handle(rt.method+" "+rt.pattern, instrument(rt.pattern, rt.handler))
	}
	if f := s.cfg.Federation; f != nil {
		mux.Handle("/_switchboard/fed/", instrument("/_switchboard/fed/", f))
		mux.Handle("/.well-known/switchboard", instrument("/.well-known/switchboard", f))
	}
	// Anything else under the API is a problem, not the mux's plain text.
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeProblem(w, r, newProblem(http.StatusNotFound, "no such endpoint"))
	})
	// The web page is not part of the API: its paths are registered here
	// rather than in s.routes (which openapi.json describes), and it sets
	// its own, page-shaped, Content-Security-Policy over the API's.
	page := web.Handler()
	for _, p := range web.Paths {
		mux.Handle(p, instrument(strings.TrimPrefix(p, "GET "), page))
	}
	return securityHeaders(mux)
}

// securityHeaders applies to every answer: the API serves JSON only, so
// nothing it sends may be framed, sniffed or run as a page.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		hd.Set("Strict-Transport-Security", "max-age=31536000")
		h.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":  "ok",
		"version": s.cfg.Version,
		"uptime":  s.now().Sub(s.started).Round(time.Second).String(),
	})
}

// housekeepingInterval is how often expired tokens and idempotency
// records are deleted.
const housekeepingInterval = time.Hour

// idempotencyTTL is how long a send's Idempotency-Key is remembered: a
// client retries within minutes, a day is generous.
const idempotencyTTL = 24 * time.Hour

// Run deletes expired tokens and idempotency records until ctx ends, and
// then lets go of the presence sessions.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(housekeepingInterval)
	defer t.Stop()
	for {
		now := s.now()
		if _, err := s.store.PruneTokens(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning expired tokens", "err", err)
		}
		if _, err := s.store.PruneIdempotency(ctx, now.Add(-idempotencyTTL)); err != nil && ctx.Err() == nil {
			s.log.Warn("pruning idempotency keys", "err", err)
		}
		select {
		case <-ctx.Done():
			s.dropPresence()
			return
		case <-t.C:
		}
	}
}

// storeProblem maps a store error: not found (also another user's row)
// to 404 naming what, anything unknown to 500.
func (s *Server) storeProblem(err error, what string) *problem {
	switch {
	case s.cfg.Errors.NotFound(err):
		return notFound(what)
	case errors.Is(err, context.Canceled):
		p := newProblem(499, "request cancelled")
		p.Title = "Client Closed Request"
		p.cause = err
		return p
	}
	return internal(err)
}
