package xmpp

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The bridge's Prometheus metrics, registered with the default registry
// that /metrics serves.
var (
	metricStanzas = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_stanzas_received_total",
		Help: "Stanzas read from upstream XMPP servers.",
	})
	metricSent = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_messages_sent_total",
		Help: "Messages written to upstream XMPP servers.",
	})
	metricArchived = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "switchboard_xmpp_archive_messages_total",
		Help: "Messages read from upstream archives (MAM) to fill gaps.",
	})
)

func init() {
	prometheus.MustRegister(metricStanzas, metricSent, metricArchived)
}
