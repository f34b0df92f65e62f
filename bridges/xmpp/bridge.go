package xmpp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/bridges/supervise"
	"github.com/switchboard/switchboard/core"
)

// Kind registers the XMPP bridge with a core.Registry.
func Kind() core.BridgeKind {
	return core.BridgeKind{
		Kind:             core.KindXMPP,
		New:              New,
		ValidateSettings: ValidateSettings,
		ParsePeer:        parsePeer,
	}
}

// parsePeer reads an address typed on a device as the bridge files
// conversations: the bare JID in its canonical form (jid.Parse applies
// the RFC 7622 PRECIS profiles, so Bob@Example.NET and bob@example.net
// are one peer). A resource is dropped: a conversation is with an
// account, not one of its clients. A group chat's address is a room,
// and one of its occupants (room@service/nick) a direct conversation of
// its own (isRoom, directRemote in muc.go). What does not parse is kept
// as typed, so the send fails with a clear error rather than going
// elsewhere.
func parsePeer(remote string) core.Peer {
	p := core.Peer{Kind: core.Direct, Remote: remote}
	if j, err := jid.Parse(strings.TrimSpace(remote)); err == nil {
		p.Remote = directRemote(j)
		if j.Resourcepart() == "" && isRoom(j) {
			p.Kind = core.Room
		}
	}
	return p
}

// Bridge keeps one XMPP account of one user connected. Run owns the
// connection; Send and SetStatus reach whichever session is current.
type Bridge struct {
	env core.BridgeEnv
	cfg *config
	log *slog.Logger

	cur atomic.Pointer[session]

	mu     sync.Mutex
	status core.Status // the user's status, applied on every (re)connect
	// lastSeen is the time of the newest message stored for this account,
	// where the MAM gap fill after a reconnect starts.
	lastSeen time.Time

	rooms wantedRooms  // group chats: muc.go
	sent  sentMessages // receipts: receipts.go

	sm           streamMgmt                        // stream management: sm.go
	lastPresence map[string]map[string]core.Status // a lost stream's, for its resumption
	gapOpen      atomic.Bool                       // an archive gap fill did not finish
	// noChannelBinding is set once the server refused the SCRAM PLUS
	// channel binding mellium sends (ejabberd 23.01 does): see mechanisms.
	noChannelBinding atomic.Bool
}

// New builds the bridge for one account; it does not connect until Run.
func New(env core.BridgeEnv) (core.Bridge, error) {
	cfg, err := parseConfig(env.Network.Settings)
	if err != nil {
		return nil, err
	}
	log := env.Log
	if log == nil {
		log = slog.Default()
	}
	return &Bridge{env: env, cfg: cfg, log: log, status: core.Status{Show: core.ShowAvailable}}, nil
}

var _ core.Bridge = (*Bridge)(nil)

// failure classifies why a connection ended, which decides how long the
// supervisor waits before the next attempt.
type failure uint8

const (
	failTemporary failure = iota // network trouble, server restart: retry soon
	failUntrusted                // certificate not verifiable: may mend (renewal), retry rarely
	failPermanent                // bad credentials or pin: stop and tell the user
)

var failureNames = [...]string{"temporary", "untrusted", "permanent"}

func (f failure) String() string { return failureNames[f] }

// connError is a classified reason a session ended.
type connError struct {
	kind failure
	err  error
}

func (e *connError) Error() string { return e.err.Error() }
func (e *connError) Unwrap() error { return e.err }

func classOf(err error) failure {
	var ce *connError
	if errors.As(err, &ce) {
		return ce.kind
	}
	if errors.Is(err, errPinMismatch) {
		return failPermanent
	}
	return failTemporary
}

// policy is how a kind of failure is retried: a certificate that does
// not verify may mend (a renewal), but not within minutes.
func (f failure) policy() supervise.Policy {
	if f == failUntrusted {
		return supervise.Policy{Base: 1800 * backoffUnit, Max: 21600 * backoffUnit}
	}
	return supervise.Policy{Base: 2 * backoffUnit, Max: 300 * backoffUnit}
}

// backoffUnit scales every backoff; tests shrink it.
var backoffUnit = time.Second

// report tells the user's devices and the metrics the connection state.
func (b *Bridge) report() supervise.Reporter {
	return supervise.Reporter{Kind: core.KindXMPP, Network: b.env.Network.ID, Inbound: b.env.Inbound, Log: b.log}
}

