package irc

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The bridge's Prometheus metrics, registered with the default registry
// that /metrics serves.
var (
	metricLines = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_irc_lines_received_total",
		Help: "IRC lines read from servers.",
	})
	metricSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_irc_lines_sent_total",
		Help: "Message lines written to IRC servers.",
	})
	metricEvents = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_irc_events_delivered_total",
		Help: "Events handed from IRC bridges to the hub.",
	})
)

func init() {
	prometheus.MustRegister(metricLines, metricSent, metricEvents)
}
