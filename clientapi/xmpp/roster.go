package xmpp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"sync"

	"github.com/switchboard/switchboard/core"
)

// The roster (RFC 6121 §2) is derived, not stored: the contact lists of
// the networks that keep one (an XMPP account's roster, held by the Hub
// as the bridge sends it), and every other conversation the user has on
// a bridged network, grouped by network. A contact of such a list has
// the subscription its network says; a conversation outside it has
// "none" there, and "both" on networks without lists (IRC), where
// presence is implied. A roster set or remove for a contact of a network
// with a list changes the list on the network; the network's answer comes
// back as a roster push to every device.

type rosterItem struct {
	jid, name    string
	groups       []string // the network's name first
	subscription string
	ask          bool
}

// rosterState is what this session has been told, so changes are pushed
// once each.
type rosterState struct {
	mu        sync.Mutex
	requested bool
	known     map[core.ConversationID]bool
	sent      map[string]rosterItem // by jid
	ver       string
}

func (s *session) rosterItems(ctx context.Context, need core.ConversationID) ([]rosterItem, map[core.ConversationID]bool, error) {
	convs, err := s.srv.rosterConvs.get(ctx, s.srv.store, s.user.ID, need)
	if err != nil {
		return nil, nil, err
	}
	byJID := make(map[string]rosterItem)
	listed := make(map[core.NetworkID]bool) // networks with a contact list
	for _, cl := range s.srv.hub.Contacts(s.user.ID) {
		nw, ok := s.nets.get(ctx, cl.Network)
		if !ok {
			continue
		}
		listed[nw.ID] = true
		for _, c := range cl.Contacts {
			it := rosterItem{jid: peerJID(nw, s.nets.remoteOf(nw, c.Addr), s.srv.domain), name: c.Name,
				groups: []string{nw.Name}, subscription: string(c.Subscription), ask: c.Asked}
			if it.name == "" {
				it.name = c.Addr
			}
			for _, g := range c.Groups {
				if !slices.Contains(it.groups, g) {
					it.groups = append(it.groups, g)
				}
			}
			byJID[it.jid] = it
		}
	}
	known := make(map[core.ConversationID]bool, len(convs))
	for _, c := range convs {
		nw, ok := s.nets.get(ctx, c.Network)
		if !ok {
			continue
		}
		known[c.ID] = true
		it := itemOf(nw, c, s.srv.domain)
		if _, dup := byJID[it.jid]; dup {
			continue
		}
		if listed[nw.ID] && c.Kind == core.Direct {
			it.subscription = "none"
		}
		byJID[it.jid] = it
	}
	items := make([]rosterItem, 0, len(byJID))
	for _, it := range byJID {
		items = append(items, it)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].jid < items[j].jid })
	return items, known, nil
}

func itemOf(nw core.Network, c core.Conversation, domain string) rosterItem {
	name := c.Name
	if name == "" {
		name = c.Remote
	}
	return rosterItem{jid: peerJID(nw, c.Remote, domain), name: name, groups: []string{nw.Name}, subscription: "both"}
}

func (it rosterItem) equal(o rosterItem) bool {
	return it.jid == o.jid && it.name == o.name && it.subscription == o.subscription && it.ask == o.ask && slices.Equal(it.groups, o.groups)
}

// rosterVersion names a roster's content (XEP-0237): equal rosters, equal
// versions, so a client that has it gets an empty answer.
func rosterVersion(items []rosterItem) string {
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(it.jid + "\x00" + it.name + "\x00" + it.subscription + "\x00"))
		if it.ask {
			h.Write([]byte("ask\x00"))
		}
		for _, g := range it.groups {
			h.Write([]byte(g + "\x00"))
		}
		h.Write([]byte{1})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func (it rosterItem) element() *element {
	e := el(nsRoster, "item", "jid", it.jid, "name", it.name, "subscription", it.subscription)
	if it.ask {
		e.setAttr("ask", "subscribe")
	}
	for _, g := range it.groups {
		e.add(el(nsRoster, "group").withText(g))
	}
	return e
}

func (s *session) handleRoster(ctx context.Context, iq, q *element) {
	if iq.attr("type") == "set" {
		s.handleRosterSet(ctx, iq, q)
		return
	}
	items, known, err := s.rosterItems(ctx, 0)
	if err != nil {
		s.log.Warn("reading the roster", "err", err)
		s.send(iqError(iq, "wait", "internal-server-error", ""))
		return
	}
	ver := rosterVersion(items)
	s.roster.mu.Lock()
	s.roster.requested, s.roster.known, s.roster.ver = true, known, ver
	s.roster.sent = make(map[string]rosterItem, len(items))
	for _, it := range items {
		s.roster.sent[it.jid] = it
	}
	s.roster.mu.Unlock()
	if q.attr("ver") != "" && q.attr("ver") == ver {
		s.send(iqResult(iq))
		return
	}
	res := el(nsRoster, "query", "ver", ver)
	for _, it := range items {
		res.add(it.element())
	}
	s.send(iqResult(iq).add(res))
}

