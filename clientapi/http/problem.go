package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// problem is an RFC 9457 problem detail. It is the only error shape the
// API writes; cause is kept for the log and never sent.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	// Field names the request member at fault: a JSON member ("body",
	// "settings.addr"), a query parameter ("q") or a header
	// ("Idempotency-Key").
	Field string `json:"field,omitempty"`

	cause      error
	retryAfter time.Duration
}

func (p *problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%d %s: %v", p.Status, p.Detail, p.cause)
	}
	return fmt.Sprintf("%d %s", p.Status, p.Detail)
}

func (p *problem) Unwrap() error { return p.cause }

func newProblem(status int, detail string) *problem {
	return &problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail}
}

// badField is a 400 naming the member at fault.
func badField(field, format string, args ...any) *problem {
	p := newProblem(http.StatusBadRequest, fmt.Sprintf(format, args...))
	p.Field = field
	return p
}

func notFound(what string) *problem { return newProblem(http.StatusNotFound, what+" not found") }

// internal hides cause from the client; the log gets it.
func internal(cause error) *problem {
	p := newProblem(http.StatusInternalServerError, "internal error; the server log has the cause")
	p.cause = cause
	return p
}

// writeProblem writes p as application/problem+json.
func (s *Server) writeProblem(w http.ResponseWriter, r *http.Request, p *problem) {
	if p.Status >= 500 {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", p)
	}
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	if p.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(p.retryAfter.Round(time.Second)/time.Second)+1))
	}
	if p.Status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="switchboard"`)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// writeJSON writes v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
