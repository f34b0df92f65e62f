package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Joining and leaving a network's rooms (an IRC channel, an XMPP group
// chat, a federated #room@domain), as a MUC join does on the XMPP port.
// Devices see the outcome as membership and members events.

// roomTarget is the network and room a room route names.
func (s *Server) roomTarget(r *http.Request, a auth) (core.Network, string, *problem) {
	n, room, p := s.contactTarget(r, a) // contacts.go: the same checks of {addr}
	if p != nil {
		return n, "", p
	}
	if s.hub.ParsePeer(n.Kind, room).Kind != core.Room {
		return n, "", badField("addr", "%q is not a room on this network", room)
	}
	return n, room, nil
}

func (s *Server) joinRoom(w http.ResponseWriter, r *http.Request, a auth) {
	n, room, p := s.roomTarget(r, a)
	if p == nil {
		p = roomProblem(s.hub.JoinRoom(r.Context(), a.user.ID, n.ID, room, ""))
	}
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) leaveRoom(w http.ResponseWriter, r *http.Request, a auth) {
	n, room, p := s.roomTarget(r, a)
	if p == nil {
		p = roomProblem(s.hub.LeaveRoom(r.Context(), a.user.ID, n.ID, room, ""))
	}
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// roomProblem is the answer to a refused join or leave; nil for nil.
func roomProblem(err error) *problem {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, core.ErrCannotJoin):
		return newProblem(http.StatusConflict, err.Error())
	case core.IsPermanent(err):
		return newProblem(http.StatusUnprocessableEntity, err.Error())
	}
	p := newProblem(http.StatusServiceUnavailable, "the network could not take the change now: "+err.Error())
	p.retryAfter = 5 * time.Second
	return p
}
