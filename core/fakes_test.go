package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// waitTimeout bounds every wait in these tests, so none can hang.
const waitTimeout = 2 * time.Second

// watch is the mutex of a fake plus a way to wait, without sleeping, until
// the state it guards satisfies a condition.
type watch struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced on every change
}

// changedLocked wakes every waiter; w.mu must be held.
func (w *watch) changedLocked() {
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// await waits until cond, called with w.mu held, reports true.
func (w *watch) await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		ok := cond()
		if w.ch == nil {
			w.ch = make(chan struct{})
		}
		ch := w.ch
		w.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-timer.C:
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		}
	}
}

// memStore is an in-memory Store with the semantics the Hub relies on.
type memStore struct {
	watch
	last      MessageID
	messages  map[MessageID]Message
	convs     map[convKey]ConversationID
	convOwner map[ConversationID]UserID
	origins   map[originKey]MessageID
	queue     []OutboundItem
	nextItem  int64
	queued    []MessageID          // every message ever queued outbound
	completed map[MessageID]string // message -> the network's origin id
	failed    map[MessageID]string // message -> cause
	markers   map[markerKey]MessageID
	users     map[UserID]User
	networks  map[NetworkID]Network
	rooms     map[NetworkID][]SavedRoom // RoomMemory, in join order

	pendingCalls  int
	appendGate    chan struct{} // when set, Append waits for it before committing
	appendWaiting int
}

type convKey struct {
	network NetworkID
	remote  string
}

type originKey struct {
	network        NetworkID
	remote, origin string
}

type markerKey struct {
	user   UserID
	conv   ConversationID
	device string
}

var _ Store = (*memStore)(nil)

func newMemStore() *memStore {
	return &memStore{
		messages:  make(map[MessageID]Message),
		convs:     make(map[convKey]ConversationID),
		convOwner: make(map[ConversationID]UserID),
		origins:   make(map[originKey]MessageID),
		completed: make(map[MessageID]string),
		failed:    make(map[MessageID]string),
		markers:   make(map[markerKey]MessageID),
		users:     make(map[UserID]User),
		networks:  make(map[NetworkID]Network),
		rooms:     make(map[NetworkID][]SavedRoom),
	}
}

var _ RoomMemory = (*memStore)(nil)

func (s *memStore) SavedRooms(ctx context.Context, network NetworkID) ([]SavedRoom, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.rooms[network]), nil
}

func (s *memStore) SaveRoom(ctx context.Context, network NetworkID, r SavedRoom) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, old := range s.rooms[network] {
		if old.Room == r.Room {
			if r.Key != "" {
				s.rooms[network][i].Key = r.Key
			}
			return nil
		}
	}
	s.rooms[network] = append(s.rooms[network], r)
	return nil
}

func (s *memStore) ForgetRoom(ctx context.Context, network NetworkID, room string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rooms[network] = slices.DeleteFunc(s.rooms[network], func(r SavedRoom) bool { return r.Room == room })
	return nil
}

func (s *memStore) Append(ctx context.Context, writes []Write) error {
	s.mu.Lock()
	gate := s.appendGate
	if gate != nil {
		s.appendWaiting++
		s.changedLocked()
	}
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Check everything first so that a failed Append changes nothing.
	for _, w := range writes {
		m := w.Message
		if n, ok := s.networks[m.Network]; !ok || n.User != m.User {
			return fmt.Errorf("network %d of user %d: not found", m.Network, m.User)
		}
		if m.Conversation != 0 && s.convOwner[m.Conversation] != m.User {
			return fmt.Errorf("conversation %d: not found", m.Conversation)
		}
	}
	for i := range writes {
		w := &writes[i]
		m := w.Message
		if m.Conversation == 0 {
			k := convKey{m.Network, m.Peer.Remote}
			c, ok := s.convs[k]
			if !ok {
				c = ConversationID(len(s.convs) + 1)
				s.convs[k] = c
				s.convOwner[c] = m.User
			}
			m.Conversation = c
		}
		ok := originKey{m.Network, m.Peer.Remote, m.OriginID}
		if m.OriginID != "" {
			if id, dup := s.origins[ok]; dup {
				m.ID, w.Duplicate = id, true
				continue
			}
		}
		s.last = NextMessageID(s.last, time.Now())
		m.ID = s.last
		s.messages[m.ID] = *m
		if m.OriginID != "" {
			s.origins[ok] = m.ID
		}
		if w.Outbound {
			s.nextItem++
			cp := *m
			s.queue = append(s.queue, OutboundItem{ID: s.nextItem, Message: &cp})
			s.queued = append(s.queued, m.ID)
		}
	}
	s.changedLocked()
	return nil
}

