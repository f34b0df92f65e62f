package httpapi

import (
	"net/http"
	"time"

	"github.com/switchboard/switchboard/core"
)

// The rooms the user's networks are in, and joining and leaving them (an
// IRC channel, an XMPP group chat, a federated #room@domain), as a MUC
// join does on the XMPP port. Devices see joins and leaves as membership
// and members events; a device that arrives later reads the rooms here.

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

type roomJSON struct {
	Network int64        `json:"network"`
	Room    string       `json:"room"`
	Joined  bool         `json:"joined"` // the network sent the member list
	Self    string       `json:"self,omitempty"`
	Topic   *topicJSON   `json:"topic,omitempty"`
	Members []memberJSON `json:"members,omitempty"`
}

type topicJSON struct {
	Topic string    `json:"topic"`
	SetBy string    `json:"set_by,omitempty"`
	At    time.Time `json:"at,omitzero"`
}

func toRoomJSON(st core.RoomState) roomJSON {
	out := roomJSON{Network: int64(st.Network), Room: st.Room, Joined: st.Joined, Self: st.Self}
	if t := st.Topic; t.Topic != "" {
		out.Topic = &topicJSON{t.Topic, t.SetBy, t.At.UTC()}
	}
	for _, m := range st.Members {
		out.Members = append(out.Members, memberJSON(m))
	}
	return out
}

// listRooms lists the rooms the user's running networks are in, without
// their members (a big channel has thousands).
func (s *Server) listRooms(w http.ResponseWriter, r *http.Request, a auth) {
	rooms := s.hub.Rooms(a.user.ID)
	out := make([]roomJSON, 0, len(rooms))
	for _, st := range rooms {
		out = append(out, toRoomJSON(st))
	}
	writeJSON(w, http.StatusOK, map[string]any{"rooms": out})
}

// getRoom is one room with its members, sorted by nick.
func (s *Server) getRoom(w http.ResponseWriter, r *http.Request, a auth) {
	n, room, p := s.roomTarget(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	st, ok := s.hub.Room(a.user.ID, n.ID, room)
	if !ok {
		s.writeProblem(w, r, newProblem(http.StatusNotFound, "the network is not in this room"))
		return
	}
	writeJSON(w, http.StatusOK, toRoomJSON(st))
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
	return changeProblem(err, core.ErrCannotJoin, "") // contacts.go
}