// Run keeps the account connected until ctx ends. Every failure is
// classified and retried with backoff; only permanent ones end Run.
func (b *Bridge) Run(ctx context.Context) error {
	b.loadLastSeen(ctx)
	b.wantSavedRooms()
	return supervise.Loop{
		Name:    "XMPP",
		Session: b.runSession,
		Classify: func(err error) supervise.Failure {
			k := classOf(err)
			return supervise.Failure{Class: k.String(), Permanent: k == failPermanent, Retry: k.policy()}
		},
		Report: b.report(),
		Log:    b.log,
	}.Run(ctx)
}

// runSession connects, logs in and serves one stream until it ends. up
// says whether it got as far as a bound resource.
func (b *Bridge) runSession(ctx context.Context) (up bool, err error) {
	s, err := connect(ctx, b)
	if err != nil {
		var cv *tls.CertificateVerificationError
		if errors.As(err, &cv) && !errors.Is(err, errPinMismatch) {
			// Unlike a pin mismatch this can mend itself (a renewed or
			// completed chain), so it is retried, but rarely, and the
			// state says how to trust the server meanwhile.
			return false, &connError{kind: failUntrusted, err: fmt.Errorf("%w (to trust this server anyway, set tls-fingerprint)", err)}
		}
		return false, err
	}
	b.cur.Store(s)
	err = s.run(ctx)
	b.cur.CompareAndSwap(s, nil)
	s.close()
	b.sm.lost()
	b.keepPresence(s.presence)
	b.keepRooms(s) // group chats: muc.go
	if ctx.Err() != nil {
		b.sm.forget() // stopped: the stream was closed, not lost
	}
	return true, err
}

// Send writes m to the account's contact; see session.send.
func (b *Bridge) Send(ctx context.Context, m *core.Message) (string, error) {
	if m.Peer.Kind == core.Room {
		return b.sendRoom(ctx, m) // group chats: muc.go
	}
	to, err := jid.Parse(m.Peer.Remote)
	if err != nil {
		return "", core.Permanent(fmt.Errorf("xmpp: %q is not an XMPP address", m.Peer.Remote))
	}
	s := b.cur.Load()
	if s == nil {
		return "", core.ErrNotConnected
	}
	return s.send(ctx, directTarget(to), m)
}

// SetStatus applies the user's status as the account's presence. It is
// remembered and applied again after every reconnect.
func (b *Bridge) SetStatus(ctx context.Context, st core.Status) error {
	b.mu.Lock()
	b.status = st
	b.mu.Unlock()
	if s := b.cur.Load(); s != nil {
		s.sendRoomsPresence(ctx, st) // group chats: muc.go
		return s.sendPresence(ctx, st)
	}
	return nil
}

func (b *Bridge) currentStatus() core.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// noteSeen moves the gap fill's start to t, if t is newer.
func (b *Bridge) noteSeen(t time.Time) {
	b.mu.Lock()
	if t.After(b.lastSeen) {
		b.lastSeen = t
	}
	b.mu.Unlock()
}

func (b *Bridge) seen() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastSeen
}

// loadLastSeen reads the newest stored message time of the account's
// conversations, where the MAM gap fill starts after a restart. One
// archive holds every conversation of the account, so one start serves
// them all; a room has its own archive, and its own start (muc.go).
func (b *Bridge) loadLastSeen(ctx context.Context) {
	h := b.env.History
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	convs, err := h.Conversations(ctx, b.env.User.ID)
	if err != nil {
		b.log.Warn("reading conversations for the archive gap fill", "err", err)
		return
	}
	for _, c := range convs {
		if c.Network != b.env.Network.ID {
			continue
		}
		if c.Kind == core.Room {
			knownRooms.add(c.Remote) // group chats: muc.go
		}
		page, err := h.Messages(ctx, core.PageQuery{User: b.env.User.ID, Conversation: c.ID, Order: core.NewestFirst, Limit: 20})
		if err != nil {
			b.log.Warn("reading the newest message for the archive gap fill", "conversation", c.Remote, "err", err)
			continue
		}
		// Messages without a network id were sent from a device and are
		// stamped by the local clock; they say nothing of the archive.
		for _, m := range page {
			if m.OriginID != "" {
				b.noteSeen(m.Time)
				if c.Kind == core.Room {
					b.rooms.noteSeen(c.Remote, m.Time)
				}
				break
			}
		}
	}
}