// handleRosterSet changes a contact of a network that keeps a contact
// list, on the network (RFC 6121 §2.3 and §2.5). The result says the
// network took the change; the push that shows it follows from the
// network.
func (s *session) handleRosterSet(ctx context.Context, iq, q *element) {
	var item *element
	for _, c := range q.Children {
		if c.Name.Space == nsRoster && c.Name.Local == "item" {
			if item != nil {
				s.send(iqError(iq, "modify", "bad-request", "a roster set holds one item"))
				return
			}
			item = c
		}
	}
	if item == nil {
		s.send(iqError(iq, "modify", "bad-request", "a roster set holds one item"))
		return
	}
	r, ok := s.nets.resolve(ctx, item.attr("jid"), s.srv.domain)
	if !ok || r.peer.Kind != core.Direct || r.resource != "" {
		s.send(iqError(iq, "cancel", "not-allowed", "only a bridged network's contacts can be changed"))
		return
	}
	var err error
	if item.attr("subscription") == "remove" {
		err = s.srv.hub.RemoveContact(ctx, s.user.ID, r.network.ID, r.peer.Remote)
	} else {
		c := core.Contact{Network: r.network.ID, Addr: r.peer.Remote, Name: item.attr("name")}
		for _, g := range item.Children {
			// The network's own group is the port's; it is not the
			// network's to keep.
			if g.Name.Space == nsRoster && g.Name.Local == "group" && g.Text != "" && g.Text != r.network.Name && !slices.Contains(c.Groups, g.Text) {
				c.Groups = append(c.Groups, g.Text)
			}
		}
		err = s.srv.hub.SetContact(ctx, s.user.ID, c)
	}
	switch {
	case err == nil:
		s.send(iqResult(iq))
	case errors.Is(err, core.ErrNoContacts):
		s.send(iqError(iq, "cancel", "not-allowed", "this network keeps no contact list; its contacts come from conversations"))
	case errors.Is(err, core.ErrNotConnected):
		s.send(iqError(iq, "wait", "remote-server-timeout", "the network is not connected"))
	default:
		s.log.Info("roster change refused", "err", err)
		s.send(iqError(iq, "cancel", "undefined-condition", err.Error()))
	}
}

// pushRoster announces a conversation the session's roster lacks.
func (s *session) pushRoster(ctx context.Context, m *core.Message) {
	s.roster.mu.Lock()
	skip := !s.roster.requested || s.roster.known[m.Conversation]
	s.roster.mu.Unlock()
	if !skip {
		s.refreshRosterFor(ctx, m.Conversation)
	}
}

// refreshRoster pushes every item that changed since the session was
// last told (RFC 6121 §2.1.6), one push each, removals included.
func (s *session) refreshRoster(ctx context.Context) { s.refreshRosterFor(ctx, 0) }

// refreshRosterFor is refreshRoster for a message in a conversation the
// session did not know: a list of conversations another device of the
// user read since that one began will do (convCache).
func (s *session) refreshRosterFor(ctx context.Context, need core.ConversationID) {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if !s.roster.requested {
		return
	}
	items, known, err := s.rosterItems(ctx, need)
	if err != nil {
		s.log.Warn("reading the roster", "err", err)
		return
	}
	s.roster.known, s.roster.ver = known, rosterVersion(items)
	now := make(map[string]rosterItem, len(items))
	var pushes []*element
	for _, it := range items {
		now[it.jid] = it
		if old, ok := s.roster.sent[it.jid]; !ok || !old.equal(it) {
			pushes = append(pushes, it.element())
		}
	}
	for j := range s.roster.sent {
		if _, ok := now[j]; !ok {
			pushes = append(pushes, el(nsRoster, "item", "jid", j, "subscription", "remove"))
		}
	}
	s.roster.sent = now
	for _, p := range pushes {
		s.send(el(nsClient, "iq", "type", "set", "id", "push-"+randomID()[:8], "to", s.full).
			add(el(nsRoster, "query", "ver", s.roster.ver).add(p)))
	}
}

