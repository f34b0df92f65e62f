package xmpp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"sync"

	"github.com/switchboard/switchboard/core"
)

// The roster (RFC 6121 §2) is derived, not stored: every conversation the
// user has on a bridged network is a contact with subscription "both",
// grouped by network. A client cannot edit it; it grows as conversations
// appear, announced with roster pushes.

type rosterItem struct {
	jid, name, group string
}

// rosterState is what this session has been told, so new conversations
// are pushed once.
type rosterState struct {
	mu        sync.Mutex
	requested bool
	known     map[core.ConversationID]bool
	ver       string
}

func (s *session) rosterItems(ctx context.Context) ([]rosterItem, map[core.ConversationID]bool, error) {
	convs, err := s.srv.store.Conversations(ctx, s.user.ID)
	if err != nil {
		return nil, nil, err
	}
	known := make(map[core.ConversationID]bool, len(convs))
	items := make([]rosterItem, 0, len(convs))
	for _, c := range convs {
		nw, ok := s.nets.get(ctx, c.Network)
		if !ok {
			continue
		}
		known[c.ID] = true
		items = append(items, itemOf(nw, c, s.srv.domain))
	}
	sort.Slice(items, func(i, j int) bool { return items[i].jid < items[j].jid })
	return items, known, nil
}

func itemOf(nw core.Network, c core.Conversation, domain string) rosterItem {
	name := c.Name
	if name == "" {
		name = c.Remote
	}
	return rosterItem{jid: peerJID(nw, c.Remote, domain), name: name, group: nw.Name}
}

// rosterVersion names a roster's content (XEP-0237): equal rosters, equal
// versions, so a client that has it gets an empty answer.
func rosterVersion(items []rosterItem) string {
	h := sha256.New()
	for _, it := range items {
		h.Write([]byte(it.jid + "\x00" + it.name + "\x00" + it.group + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

func (it rosterItem) element() *element {
	return el(nsRoster, "item", "jid", it.jid, "name", it.name, "subscription", "both").
		add(el(nsRoster, "group").withText(it.group))
}

func (s *session) handleRoster(ctx context.Context, iq, q *element) {
	if iq.attr("type") == "set" {
		s.send(iqError(iq, "cancel", "not-allowed", "the roster lists the bridged networks' contacts and rooms; it cannot be edited"))
		return
	}
	items, known, err := s.rosterItems(ctx)
	if err != nil {
		s.log.Warn("reading the roster", "err", err)
		s.send(iqError(iq, "wait", "internal-server-error", ""))
		return
	}
	ver := rosterVersion(items)
	s.roster.mu.Lock()
	s.roster.requested, s.roster.known, s.roster.ver = true, known, ver
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

// pushRoster announces a conversation the session's roster lacks.
func (s *session) pushRoster(ctx context.Context, m *core.Message) {
	s.roster.mu.Lock()
	defer s.roster.mu.Unlock()
	if !s.roster.requested || s.roster.known[m.Conversation] {
		return
	}
	items, known, err := s.rosterItems(ctx)
	if err != nil || !known[m.Conversation] {
		return
	}
	s.roster.known, s.roster.ver = known, rosterVersion(items)
	nw, ok := s.nets.get(ctx, m.Network)
	if !ok {
		return
	}
	it := itemOf(nw, core.Conversation{ID: m.Conversation, Network: m.Network, Peer: m.Peer}, s.srv.domain)
	s.send(el(nsClient, "iq", "type", "set", "id", "push-"+randomID()[:8], "to", s.full).
		add(el(nsRoster, "query", "ver", s.roster.ver).add(it.element())))
}
