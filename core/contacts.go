package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Contact lists (the XMPP roster, RFC 6121 §2): some networks keep, on
// the server, the list of addresses the user follows and who may see the
// user's presence. A bridge announces the whole list on every connect
// (ContactsEvent) and each change as it happens (ContactEvent); the Hub
// keeps the latest list of each running network in memory, as it keeps
// rooms, so a device that attaches later lists every contact, even one
// no message was exchanged with yet.
//
// The lists are not stored: the network's server holds the real one and
// sends it again on every connect, so a copy in the store could only be
// stale. Until a restarted daemon's bridge is connected its devices list
// contacts from their conversations alone.

// Subscription is whose presence is shared (RFC 6121 §2.1.2.5): "to" means
// the user sees the contact's presence, "from" that the contact sees the
// user's.
type Subscription string

const (
	SubNone Subscription = "none"
	SubTo   Subscription = "to"
	SubFrom Subscription = "from"
	SubBoth Subscription = "both"
)

// Contact is one entry of a network's contact list.
type Contact struct {
	Network      NetworkID
	Addr         string // the network address, as the bridge names peers
	Name         string // the user's name for the contact; may be empty
	Groups       []string
	Subscription Subscription
	// Asked is set while the user's request to see the contact's presence
	// waits for the contact's answer (RFC 6121 "ask").
	Asked bool
	// Presence is the contact's last presence the network reported; zero
	// (offline) when none was.
	Presence Status
}

// ContactsEvent is a network's whole contact list, sent on every connect;
// it replaces what the Hub knew of the network's contacts.
type ContactsEvent struct {
	User     UserID
	Network  NetworkID
	Contacts []Contact
}

// ContactEvent is one contact added or changed, or removed.
type ContactEvent struct {
	User    UserID
	Network NetworkID
	Contact Contact
	Removed bool
}

// SubscriptionKind is what a presence subscription stanza asks or answers.
type SubscriptionKind string

const (
	// SubscribeRequest: the contact asks to see the user's presence; a
	// device answers with Hub.AnswerSubscription.
	SubscribeRequest SubscriptionKind = "subscribe"
	// SubscribeApproved: the contact let the user see its presence.
	SubscribeApproved SubscriptionKind = "subscribed"
	// Unsubscribed: the contact refused or revoked it.
	Unsubscribed SubscriptionKind = "unsubscribed"
	// UnsubscribeNotice: the contact no longer follows the user's presence.
	UnsubscribeNotice SubscriptionKind = "unsubscribe"
)

// SubscriptionEvent is a presence subscription request or answer from a
// contact on a network.
type SubscriptionEvent struct {
	User    UserID
	Network NetworkID
	Contact string // network address
	Kind    SubscriptionKind
	Text    string // the request's status text, if any
}

func (e ContactsEvent) EventUser() UserID     { return e.User }
func (e ContactEvent) EventUser() UserID      { return e.User }
func (e SubscriptionEvent) EventUser() UserID { return e.User }

// ContactManager is implemented by bridges whose networks keep contact
// lists that devices may change. Each change is made on the network's
// server; devices learn of it from the ContactEvent the server's answer
// brings, as the user's other clients of the account do.
type ContactManager interface {
	// SetContact adds the contact or changes its name and groups.
	SetContact(ctx context.Context, c Contact) error
	// RemoveContact removes addr from the list, ending both subscriptions.
	RemoveContact(ctx context.Context, addr string) error
	// Subscribe asks addr to let the user see its presence.
	Subscribe(ctx context.Context, addr string) error
	// AnswerSubscription approves or refuses addr's request to see the
	// user's presence (or revokes an approval given before).
	AnswerSubscription(ctx context.Context, addr string, approve bool) error
}

// Unsubscriber is implemented by contact managers that can stop
// following a contact's presence while keeping the contact (RFC 6121
// §3.3, "unsubscribe").
type Unsubscriber interface {
	Unsubscribe(ctx context.Context, addr string) error
}

// ErrNoContacts is wrapped by the Hub's contact methods' error when the
// network's bridge keeps no contact list.
var ErrNoContacts = errors.New("this network's bridge keeps no contact list")

// maxPendingSubscriptions bounds the unanswered requests kept per network,
// so a flood of requests cannot grow the Hub's memory.
const maxPendingSubscriptions = 1000