// handleSubscriptionPresence passes a device's subscription request or
// answer for a contact of a network with a contact list to the network;
// false when the network keeps none, where subscriptions are implied.
func (s *session) handleSubscriptionPresence(ctx context.Context, p *element, r resolved) bool {
	if r.peer.Kind != core.Direct {
		return false
	}
	var err error
	switch p.attr("type") {
	case "subscribe":
		err = s.srv.hub.Subscribe(ctx, s.user.ID, r.network.ID, r.peer.Remote)
	case "subscribed", "unsubscribed":
		err = s.srv.hub.AnswerSubscription(ctx, s.user.ID, r.network.ID, r.peer.Remote, p.attr("type") == "subscribed")
	case "unsubscribe":
		err = s.srv.hub.Unsubscribe(ctx, s.user.ID, r.network.ID, r.peer.Remote)
	default:
		return false
	}
	if errors.Is(err, core.ErrNoContacts) {
		return false
	}
	if err != nil {
		s.log.Info("subscription not passed on", "type", p.attr("type"), "err", err)
		s.send(bounce(p, "wait", "remote-server-timeout", err.Error()))
	}
	return true
}

// deliverSubscription shows a contact's subscription request or answer.
func (s *session) deliverSubscription(ctx context.Context, e core.SubscriptionEvent) {
	nw, ok := s.nets.get(ctx, e.Network)
	if !ok {
		return
	}
	from := peerJID(nw, s.nets.remoteOf(nw, e.Contact), s.srv.domain)
	if s.isBlocked(ctx, from) {
		return
	}
	p := el(nsClient, "presence", "from", from, "to", s.bare, "type", string(e.Kind))
	if e.Text != "" {
		p.add(el(nsClient, "status").withText(e.Text))
	}
	s.send(p)
}

// sendPendingSubscriptions shows the requests no device has answered yet
// to a device that just became available (RFC 6121 §3.1.3).
func (s *session) sendPendingSubscriptions(ctx context.Context) {
	for _, cl := range s.srv.hub.Contacts(s.user.ID) {
		for _, addr := range cl.Pending {
			s.deliverSubscription(ctx, core.SubscriptionEvent{Network: cl.Network, Contact: addr, Kind: core.SubscribeRequest})
		}
	}
}

// sendContactPresences shows a device that just became available the
// last presence the networks reported of each contact (RFC 6121 §4.2.2:
// what a server's probes would bring), so it need not wait for the next
// change.
func (s *session) sendContactPresences(ctx context.Context) {
	for _, cl := range s.srv.hub.Contacts(s.user.ID) {
		nw, ok := s.nets.get(ctx, cl.Network)
		if !ok {
			continue
		}
		for _, c := range cl.Contacts {
			if c.Presence.Show == core.ShowOffline {
				continue
			}
			from := peerJID(nw, s.nets.remoteOf(nw, c.Addr), s.srv.domain)
			if !s.isBlocked(ctx, from) {
				s.send(presenceOf(from, s.full, c.Presence))
			}
		}
	}
}

// convCache keeps each user's conversations as last read from the store.
// A room's first line is a new conversation to every device in it, and
// each refreshes its roster: with a thousand devices, a thousand reads of
// the same list made the first lines' fan-out a quarter of a second late
// and the lines behind them too. A device that needs a conversation the
// cached list holds takes the list; any other roster read goes to the
// store and replaces it, so changes that come as events (a rename, a
// deletion, a contact list) are read fresh.
type convCache struct {
	mu     sync.Mutex
	byUser map[core.UserID]*userConvs
}

// userConvs is one user's cached list. Its lock is held across the
// store's read, so the devices that see a new conversation together
// wait for one read instead of each making its own.
type userConvs struct {
	mu    sync.Mutex
	convs []core.Conversation
	ids   map[core.ConversationID]bool
}

// get returns user's conversations: the cached list if need is non-zero
// and in it, otherwise the store's, which then becomes the cached list.
func (c *convCache) get(ctx context.Context, st interface {
	Conversations(context.Context, core.UserID) ([]core.Conversation, error)
}, user core.UserID, need core.ConversationID) ([]core.Conversation, error) {
	c.mu.Lock()
	if c.byUser == nil {
		c.byUser = make(map[core.UserID]*userConvs)
	}
	uc := c.byUser[user]
	if uc == nil {
		uc = &userConvs{}
		c.byUser[user] = uc
	}
	c.mu.Unlock()

	uc.mu.Lock()
	defer uc.mu.Unlock()
	if need != 0 && uc.ids[need] {
		return uc.convs, nil
	}
	convs, err := st.Conversations(ctx, user)
	if err != nil {
		return nil, err
	}
	uc.convs = convs
	uc.ids = make(map[core.ConversationID]bool, len(convs))
	for _, cv := range convs {
		uc.ids[cv.ID] = true
	}
	return convs, nil
}
