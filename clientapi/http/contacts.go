package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

// The networks' contact lists (an XMPP account's roster), as the Hub
// holds them while the networks run; see core/contacts.go.

type contactJSON struct {
	Addr         string   `json:"addr"`
	Name         string   `json:"name,omitempty"`
	Groups       []string `json:"groups,omitempty"`
	Subscription string   `json:"subscription"`
	// Asked: the user's request for the contact's presence is unanswered.
	Asked bool `json:"asked,omitempty"`
	// Show and Status are the contact's last known presence.
	Show   string `json:"show"`
	Status string `json:"status,omitempty"`
}

func toContactJSON(c core.Contact) contactJSON {
	return contactJSON{Addr: c.Addr, Name: c.Name, Groups: c.Groups, Subscription: string(c.Subscription),
		Asked: c.Asked, Show: c.Presence.Show.String(), Status: c.Presence.Text}
}

type contactListJSON struct {
	Network  int64         `json:"network"`
	Contacts []contactJSON `json:"contacts"`
	// Pending are the addresses asking to see the user's presence that no
	// device has answered.
	Pending []string `json:"pending"`
}

func (s *Server) listContacts(w http.ResponseWriter, r *http.Request, a auth) {
	lists := s.hub.Contacts(a.user.ID)
	out := make([]contactListJSON, 0, len(lists))
	for _, l := range lists {
		cl := contactListJSON{Network: int64(l.Network), Contacts: make([]contactJSON, 0, len(l.Contacts)), Pending: l.Pending}
		if cl.Pending == nil {
			cl.Pending = []string{}
		}
		for _, c := range l.Contacts {
			cl.Contacts = append(cl.Contacts, toContactJSON(c))
		}
		out = append(out, cl)
	}
	writeJSON(w, http.StatusOK, map[string]any{"networks": out})
}

type contactRequest struct {
	Name   string   `json:"name"`
	Groups []string `json:"groups"`
}

type subscriptionRequest struct {
	// Action is ask (to see the contact's presence), allow or deny (the
	// contact's request, or revoke what was allowed), or cancel (stop
	// seeing the contact's presence).
	Action string `json:"action"`
}

// Limits of a contact's name and groups.
const (
	maxContactName = 255
	maxGroups      = 32
)

// contactTarget is the network and address a contact route names.
func (s *Server) contactTarget(r *http.Request, a auth) (core.Network, string, *problem) {
	n, p := s.userNetwork(r, a)
	if p != nil {
		return n, "", p
	}
	addr := strings.TrimSpace(r.PathValue("addr"))
	if addr == "" || len(addr) > 255 || !utf8.ValidString(addr) || strings.ContainsAny(addr, "\r\n\x00") {
		return n, "", badField("addr", "addr must be an address on the network, 1 to 255 characters on one line")
	}
	return n, s.hub.ParsePeer(n.Kind, addr).Remote, nil
}

// contactProblem is the answer to a refused contact change.
func contactProblem(err error) *problem {
	return changeProblem(err, core.ErrNoContacts, "this network keeps no contact list")
}

// changeProblem is the answer to a change a network's bridge was asked
// for (a contact, a room), nil for nil: 409 when the bridge cannot make
// such changes (unsupported; detail, or the error's text), 422 when the
// network refused for good, else 503 to try again.
func changeProblem(err, unsupported error, detail string) *problem {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unsupported):
		if detail == "" {
			detail = err.Error()
		}
		return newProblem(http.StatusConflict, detail)
	case core.IsPermanent(err):
		return newProblem(http.StatusUnprocessableEntity, err.Error())
	}
	p := newProblem(http.StatusServiceUnavailable, "the network could not take the change now: "+err.Error())
	p.retryAfter = 5 * time.Second
	return p
}

func (s *Server) putContact(w http.ResponseWriter, r *http.Request, a auth) {
	var req contactRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	n, addr, p := s.contactTarget(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if len(req.Name) > maxContactName || strings.ContainsAny(req.Name, "\r\n\x00") {
		s.writeProblem(w, r, badField("name", "name must be at most %d bytes on one line", maxContactName))
		return
	}
	if len(req.Groups) > maxGroups {
		s.writeProblem(w, r, badField("groups", "at most %d groups", maxGroups))
		return
	}
	for _, g := range req.Groups {
		if g == "" || len(g) > maxContactName || strings.ContainsAny(g, "\r\n\x00") {
			s.writeProblem(w, r, badField("groups", "a group is 1 to %d bytes on one line", maxContactName))
			return
		}
	}
	err := s.hub.SetContact(r.Context(), a.user.ID, core.Contact{Network: n.ID, Addr: addr, Name: req.Name, Groups: req.Groups})
	if err != nil {
		s.writeProblem(w, r, contactProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) deleteContact(w http.ResponseWriter, r *http.Request, a auth) {
	n, addr, p := s.contactTarget(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if err := s.hub.RemoveContact(r.Context(), a.user.ID, n.ID, addr); err != nil {
		s.writeProblem(w, r, contactProblem(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// changeSubscription asks, allows, denies or cancels a presence
// subscription; the outcome arrives on the event stream as contact and
// subscription events.
func (s *Server) changeSubscription(w http.ResponseWriter, r *http.Request, a auth) {
	var req subscriptionRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	n, addr, p := s.contactTarget(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	ctx := r.Context()
	var err error
	switch req.Action {
	case "ask":
		err = s.hub.Subscribe(ctx, a.user.ID, n.ID, addr)
	case "allow", "deny":
		err = s.hub.AnswerSubscription(ctx, a.user.ID, n.ID, addr, req.Action == "allow")
	case "cancel":
		err = s.hub.Unsubscribe(ctx, a.user.ID, n.ID, addr)
	default:
		s.writeProblem(w, r, badField("action", `action must be one of "ask", "allow", "deny", "cancel"`))
		return
	}
	if err != nil {
		s.writeProblem(w, r, contactProblem(err))
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
