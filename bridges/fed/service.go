package fed

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"github.com/switchboard/switchboard/core"
)

// Directory is what the Service needs of the daemon's accounts.
type Directory interface {
	// EnsureFedNetwork makes sure the local user called name has a
	// running fed network, creating it if needed, so a message for a user
	// who never used federation still reaches them. ok is false when
	// there is no such user, or the user's fed network is turned off.
	EnsureFedNetwork(ctx context.Context, name string) (ok bool, err error)
}

// BlockLists reads the addresses a user blocked: user@domain addresses
// and whole domains (the XMPP port's XEP-0191 list).
type BlockLists interface {
	BlockList(ctx context.Context, user core.UserID) ([]string, error)
}

// Config configures a Service.
type Config struct {
	// Domain is the domain this server is authoritative for.
	Domain    string
	Directory Directory
	// Blocks, when set, refuses events from addresses and domains the
	// recipient blocked.
	Blocks BlockLists
	// Contacts keeps the users' contact lists, for presence; nil refuses
	// subscriptions.
	Contacts core.FedContactStore
	// Queue keeps events for other domains; nil limits the Service to
	// its own domain.
	Queue core.FedQueue
	// Rooms keeps federated rooms; nil leaves this server without them.
	Rooms core.FedRoomStore
	// Keys sign requests: the last one signs, all are published. At
	// least one is needed with a Queue.
	Keys []SigningKey
	// PublicURL is the base URL (scheme://host[:port], no path) at which
	// peers reach this server's HTTPS listener. Default https://Domain.
	PublicURL string
	// Peers are reached without public discovery (private networks,
	// tests).
	Peers map[string]StaticPeer
	// Discover lets the Service reach domains not in Peers through their
	// https://DOMAIN/.well-known/switchboard.
	Discover bool
	// MaxAge is how long an event is retried; default DefaultMaxAge.
	MaxAge time.Duration
	// Rate and Burst limit each peer's requests; defaults 50/s and 100.
	Rate  float64
	Burst int
	// InboundRate and InboundBurst limit the requests of all peers
	// together; defaults DefaultInboundRate and twice it.
	InboundRate  float64
	InboundBurst int
	// MaxQueued bounds a user's undelivered events to one peer; default
	// DefaultMaxQueued.
	MaxQueued int
	// FailedRetention is how long failed events stay in the queue past
	// MaxAge after they were created; default DefaultFailedRetention.
	FailedRetention time.Duration
	// KeyDir, when set, is read again every keyReload for new and
	// retired keys (LoadKeys).
	KeyDir string
	// Resolver looks up DNS SRV records; default net.DefaultResolver.
	Resolver SRVResolver
	Log      *slog.Logger
	Now      func() time.Time
}

// Defaults of the bounds of section 7 of docs/federation.md.
const (
	DefaultInboundRate     = 2000
	DefaultMaxQueued       = 10000
	DefaultFailedRetention = 7 * 24 * time.Hour
)

// Service is the daemon's one federation endpoint.
type Service struct {
	domain    string
	dir       Directory
	blocks    BlockLists
	contacts  core.FedContactStore
	queue     core.FedQueue
	publicURL string
	static    map[string]StaticPeer
	discover  bool
	maxAge    time.Duration
	rate      rate.Limit
	burst     int
	// inbound limits all peers' requests together.
	inbound         *rate.Limiter
	maxQueued       int
	failedRetention time.Duration
	resolver        SRVResolver
	keyDir          string
	log             *slog.Logger
	now             func() time.Time
	replays         *replayCache
	rooms           *roomHost
	// discoveries limits fetches of new domains' documents.
	discoveries *rate.Limiter
	workers     sync.WaitGroup

	mu     sync.Mutex
	keys   []SigningKey
	locals map[string]*bridge // running fed bridges by user name
	byUser map[core.UserID]*bridge
	peers  map[string]*peer
	// maxPeers and bodyTimeout are the constants but for tests.
	maxPeers    int
	bodyTimeout time.Duration
	workerIdle  time.Duration
	// dialControl checks the addresses dialled for discovered peers, and
	// rootCAs verifies them (nil: the system's); tests change them.
	dialControl func(network, address string, c syscall.RawConn) error
	rootCAs     *x509.CertPool
	runCtx      context.Context // set by Run

	// contactsMu serializes changes of contact entries (presence.go).
	contactsMu    sync.Mutex
	presenceSends chan struct{} // presence requests in flight
	// invitationSends bounds the invitations a room's home has in flight
	// (rooms.go), apart from presence: a member naming many slow domains
	// must not hold up the users' presence.
	invitationSends chan struct{}
	// rejoining holds room NUL user of the rejoins after a stale leave
	// under way (rooms.go); guarded by mu.
	rejoining map[string]bool
}

