package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The port's Prometheus metrics, on the default registry /metrics serves.
// Labels are routes and ports, never a user's names.
var (
	// metricSessions counts connected device sessions by port; the XMPP
	// port can report into the same family (see the README).
	metricSessions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_sessions",
		Help: "Connected device sessions, by port.",
	}, []string{"port"})
	metricRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_http_requests_total",
		Help: "HTTP requests answered, by route and status code.",
	}, []string{"route", "code"})
	metricRequestSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_http_request_seconds",
		Help:    "Time to answer an HTTP request (to the end of the stream for /api/v1/events), by route.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
	}, []string{"route"})
)

func init() {
	prometheus.MustRegister(metricSessions, metricRequests, metricRequestSeconds)
}

// SessionsGauge is the connected-sessions gauge of a port, for ports
// outside this package.
func SessionsGauge(port string) prometheus.Gauge { return metricSessions.WithLabelValues(port) }

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// instrument counts and times a route's requests.
func instrument(route string, h http.Handler) http.Handler {
	hist := metricRequestSeconds.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		hist.Observe(time.Since(start).Seconds())
		metricRequests.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
	})
}
