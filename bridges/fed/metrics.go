package fed

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The federation's Prometheus metrics, registered with the default
// registry that /metrics serves. Labels are fixed words, never domains,
// so a hostile peer cannot grow the series.
var (
	metricOutEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_fed_events_sent_total",
		Help: "Federation events for other domains by outcome: delivered, failed (rejected or too old), refused_queue_full, ephemeral (typing sent), typing_dropped, room_dropped_queue_full (a room event not queued for a member server with a full backlog), invitation (sent once by a room's home), invitation_dropped.",
	}, []string{"result"})
	metricInEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_fed_events_received_total",
		Help: "Federation events received from other domains by answer: accepted, duplicate or rejected.",
	}, []string{"result"})
	metricRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_fed_requests_refused_total",
		Help: "Federation requests refused, by problem type (docs/federation.md, section 6).",
	}, []string{"type"})
	metricRetries = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_fed_delivery_retries_total",
		Help: "Batches of federation events a peer did not take, to be sent again.",
	})
	metricWorkersStopped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_fed_workers_stopped_total",
		Help: "Delivery workers stopped after their peer's queue stayed empty.",
	})
)

func init() {
	prometheus.MustRegister(metricOutEvents, metricInEvents, metricRefused, metricRetries, metricWorkersStopped)
}
