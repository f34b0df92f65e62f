package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/switchboard/switchboard/core"
)

// maxQueryBytes bounds a search query.
const maxQueryBytes = 1024

// searchQuery reads ?q= (required), conversation, network, sender, since,
// until (RFC 3339), order=time|relevance, before (a message id, to page by
// time) and limit.
func searchQuery(r *http.Request, user core.UserID) (core.SearchQuery, *problem) {
	v := r.URL.Query()
	q := core.SearchQuery{User: user, Text: v.Get("q"), Sender: v.Get("sender")}
	if q.Text == "" {
		return q, badField("q", "q is required")
	}
	if len(q.Text) > maxQueryBytes {
		return q, badField("q", "q is longer than %d bytes", maxQueryBytes)
	}
	for _, id := range []struct {
		name string
		dst  *int64
	}{{"conversation", (*int64)(&q.Conversation)}, {"network", (*int64)(&q.Network)}} {
		if s := v.Get(id.name); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n <= 0 {
				return q, badField(id.name, "%s must be an id", id.name)
			}
			*id.dst = n
		}
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(t.name); s != "" {
			at, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, badField(t.name, "%s must be an RFC 3339 time such as 2026-01-31T00:00:00Z", t.name)
			}
			*t.dst = at
		}
	}
	switch v.Get("order") {
	case "", "time":
	case "relevance":
		q.Ranking = core.ByRelevance
	default:
		return q, badField("order", `order must be "time" or "relevance"`)
	}
	var p *problem
	if q.Before, p = messageIDParam(r, "before"); p != nil {
		return q, p
	}
	q.Limit, p = limitParam(r, 50)
	return q, p
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, a auth) {
	q, p := searchQuery(r, a.user.ID)
	if p != nil {
		s.writeProblem(w, r, p)
		return
	}
	res, err := s.store.Search(r.Context(), q)
	switch {
	case err == nil:
	case s.cfg.Errors.BadQuery(err):
		s.writeProblem(w, r, badField("q", "%v", err))
		return
	case s.cfg.Errors.NotFound(err):
		// The conversation or network filter names something that is
		// not the caller's.
		field := "network"
		if q.Conversation != 0 {
			field = "conversation"
		}
		p := notFound(field)
		p.Field = field
		s.writeProblem(w, r, p)
		return
	default:
		s.writeProblem(w, r, s.storeProblem(err, "search"))
		return
	}
	out := make([]searchResultJSON, 0, len(res))
	for _, r := range res {
		out = append(out, toSearchResultJSON(r))
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": out})
}