func (s *memStore) SetReadMarker(ctx context.Context, m ReadMarker) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.convOwner[m.Conversation] != m.User {
		return false, fmt.Errorf("conversation %d: not found", m.Conversation)
	}
	k := markerKey{m.User, m.Conversation, m.Device}
	if s.markers[k] >= m.Upto {
		return false, nil
	}
	s.markers[k] = m.Upto
	s.changedLocked()
	return true, nil
}

func (s *memStore) PendingOutbound(ctx context.Context, network NetworkID, limit int) ([]OutboundItem, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pendingCalls++
	s.changedLocked()
	var out []OutboundItem
	for _, it := range s.queue {
		if it.Message.Network == network && len(out) < limit {
			cp := *it.Message
			it.Message = &cp
			out = append(out, it)
		}
	}
	return out, nil
}

func (s *memStore) itemLocked(item int64) (int, error) {
	i := slices.IndexFunc(s.queue, func(it OutboundItem) bool { return it.ID == item })
	if i < 0 {
		return 0, fmt.Errorf("outbound item %d: not found", item)
	}
	return i, nil
}

func (s *memStore) CompleteOutbound(ctx context.Context, item int64, originID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.itemLocked(item)
	if err != nil {
		return err
	}
	m := s.queue[i].Message
	s.queue = slices.Delete(s.queue, i, i+1)
	s.completed[m.ID] = originID
	if k := (originKey{m.Network, m.Peer.Remote, originID}); originID != "" {
		if _, taken := s.origins[k]; !taken {
			s.origins[k] = m.ID
		}
	}
	s.changedLocked()
	return nil
}

func (s *memStore) RetryOutbound(ctx context.Context, item int64, next time.Time, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.itemLocked(item)
	if err != nil {
		return err
	}
	it := &s.queue[i]
	it.Attempts++
	it.NextAttempt, it.LastError = next, cause
	s.changedLocked()
	return nil
}

func (s *memStore) FailOutbound(ctx context.Context, item int64, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, err := s.itemLocked(item)
	if err != nil {
		return err
	}
	s.failed[s.queue[i].Message.ID] = cause
	s.queue = slices.Delete(s.queue, i, i+1)
	s.changedLocked()
	return nil
}

func (s *memStore) User(ctx context.Context, id UserID) (User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[id]
	if !ok {
		return User{}, fmt.Errorf("user %d: not found", id)
	}
	return u, nil
}

func (s *memStore) EnabledNetworks(ctx context.Context) ([]Network, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Network
	for _, n := range s.networks {
		if n.Enabled {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b Network) int { return int(a.ID - b.ID) })
	return out, nil
}

// Helpers for tests.

func (s *memStore) has(id MessageID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.messages[id]
	return ok
}

func (s *memStore) message(id MessageID) (Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.messages[id]
	return m, ok
}

func (s *memStore) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.messages)
}

func (s *memStore) setNetwork(n Network) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.networks[n.ID] = n
}

func (s *memStore) removeNetwork(id NetworkID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.networks, id)
}

// pending returns the queued item of message id.
func (s *memStore) pending(id MessageID) (OutboundItem, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, it := range s.queue {
		if it.Message.ID == id {
			return it, true
		}
	}
	return OutboundItem{}, false
}

// fakeBridge records what the Hub asks of it.
type fakeBridge struct {
	watch
	env  BridgeEnv
	fail chan error // Run returns what is sent here

	running, stopped bool
	runCtxErr        error // ctx.Err() when Run returned

	sendErr    error       // returned by Send while set
	attempts   []MessageID // every Send call
	sent       []Message   // successful sends, in order
	statuses   []Status
	typing     []TypingEvent
	reads      []ReadMarker  // hub_fed_test.go
	roomOps    []string      // "join #room key", "leave #room reason"
	contactOps []string      // contacts_test.go
	joinErr    error         // returned by JoinRoom while set
	joinAnswer chan struct{} // JoinRoom returns once it is closed
	// lastWords are handed to the Hub when Run is stopped, as a network
	// says goodbye; lastWordsErr is what the Hub answered.
	lastWords    []Event
	lastWordsErr error
}

