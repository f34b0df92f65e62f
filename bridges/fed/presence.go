package fed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
)

var metricPresence = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "switchboard_fed_presence_updates_total",
	Help: "Federation presence updates and probes: sent, failed or dropped (too many in flight) on the way out, received on the way in.",
}, []string{"result"})

func init() { prometheus.MustRegister(metricPresence) }

// Presence over federation (docs/federation.md, section 4.2). The
// subscription handshake (subscribe, allow, deny, cancel) travels as
// events of POST events, through the durable per-peer queue, so an answer
// given while the peer is down still arrives, in order with the messages.
// Presence updates and probes are ephemeral: POST presence, best effort,
// to the contacts allowed to see them.

// Subscription event types.
const (
	TypeSubscribe = "subscribe" // the sender asks to see the recipient's presence
	TypeAllow     = "allow"     // the sender lets the recipient see its presence
	TypeDeny      = "deny"      // the sender refuses or revokes the recipient's subscription
	TypeCancel    = "cancel"    // the sender no longer follows the recipient's presence
)

// Presence update types.
const (
	TypePresence = "presence" // the sender's availability
	TypeProbe    = "probe"    // the sender asks for the recipient's current presence
)

// Limits of presence.
const (
	// MaxStatusBytes bounds a status text and a request's text.
	MaxStatusBytes = 1024
	// MaxPendingRequests bounds the unanswered subscription requests a
	// user keeps; more are rejected, so a hostile peer cannot fill the
	// store with requests from made-up users.
	MaxPendingRequests = 100
	// maxPresenceSends bounds the presence requests in flight; more are
	// dropped, as presence is best effort.
	maxPresenceSends = 32
	presenceTimeout  = 10 * time.Second
	// offlineTimeout bounds the offline presence a stopping network sends.
	offlineTimeout = 3 * time.Second
)

func isSubscription(typ string) bool {
	switch typ {
	case TypeSubscribe, TypeAllow, TypeDeny, TypeCancel:
		return true
	}
	return false
}

// PresenceUpdate is one entry of POST presence.
type PresenceUpdate struct {
	Type   string    `json:"type"`
	From   string    `json:"from"`
	To     string    `json:"to"`
	Time   time.Time `json:"time"`
	Show   string    `json:"show,omitempty"`
	Status string    `json:"status,omitempty"`
}

// PresenceBatch is the body of POST presence.
type PresenceBatch struct {
	Updates []PresenceUpdate `json:"updates"`
}

// PresenceResult is the receiver's answer for one update.
type PresenceResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// PresenceResults is the body of the answer to POST presence.
type PresenceResults struct {
	Results []PresenceResult `json:"results"`
}

// DecodePresence parses and checks the body of POST presence: 1 to
// MaxBatch updates, each with valid addresses, a time, and a type, show
// and status text that fit it.
func DecodePresence(body []byte) (PresenceBatch, error) {
	var b PresenceBatch
	if err := decodeStrict(body, &b); err != nil {
		return PresenceBatch{}, err
	}
	if len(b.Updates) == 0 || len(b.Updates) > MaxBatch {
		return PresenceBatch{}, fmt.Errorf("%w: %d updates; want 1 to %d", ErrMalformed, len(b.Updates), MaxBatch)
	}
	for i := range b.Updates {
		if err := b.Updates[i].check(); err != nil {
			return PresenceBatch{}, fmt.Errorf("%w: update %d: %v", ErrMalformed, i, err)
		}
	}
	return b, nil
}

