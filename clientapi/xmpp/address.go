package xmpp

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// Addresses on the port (DESIGN.md): each network is a sub-domain of the
// server's domain; its contacts and rooms are local parts there, escaped
// per XEP-0106: nick@libera.example.org, #go@libera.example.org.

// networks caches a user's networks by sub-domain label.
type networks struct {
	store     Store
	user      core.UserID
	parsePeer func(core.NetworkKind, string) core.Peer
	// self is the user's bare JID, which is never a federated contact.
	self string

	mu     sync.Mutex
	byName map[string]core.Network
	byID   map[core.NetworkID]core.Network
}

func newNetworks(store Store, hub Hub, user core.UserID) *networks {
	return &networks{store: store, user: user, parsePeer: hub.ParsePeer}
}

// remoteOf is a network name as its conversations are filed, for
// addresses the networks give (presence, a room occupant's nick).
func (n *networks) remoteOf(nw core.Network, name string) string {
	return n.parsePeer(nw.Kind, name).Remote
}

func (n *networks) load(ctx context.Context) error {
	list, err := n.store.Networks(ctx, n.user)
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byName = make(map[string]core.Network, len(list))
	n.byID = make(map[core.NetworkID]core.Network, len(list))
	for _, nw := range list {
		n.byName[nw.Name] = nw
		n.byID[nw.ID] = nw
	}
	return nil
}

// byLabel finds a network by its sub-domain, reloading once on a miss: the
// CLI may have added it since.
func (n *networks) byLabel(ctx context.Context, label string) (core.Network, bool) {
	return n.find(ctx, func() (core.Network, bool) { nw, ok := n.byName[label]; return nw, ok })
}

func (n *networks) get(ctx context.Context, id core.NetworkID) (core.Network, bool) {
	return n.find(ctx, func() (core.Network, bool) { nw, ok := n.byID[id]; return nw, ok })
}

// find runs lookup under the lock, and again after reloading if it missed.
func (n *networks) find(ctx context.Context, lookup func() (core.Network, bool)) (core.Network, bool) {
	n.mu.Lock()
	nw, ok := lookup()
	n.mu.Unlock()
	if ok || n.load(ctx) != nil {
		return nw, ok
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return lookup()
}

func (n *networks) all() []core.Network {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]core.Network, 0, len(n.byID))
	for _, nw := range n.byID {
		out = append(out, nw)
	}
	return out
}

// networkDomain is a network's sub-domain.
func networkDomain(nw core.Network, domain string) string { return nw.Name + "." + domain }

// peerJID is the address of a contact or room on the port. Federated
// contacts keep their native user@domain (DESIGN.md).
func peerJID(nw core.Network, remote, domain string) string {
	if nw.Kind == core.KindFed && strings.Contains(remote, "@") {
		return remote
	}
	if strings.ContainsAny(remote, jidEscaped) {
		remote = escapeLocal(remote)
	}
	return remote + "@" + nw.Name + "." + domain
}

// jidEscaped are the characters XEP-0106 escapes in a local part; most
// nicks and channel names have none, and skipping the escaper for them
// matters on the path every delivered message takes.
const jidEscaped = " \"&'/:<>@\\"

// escapeLocal escapes a name for a local part as XEP-0106 says (§4.2),
// each backslash included, so unescapeLocal gives back what it was given
// whatever it holds (FuzzEscapeLocal). mellium's jid.Escape (v0.22.0) drops bytes of an
// escape that falls on its transform buffer's edge.
func escapeLocal(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		if c := s[i]; strings.IndexByte(jidEscaped, c) >= 0 {
			fmt.Fprintf(&b, `\%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// resolved is a stanza's `to` understood as a network peer.
type resolved struct {
	network  core.Network
	peer     core.Peer
	resource string // a room occupant's nick
}

// resolve maps an address on the port to a network and peer. ok is false
// for addresses that are not a network's contact or room.
func (n *networks) resolve(ctx context.Context, to, domain string) (resolved, bool) {
	j, err := jid.Parse(to)
	if err != nil || j.Localpart() == "" {
		return resolved{}, false
	}
	label, ok := strings.CutSuffix(j.Domainpart(), "."+domain)
	if !ok || label == "" || strings.Contains(label, ".") {
		return n.resolveFed(ctx, j, domain)
	}
	nw, ok := n.byLabel(ctx, label)
	if !ok {
		return resolved{}, false
	}
	// The bridge decides what the name is (a room or a contact) and how
	// it is folded, so a name typed here finds its conversation.
	r := resolved{network: nw, resource: j.Resourcepart(), peer: n.parsePeer(nw.Kind, unescapeLocal(j.Localpart()))}
	return r, true
}

// resolveFed maps a native address, user@DOMAIN or user@other.example, to
// the user's fed network. Sub-domains of DOMAIN are networks, never
// federated servers, and the user's own JID is not a contact.
func (n *networks) resolveFed(ctx context.Context, j jid.JID, domain string) (resolved, bool) {
	d := j.Domainpart()
	if strings.HasSuffix(d, "."+domain) {
		return resolved{}, false
	}
	bare := j.Localpart() + "@" + d
	if strings.EqualFold(bare, n.self) {
		return resolved{}, false
	}
	nw, ok := n.find(ctx, func() (core.Network, bool) {
		var first core.Network // the oldest, should a user have two
		for _, nw := range n.byID {
			if nw.Kind == core.KindFed && nw.Enabled && (first.ID == 0 || nw.ID < first.ID) {
				first = nw
			}
		}
		return first, first.ID != 0
	})
	if !ok {
		return resolved{}, false
	}
	return resolved{network: nw, peer: n.parsePeer(nw.Kind, bare), resource: j.Resourcepart()}, true
}

// unescapeLocal undoes XEP-0106 escaping. mellium's jid.Unescape (as of
// v0.22.0) turns "\40" into the byte 0xCA instead of "@", which made
// every XMPP contact (bob\40example.net@work.DOMAIN) unreachable; only
// the ten sequences the XEP defines are undone, the rest is kept as is.
func unescapeLocal(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+2 < len(s) {
			if c, ok := xep0106[s[i+1:i+3]]; ok {
				b.WriteByte(c)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var xep0106 = map[string]byte{
	"20": ' ', "22": '"', "26": '&', "27": '\'', "2f": '/', "3a": ':', "3c": '<', "3e": '>', "40": '@', "5c": '\\',
}