// maxReplayEntries bounds the replay cache: at 50 requests/s from each of
// many peers for the 5-minute window.
const maxReplayEntries = 1 << 20

// NewService returns a Service for cfg.Domain.
func NewService(cfg Config) (*Service, error) {
	if err := ValidateDomain(cfg.Domain); err != nil {
		return nil, err
	}
	if cfg.Directory == nil {
		return nil, errors.New("fed: no Directory")
	}
	if cfg.Queue != nil && signingKey(cfg.Keys) == nil {
		return nil, errors.New("fed: federating with other domains needs a signing key")
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://" + cfg.Domain
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 50
	}
	if cfg.Burst <= 0 {
		cfg.Burst = 100
	}
	if cfg.InboundRate <= 0 {
		cfg.InboundRate = DefaultInboundRate
	}
	if cfg.InboundBurst <= 0 {
		cfg.InboundBurst = int(2 * cfg.InboundRate)
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = DefaultMaxQueued
	}
	if cfg.FailedRetention <= 0 {
		cfg.FailedRetention = DefaultFailedRetention
	}
	if cfg.Resolver == nil {
		cfg.Resolver = net.DefaultResolver
	}
	static := make(map[string]StaticPeer, len(cfg.Peers))
	for d, p := range cfg.Peers {
		if err := ValidateDomain(d); err != nil {
			return nil, fmt.Errorf("peer map: %w", err)
		}
		static[d] = p
	}
	return &Service{
		domain: cfg.Domain, dir: cfg.Directory, blocks: cfg.Blocks, queue: cfg.Queue, keys: cfg.Keys,
		publicURL: strings.TrimSuffix(cfg.PublicURL, "/"), static: static, discover: cfg.Discover,
		maxAge: cfg.MaxAge, rate: rate.Limit(cfg.Rate), burst: cfg.Burst, log: cfg.Log, now: cfg.Now,
		replays: newReplayCache(maxReplayEntries), rooms: newRoomHost(cfg.Rooms), discoveries: rate.NewLimiter(discoveryRate, discoveryBurst),
		locals: make(map[string]*bridge), byUser: make(map[core.UserID]*bridge), peers: make(map[string]*peer),
		maxPeers: maxPeers, bodyTimeout: bodyTimeout, workerIdle: workerIdle,
		dialControl: refuseNonPublic,
		inbound:     rate.NewLimiter(rate.Limit(cfg.InboundRate), cfg.InboundBurst), maxQueued: cfg.MaxQueued,
		failedRetention: cfg.FailedRetention, resolver: cfg.Resolver, keyDir: cfg.KeyDir,
		contacts: cfg.Contacts, presenceSends: make(chan struct{}, maxPresenceSends),
		invitationSends: make(chan struct{}, maxInvitationSends),
	}, nil
}

// Domain is the domain the Service speaks for.
func (s *Service) Domain() string { return s.domain }

func (s *Service) register(b *bridge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.locals[b.self.Local] = b
	s.byUser[b.env.User.ID] = b
}

func (s *Service) unregister(b *bridge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locals[b.self.Local] == b {
		delete(s.locals, b.self.Local)
	}
	if s.byUser[b.env.User.ID] == b {
		delete(s.byUser, b.env.User.ID)
	}
}

