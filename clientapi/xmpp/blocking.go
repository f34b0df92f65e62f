package xmpp

import (
	"context"
	"maps"
	"slices"
	"strings"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// Blocking (XEP-0191) applied to bridged contacts: nothing from a blocked
// address reaches the user's devices (their messages in rooms included,
// blocking nick@network), and nothing is sent to it. The list is stored,
// so it holds on every device and across restarts. An item that is a
// domain alone blocks every address on it (XEP-0016's matching order, which
// XEP-0191 follows): blocking libera.example.org silences the network.

const (
	nsBlocking       = "urn:xmpp:blocking"
	nsBlockingErrors = "urn:xmpp:blocking:errors"
)

// BlockListStore keeps the block lists.
type BlockListStore interface {
	BlockList(ctx context.Context, user core.UserID) ([]string, error)
	Block(ctx context.Context, user core.UserID, addresses []string) error
	Unblock(ctx context.Context, user core.UserID, addresses []string) error
}

// normalizeBlocked is the form addresses are stored and compared in: the
// bare JID, lowercased (domains and the networks' names are
// case-insensitive).
func normalizeBlocked(s string) (string, bool) {
	j, err := jid.Parse(s)
	if err != nil {
		return "", false
	}
	return strings.ToLower(j.Bare().String()), true
}

// blockedSet returns the user's block list, loaded once and kept current
// by the handlers below.
func (srv *Server) blockedSet(ctx context.Context, user core.UserID) map[string]bool {
	srv.mu.Lock()
	set, ok := srv.blocked[user]
	srv.mu.Unlock()
	if ok {
		return set
	}
	list, err := srv.store.BlockList(ctx, user)
	if err != nil {
		srv.log.Warn("reading the block list", "err", err)
		return nil
	}
	set = make(map[string]bool, len(list))
	for _, a := range list {
		set[a] = true
	}
	srv.mu.Lock()
	srv.blocked[user] = set
	srv.mu.Unlock()
	return set
}

// isBlocked reports whether address (any form) is on the user's list.
func (s *session) isBlocked(ctx context.Context, address string) bool {
	set := s.srv.blockedSet(ctx, s.user.ID)
	if len(set) == 0 {
		return false
	}
	a, ok := normalizeBlocked(address)
	if !ok {
		return false
	}
	if set[a] {
		return true
	}
	// An escaped localpart (XEP-0106) holds no '@', so the last one
	// starts the domain.
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		return set[a[at+1:]]
	}
	return false
}

func (s *session) handleBlocking(ctx context.Context, iq, payload *element) {
	typ := iq.attr("type")
	switch {
	case typ == "get" && payload.Name.Local == "blocklist":
		list := el(nsBlocking, "blocklist")
		set := s.srv.blockedSet(ctx, s.user.ID)
		if set == nil {
			s.send(iqError(iq, "wait", "internal-server-error", ""))
			return
		}
		for _, a := range sortedKeys(set) {
			list.add(el(nsBlocking, "item", "jid", a))
		}
		s.send(iqResult(iq).add(list))
	case typ == "set" && (payload.Name.Local == "block" || payload.Name.Local == "unblock"):
		var addrs []string
		for _, it := range payload.Children {
			if it.Name.Local != "item" {
				continue
			}
			a, ok := normalizeBlocked(it.attr("jid"))
			if !ok {
				s.send(iqError(iq, "modify", "jid-malformed", it.attr("jid")))
				return
			}
			addrs = append(addrs, a)
		}
		block := payload.Name.Local == "block"
		if block && len(addrs) == 0 {
			s.send(iqError(iq, "modify", "bad-request", "block at least one address"))
			return
		}
		var err error
		if block {
			err = s.srv.store.Block(ctx, s.user.ID, addrs)
		} else {
			err = s.srv.store.Unblock(ctx, s.user.ID, addrs)
		}
		if err != nil {
			s.log.Warn("changing the block list", "err", err)
			s.send(iqError(iq, "wait", "internal-server-error", ""))
			return
		}
		s.srv.mu.Lock()
		delete(s.srv.blocked, s.user.ID) // reloaded on next use
		s.srv.mu.Unlock()
		s.send(iqResult(iq))
		// Every device learns of the change (XEP-0191 §3.3).
		push := el(nsBlocking, payload.Name.Local)
		for _, a := range addrs {
			push.add(el(nsBlocking, "item", "jid", a))
		}
		for _, other := range s.srv.userSessions(s.user.ID) {
			other.send(el(nsClient, "iq", "type", "set", "id", "block-"+randomID()[:8], "to", other.full).add(push))
		}
	default:
		s.send(iqError(iq, "modify", "bad-request", ""))
	}
}

func (srv *Server) userSessions(user core.UserID) []*session {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	out := make([]*session, 0, len(srv.sessions[user]))
	for _, s := range srv.sessions[user] {
		out = append(out, s)
	}
	return out
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }
