package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/loginlimit"
)

// Store is what the port reads from the history store.
type Store interface {
	CredentialStore
	BlockListStore
	core.HistoryReader
	Networks(ctx context.Context, user core.UserID) ([]core.Network, error)
	ReadMarkersSince(ctx context.Context, user core.UserID, t time.Time) ([]core.ReadMarker, error)
}

// Hub is what the port needs of core.Hub.
type Hub interface {
	Attach(ctx context.Context, user core.UserID, device string) (*core.Session, error)
	Send(ctx context.Context, s *core.Session, m *core.Message) (*core.Message, error)
	SetStatus(ctx context.Context, s *core.Session, st core.Status) error
	Typing(ctx context.Context, s *core.Session, e core.TypingEvent) error
	NetworkStates(user core.UserID) []core.NetworkStateEvent
	ParsePeer(kind core.NetworkKind, remote string) core.Peer
	Room(user core.UserID, network core.NetworkID, room string) (core.RoomState, bool)
	Rooms(user core.UserID) []core.RoomState
	JoinRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, key string) error
	LeaveRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, reason string) error
	InviteToRoom(ctx context.Context, user core.UserID, network core.NetworkID, room, invitee, reason string) error
	MarkRead(ctx context.Context, s *core.Session, m core.ReadMarker) error
	// Contact lists (roster.go).
	Contacts(user core.UserID) []core.ContactList
	SetContact(ctx context.Context, user core.UserID, c core.Contact) error
	RemoveContact(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
	Subscribe(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
	AnswerSubscription(ctx context.Context, user core.UserID, network core.NetworkID, addr string, approve bool) error
	Unsubscribe(ctx context.Context, user core.UserID, network core.NetworkID, addr string) error
}

// Config configures the port.
type Config struct {
	Domain    string
	TLSConfig *tls.Config
	Store     Store
	Hub       Hub
	Log       *slog.Logger
	// MaxLoginFailures and LoginLockout limit password guessing per
	// account; guessing from one address is limited as well.
	MaxLoginFailures int
	LoginLockout     time.Duration
	// Uploads, if set, is the HTTP File Upload service (XEP-0363)
	// offered on the server's address.
	Uploads core.Uploads
	// Limiter, if set, replaces the two above with a limiter the
	// daemon's other ports share, so guesses count on all of them
	// together.
	Limiter *loginlimit.Limiter
	Version string
	// ValidateNetwork checks a network's kind and settings before the
	// ad-hoc commands store it: the daemon hands in the CLI's check, so
	// both refuse the same settings. Nil accepts any.
	ValidateNetwork func(kind core.NetworkKind, s core.Settings) error
	// Sessions, if set, counts the bound sessions (the daemon hands in
	// its Prometheus gauge for this port).
	Sessions Gauge
	// WriteCoalesce is the period of a busy device connection's write
	// turns: the Hub's events for it wait for its next turn, so a busy
	// room's lines go several to a write; see session.awaitTurn.
	// Zero means DefaultWriteCoalesce; negative writes at once.
	WriteCoalesce time.Duration
	// CoalesceAbove is how many stanzas a second the Hub must be handing
	// the port's devices before WriteCoalesce applies at all. Zero means
	// DefaultCoalesceAbove; negative coalesces at any rate.
	CoalesceAbove int
}

// DefaultWriteCoalesce lets a busy device's connection be written at
// most 40 times a second, each line at most 25 ms later: a room of a
// thousand devices at 100 lines a second then costs 0.4 writes per line
// and device. 25 rather than 20 ms: on 2 cores shared with the devices,
// the fifth fewer writes (about 10 µs of CPU each, and some 6 µs for the
// device's read of each) kept the lag's p99 under 50 ms in 7 of 7 runs against 5
// of 7, in alternating runs over a quarter of an hour in which the
// machine's speed varied (BenchmarkRoomFanout, 2026-11-24). A device
// that was quiet is written at once.
const DefaultWriteCoalesce = 25 * time.Millisecond

// DefaultCoalesceAbove: below 20,000 stanzas a second across the port,
// each device is written as its stanzas come. A write costs about 10 µs
// of CPU (a TLS record and a system call), so that many cost a fifth of
// a core, and holding them back would only add lag: a device in a busy
// channel would get each line up to WriteCoalesce late for nothing.
const DefaultCoalesceAbove = 20000

// Gauge is a number that goes up and down, as a Prometheus gauge does.
type Gauge interface {
	Inc()
	Dec()
}

type noGauge struct{}

func (noGauge) Inc() {}
func (noGauge) Dec() {}

// Server is the XMPP client port: it accepts connections on any number of
// listeners, STARTTLS or direct TLS.
type Server struct {
	domain    string
	tlsConfig *tls.Config
	store     Store
	creds     CredentialStore
	hub       Hub
	log       *slog.Logger
	limiter   *loginlimit.Limiter
	version   string
	uploads   core.Uploads // nil: no uploads
	// disco is the server address's disco#info, and capsVer its
	// XEP-0115 hash, fixed for the server's life.
	disco    serverDisco
	capsVer  string
	validate func(core.NetworkKind, core.Settings) error
	gauge    Gauge
	adhoc    adhocSessions // ad-hoc command executions (adhoc.go)
	coalesce time.Duration // Config.WriteCoalesce; 0 writes at once
	rate     deliveryRate  // whether the port is busy enough to coalesce
	// turns is when the port's links' write turns began (awaitTurn).
	turns time.Time
	// writes counts the links' writes to their connections, each a
	// system call: BenchmarkRoomFanout's writes/delivery.
	writes atomic.Uint64

	mu       sync.Mutex
	sessions map[core.UserID]map[string]*session // by resource
	// smSessions are the resumable sessions by stream management id.
	smSessions map[string]*session
	// roomRenders shares room messages' serializations among a user's
	// devices (muc.go).
	roomRenders renderCache
	// rosterConvs shares each user's conversations among the user's
	// devices' roster refreshes (roster.go).
	rosterConvs convCache
	// blocked caches each user's block list (blocking.go).
	blocked map[core.UserID]map[string]bool
	conns   map[*conn]struct{}
	wg      sync.WaitGroup
}

// New builds the port.
func New(cfg Config) *Server {
	if cfg.Sessions == nil {
		cfg.Sessions = noGauge{}
	}
	if cfg.Limiter == nil {
		cfg.Limiter = loginlimit.New(cfg.MaxLoginFailures, cfg.LoginLockout, time.Now)
	}
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	switch {
	case cfg.WriteCoalesce == 0:
		cfg.WriteCoalesce = DefaultWriteCoalesce
	case cfg.WriteCoalesce < 0:
		cfg.WriteCoalesce = 0
	}
	switch {
	case cfg.CoalesceAbove == 0:
		cfg.CoalesceAbove = DefaultCoalesceAbove
	case cfg.CoalesceAbove < 0:
		cfg.CoalesceAbove = 0
	}
	srv := &Server{
		coalesce: cfg.WriteCoalesce,
		rate:     deliveryRate{above: int64(cfg.CoalesceAbove)},
		turns:    time.Now(),
		domain:   cfg.Domain, tlsConfig: cfg.TLSConfig, store: cfg.Store, creds: cfg.Store, hub: cfg.Hub, log: log,
		limiter:    cfg.Limiter,
		version:    cfg.Version,
		uploads:    cfg.Uploads,
		validate:   cfg.ValidateNetwork,
		gauge:      cfg.Sessions,
		sessions:   make(map[core.UserID]map[string]*session),
		smSessions: make(map[string]*session),
		blocked:    make(map[core.UserID]map[string]bool),
		conns:      make(map[*conn]struct{}),
	}
	srv.disco = srv.buildServerDisco() // disco.go
	srv.capsVer = srv.disco.capsVer()
	return srv
}

// Serve accepts connections on ln until ctx ends. directTLS listeners
// (XEP-0368) speak TLS from the first byte; the others require STARTTLS.
func (s *Server) Serve(ctx context.Context, ln net.Listener, directTLS bool) error {
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accepting XMPP connections: %w", err)
		}
		if directTLS {
			nc = tls.Server(nc, s.tlsConfig)
		}
		c := newConn(s, nc)
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			c.serve(ctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Wait returns when every connection has ended (after ctx of Serve ends).
func (s *Server) Wait() { s.wg.Wait() }

// serve runs one connection to its end.
func (c *conn) serve(ctx context.Context) {
	defer c.nc.Close()
	// Shutdown: tell the client, then unblock the reader. AfterFunc
	// rather than a goroutine per connection: idle sessions are many.
	stop := context.AfterFunc(ctx, func() {
		c.sendStreamError(&streamError{condition: "system-shutdown"})
		c.stopReading()
	})
	defer stop()
	if err := c.negotiate(ctx); err != nil {
		c.finish(ctx, err)
		return
	}
	sess, err := c.bind(ctx)
	if err != nil {
		c.finish(ctx, err)
		return
	}
	c.finish(ctx, sess.serve(ctx))
}

// aLongTimeAgo is a deadline in the past: it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// finish ends the stream as err says.
func (c *conn) finish(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // the shutdown already ended the stream
	}
	var se *streamError
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, errStreamClosed):
		_ = c.write([]byte("</stream:stream>"))
	case errors.As(err, &se):
		c.log.Debug("XMPP stream error", "condition", se.condition, "text", se.text, "remote", c.remote)
		c.sendStreamError(se)
	case errors.Is(err, context.Canceled):
	default:
		c.log.Debug("XMPP connection ended", "err", err, "remote", c.remote)
		c.sendStreamError(&streamError{condition: "internal-server-error"})
	}
}

// newTurnPhase picks where in each WriteCoalesce period a new link's
// write turns fall (session.awaitTurn), spread evenly at random.
func (s *Server) newTurnPhase() time.Duration {
	if s.coalesce <= 0 {
		return 0
	}
	return rand.N(s.coalesce)
}

// untilTurn is how long from now until the next turn of a link whose
// turns fall at phase in each WriteCoalesce period.
func (s *Server) untilTurn(now time.Time, phase time.Duration) time.Duration {
	since := now.Sub(s.turns) - phase
	if since <= 0 {
		return -since
	}
	if into := since % s.coalesce; into != 0 {
		return s.coalesce - into
	}
	return 0
}