// send delivers one outgoing event: in-process for the own domain, else
// through the peer's queue.
func (s *Service) send(ctx context.Context, m *core.Message, ev Event) error {
	to, _ := ParseAddress(ev.To) // checked by bridge.event
	if to.Domain != s.domain {
		return s.enqueue(ctx, m, ev, to.Domain)
	}
	results, err := s.receive(ctx, s.domain, []Event{ev})
	if err != nil {
		return err // temporary: the Hub retries
	}
	if r := results[0]; r.Status == StatusRejected {
		return core.Permanent(fmt.Errorf("%s refused the message: %s", to, r.Error))
	}
	return nil
}

// localWait bounds how long a delivery waits for a recipient's fed
// network to start after creating it.
const localWait = 10 * time.Second

// recipient returns the running bridge of local user name, starting the
// user's fed network if it has none; nil when there is no such user.
func (s *Service) recipient(ctx context.Context, name string) (*bridge, error) {
	s.mu.Lock()
	b := s.locals[name]
	s.mu.Unlock()
	if b != nil {
		return b, nil
	}
	ok, err := s.dir.EnsureFedNetwork(ctx, name)
	if err != nil || !ok {
		return nil, err
	}
	deadline := time.NewTimer(localWait)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		b := s.locals[name]
		s.mu.Unlock()
		if b != nil {
			return b, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("fed network of %s did not start within %s", name, localWait)
		case <-tick.C:
		}
	}
}

// maxFutureSkew is how far ahead of our clock a sender's timestamp may be
// before it is replaced by ours: a wrong clock must not pin a message to
// the top of a history.
const maxFutureSkew = 5 * time.Minute

// receive applies a batch from origin, whose envelopes are checked and
// whose senders are origin's users. It returns one result per event, or
// an error when nothing may be assumed applied (the sender retries).
func (s *Service) receive(ctx context.Context, origin string, events []Event) ([]Result, error) {
	results := make([]Result, len(events))
	// Events for one recipient go to its Hub in one call, in order.
	type group struct {
		b       *bridge
		refs    *refResolver
		blocked map[string]bool
		indexes []int
		events  []core.Event
	}
	var order []string
	groups := make(map[string]*group)
	var subscriptions []int // presence.go
	var roomEvents []int    // rooms.go
	for i, ev := range events {
		results[i] = Result{ID: ev.ID, Status: StatusAccepted}
		to, _ := ParseAddress(ev.To)
		from, _ := ParseAddress(ev.From)
		if to.IsRoom() || from.IsRoom() {
			roomEvents = append(roomEvents, i)
			continue
		}
		if to.Domain != s.domain || from.Domain != origin {
			return nil, fmt.Errorf("event %s: from %s to %s does not fit origin %s", ev.ID, from, to, origin)
		}
		if isSubscription(ev.Type) {
			subscriptions = append(subscriptions, i)
			continue
		}
		if err := ev.checkContent(); err != nil {
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: err.Error()}
			continue
		}
		if reservedID(ev.ID) { // refs.go
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: "event id begins with a prefix this server keeps for its own ids"}
			continue
		}
		g := groups[to.Local]
		if g == nil {
			b, err := s.recipient(ctx, to.Local)
			if err != nil {
				return nil, fmt.Errorf("finding recipient %s: %w", to, err)
			}
			g = &group{b: b}
			if b != nil {
				g.refs = newRefResolver(b) // refs.go
			}
			if b != nil && s.blocks != nil {
				list, err := s.blocks.BlockList(ctx, b.env.User.ID)
				if err != nil {
					return nil, fmt.Errorf("reading the block list of %s: %w", to, err)
				}
				g.blocked = make(map[string]bool, len(list))
				for _, a := range list {
					g.blocked[strings.ToLower(a)] = true
				}
			}
			groups[to.Local] = g
			order = append(order, to.Local)
		}
		if g.b == nil {
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: "no such user"}
			continue
		}
		if g.blocked[from.String()] || g.blocked[from.Domain] {
			results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: "the recipient does not accept messages from " + from.String()}
			continue
		}
		if e := s.incoming(ctx, g.refs, ev, from); e != nil {
			g.indexes = append(g.indexes, i)
			g.events = append(g.events, e)
		}
	}
	for _, name := range order {
		g := groups[name]
		if len(g.events) == 0 {
			continue
		}
		dup, err := receiveReporting(ctx, g.b.env.Inbound, g.events)
		if err != nil {
			return nil, fmt.Errorf("storing events for %s: %w", name, err)
		}
		for j, d := range dup {
			if d {
				results[g.indexes[j]].Status = StatusDuplicate
			}
		}
	}
	if err := s.receiveSubscriptions(ctx, events, subscriptions, results); err != nil {
		return nil, err
	}
	if err := s.receiveRoomEvents(ctx, origin, events, roomEvents, results); err != nil {
		return nil, err
	}
	return results, nil
}

