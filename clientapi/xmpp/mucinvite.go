package xmpp

import (
	"context"
	"errors"

	"mellium.im/xmpp/jid"

	"github.com/switchboard/switchboard/core"
)

// maxInvites bounds the invitations one message may carry.
const maxInvites = 16

// handleRoomInvites passes a mediated invitation (XEP-0045 §7.8.2), a
// message to the room with <x xmlns='…muc#user'><invite to='…'/></x>, to
// the room's network. It reports whether m was one; a refusal is bounced.
func (s *session) handleRoomInvites(ctx context.Context, m *element, r resolved) bool {
	x := m.child(nsMUCUser, "x")
	if x == nil {
		return false
	}
	var invites []*element
	for _, c := range x.Children {
		if c.Name.Space == nsMUCUser && c.Name.Local == "invite" {
			invites = append(invites, c)
		}
	}
	if len(invites) == 0 {
		return false
	}
	if len(invites) > maxInvites {
		s.send(bounce(m, "modify", "policy-violation", "too many invitations in one message"))
		return true
	}
	for _, inv := range invites {
		to, err := jid.Parse(inv.attr("to"))
		if err != nil || to.Localpart() == "" {
			s.send(bounce(m, "modify", "jid-malformed", "invite whom? to='user@domain'"))
			return true
		}
		// The invitee as the room's network names users: a native
		// address on a fed network, else the network's contact.
		invitee := to.Bare().String()
		if nr, ok := s.nets.resolve(ctx, invitee, s.srv.domain); ok && nr.network.ID == r.network.ID {
			invitee = nr.peer.Remote
		}
		err = s.srv.hub.InviteToRoom(ctx, s.user.ID, r.network.ID, r.peer.Remote, invitee, inv.childText(nsMUCUser, "reason"))
		switch {
		case errors.Is(err, core.ErrCannotInvite):
			s.send(bounce(m, "cancel", "feature-not-implemented", err.Error()))
			return true
		case core.IsPermanent(err):
			s.send(bounce(m, "cancel", "not-allowed", err.Error()))
			return true
		case err != nil:
			s.send(bounce(m, "wait", "remote-server-timeout", err.Error()))
			return true
		}
	}
	return true
}