// decodeStrict decodes one JSON value of at most MaxRequestBytes.
func decodeStrict(body []byte, v any) error {
	if len(body) > MaxRequestBytes {
		return fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	return nil
}

func (u *PresenceUpdate) check() error {
	from, err := ParseAddress(u.From)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	to, err := ParseAddress(u.To)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	u.From, u.To = from.String(), to.String()
	if u.Time.IsZero() {
		return errors.New("time: missing")
	}
	switch u.Type {
	case TypePresence:
		if _, ok := core.ParseShow(u.Show); !ok {
			return fmt.Errorf("show %q: want available, away, xa, dnd, chat or offline", u.Show)
		}
	case TypeProbe:
		if u.Show != "" || u.Status != "" {
			return errors.New("a probe has no show or status")
		}
	default:
		return fmt.Errorf("type %q: want presence or probe", u.Type)
	}
	if len(u.Status) > MaxStatusBytes {
		return fmt.Errorf("status of %d bytes exceeds %d", len(u.Status), MaxStatusBytes)
	}
	return nil
}

// presenceState is what a user's bridge knows of presence.
type presenceState struct {
	mu     sync.Mutex
	status core.Status
	// unsent is set while status waits for the sender; sending is
	// closed when the user's sender goroutine ends, nil while none runs.
	unsent  bool
	sending chan struct{}
	// seen is the time of the last presence of each contact, so an update
	// overtaken by a newer one is dropped; it holds only contacts the
	// user follows.
	seen map[string]time.Time
}

func (b *bridge) currentStatus() core.Status {
	b.pres.mu.Lock()
	defer b.pres.mu.Unlock()
	return b.pres.status
}

// SetStatus sends the user's presence to every contact allowed to see it.
func (b *bridge) SetStatus(_ context.Context, st core.Status) error {
	b.queueStatus(st)
	return nil
}

// queueStatus records st and has the user's one sender goroutine send
// it: statuses go out in order, a status superseded before it went out
// is skipped, and a slow peer delays neither the Hub nor other users.
// It returns a channel closed once the sender is done.
func (b *bridge) queueStatus(st core.Status) <-chan struct{} {
	b.pres.mu.Lock()
	defer b.pres.mu.Unlock()
	b.pres.status, b.pres.unsent = st, true
	if b.pres.sending == nil {
		done := make(chan struct{})
		b.pres.sending = done
		go b.sendStatuses(done)
	}
	return b.pres.sending
}

func (b *bridge) sendStatuses(done chan struct{}) {
	defer close(done)
	for {
		b.pres.mu.Lock()
		if !b.pres.unsent {
			b.pres.sending = nil
			b.pres.mu.Unlock()
			return
		}
		st := b.pres.status
		b.pres.unsent = false
		b.pres.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), presenceTimeout)
		if err := b.broadcast(ctx, st, true); err != nil {
			b.env.Log.Warn("sending presence", "show", st.Show, "err", err)
		}
		cancel()
	}
}

// broadcast sends st to the user's subscribers; with wait it returns
// once every peer answered (or ctx ended), else sends in the background.
func (b *bridge) broadcast(ctx context.Context, st core.Status, wait bool) error {
	if b.svc.contacts == nil {
		return nil
	}
	list, err := b.svc.contacts.FedContacts(ctx, b.env.User.ID)
	if err != nil {
		return fmt.Errorf("reading the contacts to send presence to: %w", err)
	}
	blocked, err := b.svc.blockedBy(ctx, b.env.User.ID)
	if err != nil {
		return err
	}
	var ups []PresenceUpdate
	for _, c := range list {
		if c.From && !isBlocked(blocked, c.Addr) {
			ups = append(ups, b.presenceTo(c.Addr, st))
		}
	}
	b.svc.pushPresence(ctx, ups, wait)
	return nil
}

func (b *bridge) presenceTo(addr string, st core.Status) PresenceUpdate {
	text := st.Text
	if len(text) > MaxStatusBytes {
		text = truncateUTF8(text, MaxStatusBytes)
	}
	return PresenceUpdate{Type: TypePresence, From: b.self.String(), To: addr, Time: b.svc.now().UTC(), Show: st.Show.String(), Status: text}
}

