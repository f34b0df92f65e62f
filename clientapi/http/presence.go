package httpapi

import (
	"context"
	"net/http"

	"github.com/switchboard/switchboard/core"
)

type presenceRequest struct {
	// Show is one of available, chat, away, xa, dnd.
	Show string `json:"show"`
	Text string `json:"text,omitempty"`
}

// maxStatusText bounds a status message.
const maxStatusText = 1024

// setPresence sets the user's status on every network. The Hub's status
// is the most available among the user's attached sessions, so the API
// holds one session per user, device "http-presence", that carries the
// status set here until DELETE /api/v1/presence lets it go. While it is
// held the user counts as connected (no away-when-detached).
func (s *Server) setPresence(w http.ResponseWriter, r *http.Request, a auth) {
	var req presenceRequest
	if p := readJSON(w, r, &req); p != nil {
		s.writeProblem(w, r, p)
		return
	}
	show, ok := core.ParseShow(req.Show)
	if !ok || show == core.ShowOffline {
		s.writeProblem(w, r, badField("show", `show must be one of "available", "chat", "away", "xa", "dnd"`))
		return
	}
	if len(req.Text) > maxStatusText {
		s.writeProblem(w, r, badField("text", "text is longer than %d bytes", maxStatusText))
		return
	}
	sess, err := s.presenceSession(r.Context(), a.user.ID)
	if err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	if err := s.hub.SetStatus(r.Context(), sess, core.Status{Show: show, Text: req.Text}); err != nil {
		s.writeProblem(w, r, internal(err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) clearPresence(w http.ResponseWriter, r *http.Request, a auth) {
	s.presenceMu.Lock()
	sess := s.presence[a.user.ID]
	delete(s.presence, a.user.ID)
	s.presenceMu.Unlock()
	if sess != nil {
		sess.Detach()
	}
	w.WriteHeader(http.StatusNoContent)
}

// presenceSession returns the user's presence session, attaching it on
// first use. Its events are read and dropped: it exists to hold a status.
func (s *Server) presenceSession(ctx context.Context, user core.UserID) (*core.Session, error) {
	s.presenceMu.Lock()
	defer s.presenceMu.Unlock()
	if sess := s.presence[user]; sess != nil && sess.Err() == nil {
		return sess, nil
	}
	sess, err := s.hub.Attach(ctx, user, "http-presence")
	if err != nil {
		return nil, err
	}
	s.presence[user] = sess
	go func() {
		for {
			if _, err := nextEvent(context.Background(), sess); err != nil {
				return
			}
		}
	}()
	return sess, nil
}

// dropPresence detaches every presence session (at shutdown).
func (s *Server) dropPresence() {
	s.presenceMu.Lock()
	defer s.presenceMu.Unlock()
	for id, sess := range s.presence {
		sess.Detach()
		delete(s.presence, id)
	}
}
