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
		if !s.invite(ctx, m, r, invitee, inv.childText(nsMUCUser, "reason")) {
			return true
		}
	}
	return true
}

// handleDirectInvite passes a direct invitation (XEP-0249), a message to
// a contact with <x xmlns='jabber:x:conference' jid='room'/>, to the
// room's network, as a mediated one would be. It reports whether m was
// one; a refusal is bounced.
func (s *session) handleDirectInvite(ctx context.Context, m *element, to resolved) bool {
	x := m.child(nsConference, "x")
	if x == nil || to.peer.Kind == core.Room {
		return false
	}
	room, ok := s.nets.resolve(ctx, x.attr("jid"), s.srv.domain)
	if !ok || room.peer.Kind != core.Room || room.resource != "" {
		s.send(bounce(m, "modify", "bad-request", "invite to which room? jid='room@network."+s.srv.domain+"'"))
		return true
	}
	// The invitee as the room's network names users.
	invitee := to.peer.Remote
	if to.network.ID != room.network.ID {
		invitee = m.attr("to")
		if bare, err := jid.Parse(invitee); err == nil {
			invitee = bare.Bare().String()
		}
	}
	s.invite(ctx, m, room, invitee, x.attr("reason"))
	return true
}

// invite asks room's network to invite invitee, bouncing m with what
// refused it; false when it was refused.
func (s *session) invite(ctx context.Context, m *element, room resolved, invitee, reason string) bool {
	err := s.srv.hub.InviteToRoom(ctx, s.user.ID, room.network.ID, room.peer.Remote, invitee, reason)
	switch {
	case errors.Is(err, core.ErrCannotInvite):
		s.send(bounce(m, "cancel", "feature-not-implemented", err.Error()))
	case core.IsPermanent(err):
		s.send(bounce(m, "cancel", "not-allowed", err.Error()))
	case err != nil:
		s.send(bounce(m, "wait", "remote-server-timeout", err.Error()))
	default:
		return true
	}
	return false
}