// ContactList is one network's contact list as the Hub knows it.
type ContactList struct {
	Network  NetworkID
	Contacts []Contact // sorted by address
	// Pending are the addresses whose subscription request no device has
	// answered yet, sorted; a device that attaches shows them again.
	Pending []string
}

type contactList struct {
	byAddr  map[string]Contact
	pending map[string]bool
	// presence of listed contacts that are not offline.
	presence map[string]Status
}

// contacts is one user's contact lists. The dispatcher writes it as
// events pass; devices read snapshots from their own goroutines.
type contacts struct {
	mu sync.Mutex
	m  map[NetworkID]*contactList
}

func (c *contacts) list(n NetworkID) *contactList {
	l := c.m[n]
	if l == nil {
		if c.m == nil {
			c.m = make(map[NetworkID]*contactList)
		}
		l = &contactList{byAddr: make(map[string]Contact), pending: make(map[string]bool), presence: make(map[string]Status)}
		c.m[n] = l
	}
	return l
}

// track applies e before it is fanned out.
func (c *contacts) track(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch e := e.(type) {
	case ContactsEvent:
		l := c.list(e.Network)
		l.byAddr = make(map[string]Contact, len(e.Contacts))
		for _, ct := range e.Contacts {
			ct.Network = e.Network
			l.byAddr[ct.Addr] = ct
		}
		for addr := range l.presence {
			if _, ok := l.byAddr[addr]; !ok {
				delete(l.presence, addr)
			}
		}
	case ContactEvent:
		l := c.list(e.Network)
		if e.Removed {
			delete(l.byAddr, e.Contact.Addr)
			delete(l.presence, e.Contact.Addr)
			return
		}
		e.Contact.Network = e.Network
		l.byAddr[e.Contact.Addr] = e.Contact
		if s := e.Contact.Subscription; s == SubFrom || s == SubBoth {
			delete(l.pending, e.Contact.Addr) // answered from another client of the account
		}
	case PresenceEvent:
		// Kept for listed contacts only, so the map is bounded by the list.
		l := c.m[e.Network]
		if l == nil {
			return
		}
		if _, ok := l.byAddr[e.Contact]; !ok || e.Show == ShowOffline {
			delete(l.presence, e.Contact)
			return
		}
		l.presence[e.Contact] = e.Status
	case SubscriptionEvent:
		if e.Kind == UnsubscribeNotice {
			// A request withdrawn before it was answered.
			delete(c.list(e.Network).pending, e.Contact)
			return
		}
		if e.Kind != SubscribeRequest {
			return
		}
		l := c.list(e.Network)
		if len(l.pending) < maxPendingSubscriptions {
			l.pending[e.Contact] = true
		}
	}
}

// answered forgets a pending request a device answered.
func (c *contacts) answered(n NetworkID, addr string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.m[n]; l != nil {
		delete(l.pending, addr)
	}
}

// present returns an offline presence for each of network n's contacts
// that is not offline now, for devices to be told when the network can
// no longer vouch for any presence: a network that lost its connection
// or stopped. Applied (track), they clear what the list keeps.
func (c *contacts) present(user UserID, n NetworkID) []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.m[n]
	if l == nil {
		return nil
	}
	out := make([]Event, 0, len(l.presence))
	for addr := range l.presence {
		out = append(out, PresenceEvent{User: user, Network: n, Contact: addr, Status: Status{Show: ShowOffline}})
	}
	slices.SortFunc(out, func(a, b Event) int {
		return strings.Compare(a.(PresenceEvent).Contact, b.(PresenceEvent).Contact)
	})
	return out
}

// dropContactsOf forgets the contact list of a network that stopped
// running, first telling devices, through the dispatcher as any presence,
// that its contacts are offline.
func (h *Hub) dropContactsOf(ctx context.Context, n Network) {
	u := h.userIfAny(n.User)
	if u == nil {
		return
	}
	if off := u.contacts.present(n.User, n.ID); len(off) > 0 {
		if err := h.post(ctx, n.User, &op{kind: opEvents, events: off}); err != nil {
			h.log.Warn("telling devices a stopped network's contacts are offline", "network", n.Name, "err", err)
		}
	}
	u.contacts.dropNetwork(n.ID)
}

