package httpapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Server builds the HTTP handler of the HTTPS port.
type Server struct {
	log     *slog.Logger
	started time.Time
	version string
}

// New returns a Server.
func New(log *slog.Logger, version string) *Server {
	return &Server{log: log, started: time.Now(), version: version}
}

// Handler routes every path the port serves.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	// Counters and gauges only: no user's names or messages.
	mux.Handle("GET /metrics", promhttp.Handler())
	return mux
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"status":  "ok",
		"version": s.version,
		"uptime":  time.Since(s.started).Round(time.Second).String(),
	})
}
