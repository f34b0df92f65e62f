package httpapi

import (
	"context"
	"net/http"
	"regexp"
	"strconv"

	"github.com/switchboard/switchboard/core"
)

type networkCreateRequest struct {
	Name     string            `json:"name"`
	Kind     core.NetworkKind  `json:"kind"`
	Enabled  *bool             `json:"enabled,omitempty"` // default true
	Settings map[string]string `json:"settings,omitempty"`
}

// networkUpdateRequest is a merge patch: settings named with a string are
// set, with null removed, and settings not named stay as they are.
type networkUpdateRequest struct {
	Enabled  *bool              `json:"enabled,omitempty"`
	Settings map[string]*string `json:"settings,omitempty"`
}

// settingKey finds the key a bridge's error names: `setting "addr": ...`.
var settingKey = regexp.MustCompile(`^setting "([^"]+)"`)

// validateNetwork runs the CLI's validation and names the setting at
// fault when the bridge's error says which.
func (s *Server) validateNetwork(kind core.NetworkKind, settings core.Settings) *problem {
	if s.cfg.ValidateNetwork == nil {
		return nil
	}
	if err := s.cfg.ValidateNetwork(kind, settings); err != nil {
		field := "settings"
		if m := settingKey.FindStringSubmatch(err.Error()); m != nil {
			field = "settings." + m[1]
		}
		return badField(field, "%v", err)
	}
	return nil
}

func (s *Server) networkStates(user core.UserID) map[core.NetworkID]*core.NetworkStateEvent {
	out := make(map[core.NetworkID]*core.NetworkStateEvent)
	for _, st := range s.hub.NetworkStates(user) {
		out[st.Network] = &st
	}
	return out
}

func (s *Server) listNetworks(w http.ResponseWriter, r *http.Request, a auth) {
	nets, err := s.store.Networks(r.Context(), a.user.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	states := s.networkStates(a.user.ID)
	out := make([]networkJSON, 0, len(nets))
	for _, n := range nets {
		out = append(out, toNetworkJSON(n, states[n.ID]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"networks": out})
}

func (s *Server) createNetwork(w http.ResponseWriter, r *http.Request, a auth) {
	var req networkCreateRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if err := core.ValidateNetworkName(req.Name); err != nil {
		s.writeProblem(w, r, badField("name", "%v", err))
		return
	}
	if req.Kind == "" {
		s.writeProblem(w, r, badField("kind", "kind is required"))
		return
	}
	n := core.Network{User: a.user.ID, Name: req.Name, Kind: req.Kind, Enabled: true, Settings: core.Settings{}}
	if req.Enabled != nil {
		n.Enabled = *req.Enabled
	}
	for k, v := range req.Settings {
		n.Settings[k] = v
	}
	// The CLI's default too: an IRC nick is the user's name unless given.
	if n.Kind == core.KindIRC && n.Settings["nick"] == "" {
		n.Settings["nick"] = a.user.Name
	}
	if p := s.validateNetwork(n.Kind, n.Settings); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	n, err := s.store.CreateNetwork(r.Context(), n)
	if s.cfg.Errors.Exists(err) {
		p := newProblem(http.StatusConflict, "a network named "+strconv.Quote(req.Name)+" exists")
		p.Field = "name"
		s.writeProblem(w, r, p)
		return
	}
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	s.syncNetworks(r.Context())
	w.Header().Set("Location", "/api/v1/networks/"+strconv.FormatInt(int64(n.ID), 10))
	writeJSON(w, http.StatusCreated, toNetworkJSON(n, s.networkStates(a.user.ID)[n.ID]))
}

// syncNetworks applies a change at once: the daemon's poll of the store
// does not see writes made through the store's own connection.
func (s *Server) syncNetworks(ctx context.Context) {
	if err := s.hub.SyncNetworks(ctx); err != nil {
		s.log.Warn("applying network changes", "err", err)
	}
}

// userNetwork finds one of the user's networks by the path's id.
func (s *Server) userNetwork(r *http.Request, a auth) (core.Network, *problem) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return core.Network{}, badField("id", "id must be a network id")
	}
	nets, err := s.store.Networks(r.Context(), a.user.ID)
	if err != nil {
		return core.Network{}, internal(err)
	}
	for _, n := range nets {
		if n.ID == core.NetworkID(id) {
			return n, nil
		}
	}
	return core.Network{}, notFound("network")
}

func (s *Server) updateNetwork(w http.ResponseWriter, r *http.Request, a auth) {
	var req networkUpdateRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	n, p := s.userNetwork(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	for k, v := range req.Settings {
		if v == nil {
			delete(n.Settings, k)
		} else {
			n.Settings[k] = *v
		}
	}
	if req.Enabled != nil {
		n.Enabled = *req.Enabled
	}
	if p := s.validateNetwork(n.Kind, n.Settings); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	if err := s.store.UpdateNetwork(r.Context(), n); err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "network"))
		return
	}
	s.syncNetworks(r.Context())
	writeJSON(w, http.StatusOK, toNetworkJSON(n, s.networkStates(a.user.ID)[n.ID]))
}

func (s *Server) deleteNetwork(w http.ResponseWriter, r *http.Request, a auth) {
	n, p := s.userNetwork(r, a)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	// Like the CLI's --yes: history goes with the network, so it takes
	// an explicit ?with_history=true.
	if r.URL.Query().Get("with_history") != "true" {
		convs, err := s.store.Conversations(r.Context(), a.user.ID)
		if err != nil {
			s.writeProblem(w, r, internal(err))
			return
		}
		for _, c := range convs {
			if c.Network == n.ID {
				p := newProblem(http.StatusConflict, "the network has history; delete with ?with_history=true, or disable it to keep the history")
				p.Field = "with_history"
				s.writeProblem(w, r, p)
				return
			}
		}
	}
	if err := s.store.DeleteNetwork(r.Context(), a.user.ID, n.ID); err != nil {
		s.writeProblem(w, r, s.storeProblem(err, "network"))
		return
	}
	s.syncNetworks(r.Context())
	w.WriteHeader(http.StatusNoContent)
}