// receiveReporting hands events to the Hub and reports which messages it
// dropped as already stored; a Hub that cannot tell reports none.
func receiveReporting(ctx context.Context, in core.Inbound, events []core.Event) ([]bool, error) {
	if r, ok := in.(core.DuplicateReporter); ok {
		return r.ReceiveReporting(ctx, events...)
	}
	return make([]bool, len(events)), in.Receive(ctx, events...)
}

// checkContent checks what an event of its type carries; an error rejects
// the event alone, as does a type this server does not know.
func (e *Event) checkContent() error {
	switch e.Type {
	case TypeMessage:
		return e.checkMessage()
	case TypeTyping:
		return e.checkTyping()
	case TypeReaction:
		return e.checkReaction()
	case TypeRead:
		return e.checkRead()
	}
	return fmt.Errorf("event type %q not supported", e.Type)
}

// incoming is the Hub's event for a received event to recipient b, whose
// content is checked; nil for one accepted and not shown (a withdrawn
// reaction, a read position on a message b no longer has).
func (s *Service) incoming(ctx context.Context, refs *refResolver, ev Event, from Address) core.Event {
	peer := core.Peer{Kind: core.Direct, Remote: from.String()}
	switch ev.Type {
	case TypeTyping:
		return core.TypingEvent{Peer: peer, Sender: from.String(), Direction: core.Incoming, State: core.ChatState(ev.State)}
	case TypeRead:
		if upto := refs.local(ctx, from, ev.Upto); upto != nil {
			return core.PeerReadEvent{Peer: peer, Upto: upto.ID}
		}
		return nil
	}
	t := ev.Time
	if now := s.now(); t.After(now.Add(maxFutureSkew)) {
		t = now
	}
	m := &core.Message{
		Peer:      peer,
		OriginID:  ev.ID,
		Direction: core.Incoming,
		Sender:    core.Address{Addr: from.String(), Name: from.Local},
		Time:      t,
		Kind:      core.MessageKind(ev.Kind),
		Body:      ev.Body,
	}
	if ev.Type == TypeReaction {
		// The set replaces the sender's earlier one; an empty set
		// withdraws it, and is kept for devices to drop what they show.
		m.Kind, m.Body = core.KindReaction, strings.Join(ev.Reactions, "\n")
		m.ReplyTo = refs.ref(ctx, from, ev.ReactsTo, false)
		if m.ReplyTo.IsZero() {
			return nil
		}
		refs.stored(from, ev.ID)
		return core.MessageEvent{Message: m}
	}
	m.ReplyTo = refs.ref(ctx, from, ev.ReplyTo, false)
	m.CorrectionOf = refs.ref(ctx, from, ev.CorrectionOf, true)
	refs.stored(from, ev.ID)
	for _, a := range ev.Attachments {
		m.Attachments = append(m.Attachments, core.Attachment{URL: a.URL, Name: a.Name, MediaType: a.MediaType, Size: a.Size})
	}
	return core.MessageEvent{Message: m}
}