func (c *contacts) dropNetwork(n NetworkID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, n)
}

// Contacts lists the contact lists of the user's running networks that
// keep one, sorted by network; a network whose bridge has not sent its
// list yet is missing.
func (h *Hub) Contacts(user UserID) []ContactList {
	u := h.userIfAny(user)
	if u == nil {
		return nil
	}
	u.contacts.mu.Lock()
	out := make([]ContactList, 0, len(u.contacts.m))
	for n, l := range u.contacts.m {
		cl := ContactList{Network: n, Contacts: make([]Contact, 0, len(l.byAddr))}
		for _, ct := range l.byAddr {
			ct.Groups = slices.Clone(ct.Groups)
			ct.Presence = l.presence[ct.Addr]
			cl.Contacts = append(cl.Contacts, ct)
		}
		for addr := range l.pending {
			cl.Pending = append(cl.Pending, addr)
		}
		out = append(out, cl)
	}
	u.contacts.mu.Unlock()
	for _, cl := range out {
		slices.SortFunc(cl.Contacts, func(a, b Contact) int { return strings.Compare(a.Addr, b.Addr) })
		slices.Sort(cl.Pending)
	}
	slices.SortFunc(out, func(a, b ContactList) int { return int(a.Network - b.Network) })
	return out
}

// SetContact adds or changes a contact on one of user's running networks.
func (h *Hub) SetContact(ctx context.Context, user UserID, c Contact) error {
	m, name, err := h.contactManager(user, c.Network)
	if err != nil {
		return err
	}
	if err := m.SetContact(ctx, c); err != nil {
		return fmt.Errorf("setting contact %s on %q: %w", c.Addr, name, err)
	}
	return nil
}

// RemoveContact removes a contact from one of user's running networks.
func (h *Hub) RemoveContact(ctx context.Context, user UserID, network NetworkID, addr string) error {
	m, name, err := h.contactManager(user, network)
	if err != nil {
		return err
	}
	if err := m.RemoveContact(ctx, addr); err != nil {
		return fmt.Errorf("removing contact %s on %q: %w", addr, name, err)
	}
	return nil
}

// Subscribe asks a contact on one of user's networks to share its presence.
func (h *Hub) Subscribe(ctx context.Context, user UserID, network NetworkID, addr string) error {
	m, name, err := h.contactManager(user, network)
	if err != nil {
		return err
	}
	if err := m.Subscribe(ctx, addr); err != nil {
		return fmt.Errorf("subscribing to %s on %q: %w", addr, name, err)
	}
	return nil
}

// Unsubscribe stops following a contact's presence on one of user's
// networks; a network whose bridge cannot is ErrNoContacts.
func (h *Hub) Unsubscribe(ctx context.Context, user UserID, network NetworkID, addr string) error {
	m, name, err := h.contactManager(user, network)
	if err != nil {
		return err
	}
	u, ok := m.(Unsubscriber)
	if !ok {
		return fmt.Errorf("network %q: %w", name, ErrNoContacts)
	}
	if err := u.Unsubscribe(ctx, addr); err != nil {
		return fmt.Errorf("unsubscribing from %s on %q: %w", addr, name, err)
	}
	return nil
}

// AnswerSubscription approves or refuses a contact's request to see the
// user's presence, and forgets the request as pending.
func (h *Hub) AnswerSubscription(ctx context.Context, user UserID, network NetworkID, addr string, approve bool) error {
	m, name, err := h.contactManager(user, network)
	if err != nil {
		return err
	}
	if err := m.AnswerSubscription(ctx, addr, approve); err != nil {
		return fmt.Errorf("answering %s's subscription on %q: %w", addr, name, err)
	}
	if u := h.userIfAny(user); u != nil {
		u.contacts.answered(network, addr)
	}
	return nil
}

func (h *Hub) contactManager(user UserID, network NetworkID) (ContactManager, string, error) {
	r, err := h.userRunner(user, network)
	if err != nil {
		return nil, "", err
	}
	m, ok := r.bridge.(ContactManager)
	if !ok {
		return nil, "", fmt.Errorf("network %q: %w", r.network.Name, ErrNoContacts)
	}
	return m, r.network.Name, nil
}