func truncateUTF8(s string, n int) string {
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// started announces the stored contact list and unanswered requests, and
// asks the contacts the user follows for their current presence.
func (b *bridge) started(ctx context.Context) {
	if b.svc.contacts == nil {
		return
	}
	list, err := b.svc.contacts.FedContacts(ctx, b.env.User.ID)
	if err != nil {
		if ctx.Err() == nil { // stopped as it started: no fault
			b.env.Log.Warn("reading the federation contacts", "err", err)
		}
		return
	}
	events := []core.Event{core.ContactsEvent{}}
	all := core.ContactsEvent{Contacts: []core.Contact{}}
	var probes []PresenceUpdate
	for _, c := range list {
		if c.Listed {
			all.Contacts = append(all.Contacts, contactOf(c))
		}
		if c.Pending {
			events = append(events, core.SubscriptionEvent{Contact: c.Addr, Kind: core.SubscribeRequest, Text: c.PendingText})
		}
		if c.To {
			probes = append(probes, PresenceUpdate{Type: TypeProbe, From: b.self.String(), To: c.Addr, Time: b.svc.now().UTC()})
		}
	}
	events[0] = all
	if err := b.env.Inbound.Receive(ctx, events...); err != nil && ctx.Err() == nil {
		b.env.Log.Warn("announcing the federation contacts", "err", err)
	}
	// Waiting for room, not dropped, when many users start at once; in
	// the background, so a peer that is down delays nothing else.
	go b.svc.pushPresence(ctx, probes, true)
}

// stopped tells the subscribers the user went offline, waiting no more
// than offlineTimeout.
func (b *bridge) stopped() {
	t := time.NewTimer(offlineTimeout)
	defer t.Stop()
	select {
	case <-b.queueStatus(core.Status{Show: core.ShowOffline}):
	case <-t.C:
	}
}

func contactOf(c core.FedContact) core.Contact {
	return core.Contact{Addr: c.Addr, Name: c.Name, Groups: c.Groups, Subscription: c.Subscription(), Asked: c.Ask}
}

var errNoContactStore = errors.New("this server keeps no federation contact lists")

// contactAddr checks an address a device names; a bad one is a
// permanent error (the HTTP API answers 422).
func (b *bridge) contactAddr(addr string) (Address, error) {
	a, err := ParseAddress(addr)
	if err != nil {
		return Address{}, core.Permanent(err)
	}
	if a == b.self {
		return Address{}, core.Permanent(errors.New("one's own address is not a contact"))
	}
	if b.svc.contacts == nil {
		return Address{}, core.Permanent(errNoContactStore)
	}
	return a, nil
}

// change applies f to the user's entry for addr under the Service's
// contact lock and stores the result; it returns the entry before and
// after. The lock is not held while anything is sent.
func (s *Service) change(ctx context.Context, user core.UserID, addr string, f func(c *core.FedContact) error) (before, after core.FedContact, err error) {
	s.contactsMu.Lock()
	defer s.contactsMu.Unlock()
	c, ok, err := s.contacts.FedContact(ctx, user, addr)
	if err != nil {
		return c, c, err
	}
	if !ok {
		c = core.FedContact{Addr: addr}
	}
	before = c
	if err := f(&c); err != nil {
		return before, before, err
	}
	if sameContact(before, c) {
		return before, c, nil
	}
	return before, c, s.contacts.PutFedContact(ctx, user, c)
}

func sameContact(a, b core.FedContact) bool {
	return a.Addr == b.Addr && a.Name == b.Name && strings.Join(a.Groups, "\x00") == strings.Join(b.Groups, "\x00") &&
		len(a.Groups) == len(b.Groups) && a.Listed == b.Listed && a.To == b.To && a.From == b.From && a.Ask == b.Ask &&
		a.Pending == b.Pending && a.PendingText == b.PendingText && a.Preapproved == b.Preapproved
}

// contactChanged tells the user's devices how the entry changed.
func (b *bridge) contactChanged(ctx context.Context, before, after core.FedContact, more ...core.Event) {
	var events []core.Event
	switch {
	case after.Listed && !sameContact(before, after):
		events = append(events, core.ContactEvent{Contact: contactOf(after)})
	case before.Listed && !after.Listed:
		events = append(events, core.ContactEvent{Contact: contactOf(before), Removed: true})
	}
	events = append(events, more...)
	if len(events) == 0 {
		return
	}
	if err := b.env.Inbound.Receive(ctx, events...); err != nil && ctx.Err() == nil && !errors.Is(err, core.ErrHubClosed) {
		b.env.Log.Warn("telling devices of a contact change", "contact", after.Addr, "err", err)
	}
}

// changeOwn applies a device's change f to the user's entry for addr.
func (b *bridge) changeOwn(ctx context.Context, addr string, f func(fc *core.FedContact)) (a Address, before, after core.FedContact, err error) {
	if a, err = b.contactAddr(addr); err != nil {
		return a, before, after, err
	}
	before, after, err = b.svc.change(ctx, b.env.User.ID, a.String(), func(fc *core.FedContact) error {
		f(fc)
		return nil
	})
	return a, before, after, err
}

// goneOffline is the offline presence devices are shown for a contact
// the user followed before.
func goneOffline(before core.FedContact) []core.Event {
	if !before.To {
		return nil
	}
	return []core.Event{core.PresenceEvent{Contact: before.Addr, Status: core.Status{Show: core.ShowOffline}}}
}

// SetContact adds the contact to the list or changes its name and groups.
func (b *bridge) SetContact(ctx context.Context, c core.Contact) error {
	_, before, after, err := b.changeOwn(ctx, c.Addr, func(fc *core.FedContact) {
		fc.Listed, fc.Name, fc.Groups = true, c.Name, c.Groups
	})
	if err != nil {
		return err
	}
	b.contactChanged(ctx, before, after)
	return nil
}

// RemoveContact removes the contact, ending both subscriptions.
func (b *bridge) RemoveContact(ctx context.Context, addr string) error {
	a, before, after, err := b.changeOwn(ctx, addr, func(fc *core.FedContact) { *fc = core.FedContact{Addr: fc.Addr} })
	if err != nil {
		return err
	}
	if before.To || before.Ask {
		if err := b.sendSubscription(ctx, TypeCancel, a, ""); err != nil {
			return err
		}
	}
	if before.From || before.Pending {
		if err := b.sendSubscription(ctx, TypeDeny, a, ""); err != nil {
			return err
		}
	}
	b.contactChanged(ctx, before, after, goneOffline(before)...)
	return nil
}

// Subscribe asks the contact to let the user see its presence.
func (b *bridge) Subscribe(ctx context.Context, addr string) error {
	a, before, after, err := b.changeOwn(ctx, addr, func(fc *core.FedContact) { fc.Listed, fc.Ask = true, !fc.To })
	if err != nil {
		return err
	}
	// Sent even when already allowed: a peer that lost its list answers
	// again.
	if err := b.sendSubscription(ctx, TypeSubscribe, a, ""); err != nil {
		return err
	}
	b.contactChanged(ctx, before, after)
	return nil
}

// Unsubscribe stops following the contact's presence.
func (b *bridge) Unsubscribe(ctx context.Context, addr string) error {
	a, before, after, err := b.changeOwn(ctx, addr, func(fc *core.FedContact) { fc.To, fc.Ask = false, false })
	if err != nil {
		return err
	}
	if err := b.sendSubscription(ctx, TypeCancel, a, ""); err != nil {
		return err
	}
	b.contactChanged(ctx, before, after, goneOffline(before)...)
	return nil
}

// AnswerSubscription lets the contact see the user's presence, or
// refuses its request, or revokes what was allowed. Approving before the
// contact asked approves its request in advance.
func (b *bridge) AnswerSubscription(ctx context.Context, addr string, approve bool) error {
	a, before, after, err := b.changeOwn(ctx, addr, func(fc *core.FedContact) {
		switch {
		case approve && (fc.Pending || fc.From):
			fc.From, fc.Pending, fc.PendingText, fc.Listed, fc.Preapproved = true, false, "", true, false
		case approve:
			fc.Preapproved = true
		default:
			fc.From, fc.Pending, fc.PendingText, fc.Preapproved = false, false, "", false
		}
	})
	if err != nil {
		return err
	}
	switch {
	case after.From:
		if err := b.sendSubscription(ctx, TypeAllow, a, ""); err != nil {
			return err
		}
		b.svc.pushPresence(ctx, []PresenceUpdate{b.presenceTo(a.String(), b.currentStatus())}, false)
	case before.From || before.Pending:
		if err := b.sendSubscription(ctx, TypeDeny, a, ""); err != nil {
			return err
		}
	}
	b.contactChanged(ctx, before, after)
	return nil
}

// sendSubscription sends a subscription event from the user to a: to
// its queue for another domain, in-process for this one.
func (b *bridge) sendSubscription(ctx context.Context, typ string, to Address, text string) error {
	var id [16]byte
	_, _ = rand.Read(id[:])
	ev := Event{ID: "s-" + hex.EncodeToString(id[:]), Type: typ, From: b.self.String(), To: to.String(), Time: b.svc.now().UTC(), Body: text}
	if to.Domain != b.svc.domain {
		if b.svc.queue == nil {
			return core.Permanent(fmt.Errorf("%s: federation with other domains is not enabled on this server", to.Domain))
		}
		if _, err := b.svc.peer(to.Domain); err != nil {
			return core.Permanent(err)
		}
		payload, err := json.Marshal(ev)
		if err != nil {
			return err
		}
		q := core.FedQueued{Peer: to.Domain, EventID: ev.ID, User: b.env.User.ID, Payload: payload, Created: b.svc.now()}
		return b.svc.enqueueAll(ctx, []core.FedQueued{q})
	}
	results, err := b.svc.receive(ctx, b.svc.domain, []Event{ev})
	if err != nil {
		return err
	}
	if r := results[0]; r.Status == StatusRejected {
		b.svc.subscriptionFailed(ctx, b, ev, r.Error)
		return core.Permanent(fmt.Errorf("%s refused the %s: %s", to, typ, r.Error))
	}
	return nil
}

// subscriptionFailed undoes the user's request whose event failed, so it
// does not show as asked for ever.
func (s *Service) subscriptionFailed(ctx context.Context, b *bridge, ev Event, reason string) {
	s.log.Info("subscription event failed", "from", ev.From, "to", ev.To, "type", ev.Type, "reason", reason)
	if ev.Type != TypeSubscribe || s.contacts == nil {
		return
	}
	before, after, err := s.change(ctx, b.env.User.ID, ev.To, func(fc *core.FedContact) error {
		fc.Ask = false
		return nil
	})
	if err != nil {
		s.log.Warn("clearing a failed subscription request", "contact", ev.To, "err", err)
		return
	}
	b.contactChanged(ctx, before, after, core.SubscriptionEvent{Contact: ev.To, Kind: core.Unsubscribed, Text: reason})
}

// queuedSubscriptionFailed is subscriptionFailed for a queue entry.
func (s *Service) queuedSubscriptionFailed(ctx context.Context, it core.FedQueued, reason string) {
	var ev Event
	if err := json.Unmarshal(it.Payload, &ev); err != nil {
		return
	}
	s.mu.Lock()
	b := s.byUser[it.User]
	s.mu.Unlock()
	if b != nil {
		s.subscriptionFailed(ctx, b, ev, reason)
	}
}

// blockedBy reads the user's block list as a set.
func (s *Service) blockedBy(ctx context.Context, user core.UserID) (map[string]bool, error) {
	if s.blocks == nil {
		return nil, nil
	}
	list, err := s.blocks.BlockList(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("reading the block list: %w", err)
	}
	set := make(map[string]bool, len(list))
	for _, a := range list {
		set[strings.ToLower(a)] = true
	}
	return set, nil
}

// isBlocked reports whether addr or its domain is in the set.
func isBlocked(blocked map[string]bool, addr string) bool {
	if len(blocked) == 0 {
		return false
	}
	_, domain, _ := strings.Cut(addr, "@")
	return blocked[addr] || blocked[domain]
}

// receiveSubscriptions applies the subscription events events[i] for i
// in idx, whose envelopes fit origin, writing their results.
func (s *Service) receiveSubscriptions(ctx context.Context, events []Event, idx []int, results []Result) error {
	for _, i := range idx {
		ev := events[i]
		reject := func(why string) { results[i] = Result{ID: ev.ID, Status: StatusRejected, Error: why} }
		if s.contacts == nil {
			reject(errNoContactStore.Error())
			continue
		}
		if len(ev.Body) > MaxStatusBytes {
			reject(fmt.Sprintf("text of %d bytes exceeds %d", len(ev.Body), MaxStatusBytes))
			continue
		}
		to, _ := ParseAddress(ev.To)
		b, err := s.recipient(ctx, to.Local)
		if err != nil {
			return fmt.Errorf("finding recipient %s: %w", to, err)
		}
		if b == nil {
			reject("no such user")
			continue
		}
		why, err := b.subscriptionEvent(ctx, ev)
		if err != nil {
			return fmt.Errorf("applying %s from %s to %s: %w", ev.Type, ev.From, ev.To, err)
		}
		if why != "" {
			reject(why)
		}
	}
	return nil
}

// subscriptionEvent applies one received subscription event to the
// user's list; why is the reason to reject it, empty when accepted. An
// answer nobody asked for changes nothing and is accepted.
func (b *bridge) subscriptionEvent(ctx context.Context, ev Event) (why string, err error) {
	from := ev.From
	blocked, err := b.svc.blockedBy(ctx, b.env.User.ID)
	if err != nil {
		return "", err
	}
	if (ev.Type == TypeSubscribe || ev.Type == TypeAllow) && isBlocked(blocked, from) {
		return "the recipient does not accept requests from " + from, nil
	}
	user := b.env.User.ID
	var more []core.Event
	var sendAllow bool
	before, after, err := b.svc.change(ctx, user, from, func(c *core.FedContact) error {
		switch ev.Type {
		case TypeSubscribe:
			switch {
			case c.From:
				sendAllow = true // allowed before: the peer lost its state
			case c.Preapproved:
				c.From, c.Preapproved, c.Listed = true, false, true
				sendAllow = true
			case c.Pending:
				c.PendingText = ev.Body
			default:
				n, err := b.svc.contacts.CountFedPending(ctx, user)
				if err != nil {
					return err
				}
				if n >= MaxPendingRequests {
					why = fmt.Sprintf("%s has too many unanswered requests", b.self)
					return nil
				}
				c.Pending, c.PendingText = true, ev.Body
				more = append(more, core.SubscriptionEvent{Contact: from, Kind: core.SubscribeRequest, Text: ev.Body})
			}
		case TypeAllow:
			if c.Ask {
				c.To, c.Ask = true, false
				more = append(more, core.SubscriptionEvent{Contact: from, Kind: core.SubscribeApproved})
			}
		case TypeDeny:
			if c.To || c.Ask {
				if c.To {
					more = append(more, core.PresenceEvent{Contact: from, Status: core.Status{Show: core.ShowOffline}})
				}
				c.To, c.Ask = false, false
				more = append(more, core.SubscriptionEvent{Contact: from, Kind: core.Unsubscribed})
			}
		case TypeCancel:
			if c.From || c.Pending {
				c.From, c.Pending, c.PendingText = false, false, ""
				more = append(more, core.SubscriptionEvent{Contact: from, Kind: core.UnsubscribeNotice})
			}
		}
		return nil
	})
	if err != nil || why != "" {
		return why, err
	}
	b.contactChanged(ctx, before, after, more...)
	fromAddr, _ := ParseAddress(from)
	switch {
	case sendAllow:
		if err := b.sendSubscription(ctx, TypeAllow, fromAddr, ""); err != nil {
			b.env.Log.Warn("answering a subscription request", "contact", from, "err", err)
		}
		b.svc.pushPresence(ctx, []PresenceUpdate{b.presenceTo(from, b.currentStatus())}, false)
	case ev.Type == TypeAllow && after.To && !before.To:
		// The contact's presence may have been sent before its allow
		// arrived: ask for it.
		b.svc.pushPresence(ctx, []PresenceUpdate{{Type: TypeProbe, From: b.self.String(), To: from, Time: b.svc.now().UTC()}}, false)
	}
	return "", nil
}

// servePresence is POST presence.
func (s *Service) servePresence(w http.ResponseWriter, r *http.Request) {
	origin, body, p := s.authenticate(w, r)
	if p == nil {
		var b PresenceBatch
		b, p = s.decodePresenceFrom(origin, body)
		if p == nil {
			res := PresenceResults{Results: s.applyPresence(r.Context(), b.Updates)}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(res)
			return
		}
	}
	s.writeRefusal(w, r, origin, p)
}

func (s *Service) decodePresenceFrom(origin string, body []byte) (PresenceBatch, *problem) {
	b, err := DecodePresence(body)
	if err != nil {
		return b, refuse(http.StatusBadRequest, "malformed", err.Error())
	}
	for _, u := range b.Updates {
		from, _ := ParseAddress(u.From)
		to, _ := ParseAddress(u.To)
		if from.Domain != origin {
			return b, refuse(http.StatusForbidden, "wrong-domain", u.From+" is not a user of "+origin)
		}
		if to.Domain != s.domain {
			return b, refuse(http.StatusForbidden, "wrong-domain", u.To+" is not a user of "+s.domain)
		}
	}
	return b, nil
}

// applyPresence applies checked updates for local users: a presence is
// shown to a user who follows its sender, a probe answered with the
// user's presence if the sender may see it.
func (s *Service) applyPresence(ctx context.Context, ups []PresenceUpdate) []PresenceResult {
	out := make([]PresenceResult, len(ups))
	var answers []PresenceUpdate
	for i, u := range ups {
		why, answer := s.applyOnePresence(ctx, u)
		out[i] = PresenceResult{Status: StatusAccepted}
		if why != "" {
			out[i] = PresenceResult{Status: StatusRejected, Error: why}
		}
		if answer != nil {
			answers = append(answers, *answer)
		}
	}
	metricPresence.WithLabelValues("received").Add(float64(len(ups)))
	s.pushPresence(ctx, answers, false)
	return out
}

func (s *Service) applyOnePresence(ctx context.Context, u PresenceUpdate) (why string, answer *PresenceUpdate) {
	if s.contacts == nil {
		return errNoContactStore.Error(), nil
	}
	to, _ := ParseAddress(u.To)
	s.mu.Lock()
	b := s.locals[to.Local]
	s.mu.Unlock()
	if b == nil {
		return "no such user online", nil
	}
	c, ok, err := s.contacts.FedContact(ctx, b.env.User.ID, u.From)
	if err != nil {
		s.log.Warn("reading a contact for presence", "err", err)
		return "the contact list cannot be read", nil
	}
	blocked, err := s.blockedBy(ctx, b.env.User.ID)
	if err != nil || isBlocked(blocked, u.From) {
		return "not subscribed", nil
	}
	switch u.Type {
	case TypeProbe:
		if !ok || !c.From {
			return "not subscribed", nil
		}
		a := b.presenceTo(u.From, b.currentStatus())
		return "", &a
	default:
		if !ok || !c.To {
			return "not subscribed", nil
		}
		// A time far ahead (a wrong clock, once) is taken as now, or it
		// would make every later update look overtaken until then.
		at := u.Time
		if now := s.now(); at.After(now.Add(maxFutureSkew)) {
			at = now
		}
		b.pres.mu.Lock()
		last := b.pres.seen[u.From]
		stale := at.Before(last)
		if !stale {
			if b.pres.seen == nil {
				b.pres.seen = make(map[string]time.Time)
			}
			b.pres.seen[u.From] = at
		}
		b.pres.mu.Unlock()
		if stale {
			return "", nil // overtaken by a newer update
		}
		show, _ := core.ParseShow(u.Show)
		ev := core.PresenceEvent{Contact: u.From, Status: core.Status{Show: show, Text: u.Status}}
		// The own domain's users stop with the daemon, and are shown
		// presence no longer.
		if err := b.env.Inbound.Receive(ctx, ev); err != nil && ctx.Err() == nil && !errors.Is(err, core.ErrHubClosed) {
			s.log.Warn("showing a contact's presence", "contact", u.From, "err", err)
		}
		return "", nil
	}
}

// pushPresence sends updates, grouped by domain: in-process for this one,
// else POST presence. With wait it returns once all are answered or ctx
// ends; without, it sends in the background and drops what exceeds
// maxPresenceSends in flight.
func (s *Service) pushPresence(ctx context.Context, ups []PresenceUpdate, wait bool) {
	if len(ups) == 0 {
		return
	}
	byDomain := make(map[string][]PresenceUpdate)
	var order []string
	for _, u := range ups {
		_, d, _ := strings.Cut(u.To, "@")
		if _, ok := byDomain[d]; !ok {
			order = append(order, d)
		}
		byDomain[d] = append(byDomain[d], u)
	}
	var wg sync.WaitGroup
	for _, d := range order {
		for part := range slices.Chunk(byDomain[d], MaxBatch) {
			select {
			case s.presenceSends <- struct{}{}:
			default:
				if !wait {
					metricPresence.WithLabelValues("dropped").Add(float64(len(part)))
					continue
				}
				select {
				case s.presenceSends <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-s.presenceSends }()
				sctx := ctx
				if !wait {
					sctx = context.WithoutCancel(ctx)
				}
				sctx, cancel := context.WithTimeout(sctx, presenceTimeout)
				defer cancel()
				s.postPresence(sctx, d, part)
			}()
		}
	}
	if wait {
		wg.Wait()
	}
}

// postPresence delivers one domain's updates, best effort.
func (s *Service) postPresence(ctx context.Context, domain string, ups []PresenceUpdate) {
	if domain == s.domain {
		s.applyPresence(ctx, ups)
		return
	}
	if s.queue == nil {
		return
	}
	p, err := s.peer(domain)
	if err != nil {
		s.log.Debug("presence not sent", "peer", domain, "err", err)
		return
	}
	body, err := json.Marshal(PresenceBatch{Updates: ups})
	if err != nil {
		return
	}
	status, answer, _, err := p.post(ctx, "presence", body)
	switch {
	case err != nil:
		metricPresence.WithLabelValues("failed").Add(float64(len(ups)))
		s.log.Debug("presence not delivered", "peer", domain, "err", err)
	case status != http.StatusOK:
		metricPresence.WithLabelValues("failed").Add(float64(len(ups)))
		s.log.Debug("presence refused", "peer", domain, "status", status, "answer", string(answer))
	default:
		metricPresence.WithLabelValues("sent").Add(float64(len(ups)))
	}
}
