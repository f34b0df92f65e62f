package httpapi

import (
	"net/http"
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
			cl.Contacts = append(cl.Contacts, contactJSON{Addr: c.Addr, Name: c.Name, Groups: c.Groups, Subscription: string(c.Subscription), Asked: c.Asked})
		}
		out = append(out, cl)
	}
	writeJSON(w, http.StatusOK, map[string]any{"networks": out})
}