var (
	_ Bridge       = (*fakeBridge)(nil)
	_ TypingSender = (*fakeBridge)(nil)
	_ RoomJoiner   = (*fakeBridge)(nil)
)

func (b *fakeBridge) JoinRoom(ctx context.Context, room, key string) error {
	b.mu.Lock()
	b.roomOps = append(b.roomOps, "join "+room+" "+key)
	b.changedLocked()
	err, answer := b.joinErr, b.joinAnswer
	b.mu.Unlock()
	if answer != nil {
		<-answer // the network's answer, when the test gives it
	}
	return err
}

func (b *fakeBridge) LeaveRoom(ctx context.Context, room, reason string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.roomOps = append(b.roomOps, "leave "+room+" "+reason)
	b.changedLocked()
	return nil
}

func (b *fakeBridge) Run(ctx context.Context) error {
	b.mu.Lock()
	b.running = true
	b.changedLocked()
	b.mu.Unlock()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-b.fail:
	}
	b.mu.Lock()
	last := b.lastWords
	b.mu.Unlock()
	if len(last) > 0 && ctx.Err() != nil {
		lerr := b.env.Inbound.Receive(context.Background(), last...)
		b.mu.Lock()
		b.lastWordsErr = lerr
		b.mu.Unlock()
	}
	b.mu.Lock()
	b.running, b.stopped, b.runCtxErr = false, true, ctx.Err()
	b.changedLocked()
	b.mu.Unlock()
	return err
}

func (b *fakeBridge) Send(ctx context.Context, m *Message) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer b.changedLocked()
	b.attempts = append(b.attempts, m.ID)
	if b.sendErr != nil {
		return "", b.sendErr
	}
	b.sent = append(b.sent, *m)
	return fmt.Sprintf("net-%d", len(b.sent)), nil
}

func (b *fakeBridge) SetStatus(ctx context.Context, s Status) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.statuses = append(b.statuses, s)
	b.changedLocked()
	return nil
}

func (b *fakeBridge) SendTyping(ctx context.Context, e TypingEvent) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.typing = append(b.typing, e)
	b.changedLocked()
	return nil
}

func (b *fakeBridge) SendReadMarker(ctx context.Context, m ReadMarker) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reads = append(b.reads, m)
	b.changedLocked()
	return nil
}

func (b *fakeBridge) setSendErr(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.sendErr = err
}

// receive hands events to the Hub as the bridge would.
func (b *fakeBridge) receive(t testing.TB, events ...Event) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := b.env.Inbound.Receive(ctx, events...); err != nil {
		t.Fatalf("Receive: %v", err)
	}
}

func (b *fakeBridge) awaitSent(t testing.TB, id MessageID) {
	t.Helper()
	b.await(t, fmt.Sprintf("the bridge to send message %v", id), func() bool {
		return slices.ContainsFunc(b.sent, func(m Message) bool { return m.ID == id })
	})
}

func (b *fakeBridge) awaitStatus(t testing.TB, want Status) {
	t.Helper()
	b.await(t, fmt.Sprintf("the bridge's status to become %+v", want), func() bool {
		return len(b.statuses) > 0 && b.statuses[len(b.statuses)-1] == want
	})
}

func (b *fakeBridge) awaitStopped(t testing.TB) {
	t.Helper()
	b.await(t, "the bridge's Run to return", func() bool { return b.stopped })
}

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var errTest = errors.New("test error")

// CompleteOutboundBatch makes memStore an OutboundBatchCompleter.
func (s *memStore) CompleteOutboundBatch(ctx context.Context, items []int64, originIDs []string) error {
	for i, item := range items {
		if err := s.CompleteOutbound(ctx, item, originIDs[i]); err != nil {
			return err
		}
	}
	return nil
}
