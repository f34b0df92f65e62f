package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// HubConfig configures a Hub.
type HubConfig struct {
	Store Store
	// History, when set, is handed to bridges for their gap fill.
	History HistoryReader
	// Rooms, when set, keeps the rooms devices join across restarts.
	Rooms   RoomMemory
	Bridges *Registry
	Log     *slog.Logger
	// SessionQueue is each session's queue length; a session that falls
	// this far behind is dropped. Default 1024.
	SessionQueue int
	// AwayWhenDetached sets the networks away with AwayStatus when a
	// user's last device leaves.
	AwayWhenDetached bool
	AwayStatus       Status
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Hub routes events: bridges hand it inbound events, sessions hand it
// sends. It stores messages first, then fans them out to every session of
// the user and routes outgoing ones to their network.
type Hub struct {
	syncMu sync.Mutex // serializes SyncNetworks
	cfg    HubConfig
	log    *slog.Logger

	ctx    context.Context // cancelled when Run stops
	cancel context.CancelFunc
	done   chan struct{} // closed when Run is stopping
	wg     sync.WaitGroup

	mu      sync.Mutex
	users   map[UserID]*userState
	runners map[NetworkID]*runner
	// unstartable remembers networks whose bridge could not be built, so
	// SyncNetworks reports each only once until its settings change.
	unstartable map[NetworkID]Network
	nextSession SessionID
}

// NewHub returns a Hub; call Run to start it.
func NewHub(cfg HubConfig) *Hub {
	if cfg.SessionQueue <= 0 {
		cfg.SessionQueue = 1024
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AwayWhenDetached && cfg.AwayStatus.Show == ShowOffline {
		cfg.AwayStatus.Show = ShowAway
	}
	if cfg.Bridges == nil {
		cfg.Bridges = &Registry{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{
		cfg:         cfg,
		log:         cfg.Log,
		ctx:         ctx,
		cancel:      cancel,
		done:        make(chan struct{}),
		users:       make(map[UserID]*userState),
		runners:     make(map[NetworkID]*runner),
		unstartable: make(map[NetworkID]Network),
	}
}

// Run starts a bridge for every enabled network and serves until ctx ends;
// then it stops the bridges, closes every session and returns once all of
// the Hub's goroutines have finished.
func (h *Hub) Run(ctx context.Context) error {
	if err := h.SyncNetworks(ctx); err != nil {
		h.log.Error("starting networks", "err", err)
	}
	<-ctx.Done()
	// The bridges stop first, while the Hub still stores what they hand
	// it: what a network said in its last moments (a message, the user's
	// own departure from its rooms) is kept, not refused. syncMu keeps
	// SyncNetworks from starting a network meanwhile.
	h.syncMu.Lock()
	h.mu.Lock()
	if h.closing() {
		h.mu.Unlock()
		h.syncMu.Unlock()
		return errors.New("hub: Run called twice")
	}
	stopping := make([]*runner, 0, len(h.runners))
	for _, r := range h.runners {
		r.stop()
		stopping = append(stopping, r)
	}
	h.mu.Unlock()
	for _, r := range stopping {
		r.wg.Wait()
	}
	h.mu.Lock()
	close(h.done)
	h.mu.Unlock()
	h.syncMu.Unlock()
	h.cancel()
	h.wg.Wait()
	return nil
}

// SyncNetworks starts bridges for enabled networks that have none, stops
// those of networks that were removed, disabled or changed, and restarts
// changed ones. The CLI changes networks in the store; the daemon calls
// this when the store reports an outside change.
func (h *Hub) SyncNetworks(ctx context.Context) error {
	// One call at a time: the API, ad-hoc commands and the store watcher
	// all call it, and two calls could otherwise start a network again
	// while its old sender still drains the outbound queue.
	h.syncMu.Lock()
	defer h.syncMu.Unlock()
	nets, err := h.cfg.Store.EnabledNetworks(ctx)
	if err != nil {
		return fmt.Errorf("listing networks: %w", err)
	}
	want := make(map[NetworkID]Network, len(nets))
	for _, n := range nets {
		want[n.ID] = n
	}
	h.mu.Lock()
	if h.closing() {
		h.mu.Unlock()
		return ErrHubClosed
	}
	var stopped []*runner
	for id, r := range h.runners {
		if n, ok := want[id]; !ok || !sameNetwork(n, r.network) {
			r.stop()
			stopped = append(stopped, r)
			delete(h.runners, id)
		}
	}
	h.mu.Unlock()
	// A changed network starts again only when its old sender is done, so
	// no queued message is handed to two bridges at once.
	for _, r := range stopped {
		r.wg.Wait()
		h.leaveRoomsOf(ctx, r.network)   // rooms.go; a restarted network rejoins afresh
		h.dropContactsOf(ctx, r.network) // contacts.go; resent on the next connect
	}
	// Bridges are built without Hub.mu: building one reads the store, and
	// every user's operations need the lock. A network another call
	// started meanwhile keeps its runner; a bridge does nothing until it
	// runs, so the spare one is dropped.
	h.mu.Lock()
	var start []Network
	for _, n := range nets {
		if _, running := h.runners[n.ID]; running {
			continue
		}
		if old, ok := h.unstartable[n.ID]; ok && sameNetwork(old, n) {
			continue
		}
		start = append(start, n)
	}
	h.mu.Unlock()
	var errs []error
	for _, n := range start {
		b, log, err := h.buildBridge(ctx, n)
		h.mu.Lock()
		switch {
		case h.closing():
			h.mu.Unlock()
			return ErrHubClosed
		case err != nil:
			h.unstartable[n.ID] = n
			errs = append(errs, fmt.Errorf("network %q: %w", n.Name, err))
		default:
			delete(h.unstartable, n.ID)
			if _, running := h.runners[n.ID]; !running {
				r := newRunner(h, n, b, log)
				h.runners[n.ID] = r
				r.start(h.userLocked(n.User).status)
			}
		}
		h.mu.Unlock()
	}
	return errors.Join(errs...)
}

func sameNetwork(a, b Network) bool {
	if a.User != b.User || a.Name != b.Name || a.Kind != b.Kind || a.Enabled != b.Enabled || len(a.Settings) != len(b.Settings) {
		return false
	}
	for k, v := range a.Settings {
		if b.Settings[k] != v {
			return false
		}
	}
	return true
}

// buildBridge makes the bridge for n; it does not start it.
func (h *Hub) buildBridge(ctx context.Context, n Network) (Bridge, *slog.Logger, error) {
	kind, ok := h.cfg.Bridges.Lookup(n.Kind)
	if !ok {
		return nil, nil, fmt.Errorf("no bridge for kind %q in this build", n.Kind)
	}
	u, err := h.cfg.Store.User(ctx, n.User)
	if err != nil {
		return nil, nil, fmt.Errorf("loading user %d: %w", n.User, err)
	}
	log := h.log.With("user", u.Name, "network", n.Name, "kind", string(n.Kind))
	var rooms []SavedRoom
	if h.cfg.Rooms != nil {
		if rooms, err = h.cfg.Rooms.SavedRooms(ctx, n.ID); err != nil {
			return nil, nil, err
		}
	}
	b, err := kind.New(BridgeEnv{
		User:    u,
		Network: n,
		Inbound: &bridgeInbound{hub: h, user: n.User, network: n.ID},
		History: h.cfg.History,
		Rooms:   rooms,
		Log:     log,
	})
	if err != nil {
		return nil, nil, err
	}
	return b, log, nil
}

// Attach connects a device session for user. device is the client's name
// for itself, kept for read markers and logs.
func (h *Hub) Attach(ctx context.Context, user UserID, device string) (*Session, error) {
	h.mu.Lock()
	if h.closing() {
		h.mu.Unlock()
		return nil, ErrHubClosed
	}
	h.nextSession++
	s := newSession(h, h.nextSession, user, device)
	h.mu.Unlock()
	if err := h.post(ctx, user, &op{kind: opAttach, session: s}); err != nil {
		return nil, err
	}
	return s, nil
}

// Send stores an outgoing message from a session, queues it for its
// network and sends a carbon to the user's other sessions. It returns the
// stored message once it is durable. A message whose OriginID the
// conversation already holds is not sent again: m comes back with the
// stored message's ID, which makes client retries safe.
func (h *Hub) Send(ctx context.Context, s *Session, m *Message) (*Message, error) {
	m.User = s.User
	m.Direction = Outgoing
	if m.Time.IsZero() {
		m.Time = h.cfg.Now()
	}
	r, err := h.userRunner(s.User, m.Network)
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if _, ok := r.bridge.(RoomReactor); !ok && m.Kind == KindReaction && m.Peer.Kind == Room {
		return nil, fmt.Errorf("network %q: %w", r.network.Name, ErrCannotReact)
	}
	o := &op{kind: opSend, session: s, writes: []Write{{Message: m, Outbound: true}}}
	if err := h.post(ctx, s.User, o); err != nil {
		return nil, err
	}
	return o.writes[0].Message, nil
}

// ParsePeer reads a remote name of a network of kind as its bridge files
// conversations (see BridgeKind.ParsePeer).
func (h *Hub) ParsePeer(kind NetworkKind, remote string) Peer {
	if k, ok := h.cfg.Bridges.Lookup(kind); ok && k.ParsePeer != nil {
		return k.ParsePeer(remote)
	}
	return Peer{Kind: Direct, Remote: remote}
}

// userRunner is the runner of one of user's running networks: no session
// or device reaches another user's network through it.
func (h *Hub) userRunner(user UserID, network NetworkID) (*runner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r, ok := h.runners[network]; ok && r.network.User == user {
		return r, nil
	}
	return nil, fmt.Errorf("network %d: not one of this user's running networks", network)
}

// SetStatus records a session's status; the user's status on every network
// becomes the most available status among their sessions.
func (h *Hub) SetStatus(ctx context.Context, s *Session, st Status) error {
	return h.post(ctx, s.User, &op{kind: opStatus, session: s, status: st})
}

// Typing forwards the user's typing notification to the network and to the
// user's other sessions.
func (h *Hub) Typing(ctx context.Context, s *Session, e TypingEvent) error {
	e.User, e.Direction, e.From = s.User, Outgoing, s.ID
	if _, err := h.userRunner(s.User, e.Network); err != nil {
		return err
	}
	return h.post(ctx, s.User, &op{kind: opEvents, events: []Event{e}})
}

// MarkRead stores a read position and shows it on every session.
func (h *Hub) MarkRead(ctx context.Context, s *Session, m ReadMarker) error {
	m.User = s.User
	if m.At.IsZero() {
		m.At = h.cfg.Now()
	}
	return h.post(ctx, s.User, &op{kind: opMarker, session: s, marker: m})
}

// NetworkStates returns the last known connection state of each of user's
// running networks, for a session that just attached.
func (h *Hub) NetworkStates(user UserID) []NetworkStateEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []NetworkStateEvent
	for _, r := range h.runners {
		if r.network.User == user {
			out = append(out, r.state())
		}
	}
	return out
}

func (h *Hub) closing() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

// bridgeInbound is the Inbound handed to one bridge.
type bridgeInbound struct {
	hub     *Hub
	user    UserID
	network NetworkID
}

func (b *bridgeInbound) Receive(ctx context.Context, events ...Event) error {
	_, err := b.receive(ctx, events)
	return err
}

var _ DuplicateReporter = (*bridgeInbound)(nil)

// ReceiveReporting is Receive that reports which messages were duplicates.
func (b *bridgeInbound) ReceiveReporting(ctx context.Context, events ...Event) ([]bool, error) {
	o, err := b.receive(ctx, events)
	if err != nil {
		return nil, err
	}
	dup := make([]bool, len(events))
	for i, e := range o.events {
		if me, ok := e.(MessageEvent); ok {
			if w := findWrite(o.writes, me.Message); w != nil {
				dup[i] = w.Duplicate
			}
		}
	}
	return dup, nil
}

func (b *bridgeInbound) receive(ctx context.Context, events []Event) (*op, error) {
	o := &op{kind: opEvents, events: make([]Event, 0, len(events))}
	for _, e := range events {
		e = b.stamp(e)
		if me, ok := e.(MessageEvent); ok {
			if err := me.Message.Validate(); err != nil {
				return nil, err
			}
			o.writes = append(o.writes, Write{Message: me.Message})
		}
		if se, ok := e.(NetworkStateEvent); ok {
			b.hub.noteState(se)
		}
		o.events = append(o.events, e)
	}
	return o, b.hub.post(ctx, b.user, o)
}

// stamp overwrites the user and network of e with the bridge's own.
func (b *bridgeInbound) stamp(e Event) Event {
	switch e := e.(type) {
	case MessageEvent:
		// Bridges name conversations by Peer; a conversation id could
		// point into another network.
		e.Message.User, e.Message.Network, e.Message.Conversation, e.From = b.user, b.network, 0, 0
		return e
	case PresenceEvent:
		e.User, e.Network = b.user, b.network
		return e
	case TypingEvent:
		e.User, e.Network, e.From = b.user, b.network, 0
		return e
	case MembershipEvent:
		e.User, e.Network = b.user, b.network
		return e
	case TopicEvent:
		e.User, e.Network = b.user, b.network
		return e
	case RoomMembersEvent:
		e.User, e.Network = b.user, b.network
		return e
	case ContactsEvent:
		e.User, e.Network = b.user, b.network
		return e
	case ContactEvent:
		e.User, e.Network = b.user, b.network
		return e
	case SubscriptionEvent:
		e.User, e.Network = b.user, b.network
		return e
	case NetworkStateEvent:
		e.User, e.Network = b.user, b.network
		if e.At.IsZero() {
			e.At = b.hub.cfg.Now()
		}
		return e
	case SendFailedEvent:
		// A bridge that queues messages itself (fed) learns of a failure
		// after Send returned; it can only tell its own user.
		e.User = b.user
		return e
	case DeliveredEvent:
		e.User = b.user
		return e
	case PeerReadEvent:
		e.User, e.Network = b.user, b.network
		return e
	}
	// Status and read markers come from the Hub itself.
	return unsupportedEvent{user: b.user, inner: e}
}

// unsupportedEvent wraps an event a bridge may not send; the dispatcher
// logs and drops it.
type unsupportedEvent struct {
	user  UserID
	inner Event
}

func (e unsupportedEvent) EventUser() UserID { return e.user }

func (h *Hub) noteState(e NetworkStateEvent) {
	h.mu.Lock()
	r := h.runners[e.Network]
	h.mu.Unlock()
	if r != nil {
		r.setState(e)
	}
}
