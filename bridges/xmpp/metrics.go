package xmpp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
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
	metricFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_xmpp_connection_failures_total",
		Help: "XMPP connections that ended, by class: temporary, untrusted, permanent.",
	}, []string{"class"})
	metricStates = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_xmpp_accounts",
		Help: "Upstream XMPP accounts by connection state.",
	}, []string{"state"})
)

func init() {
	prometheus.MustRegister(metricStanzas, metricSent, metricArchived, metricFailures, metricStates)
}

// accountStates is each network's last state, so the gauge counts every
// account once.
var (
	statesMu      sync.Mutex
	accountStates = make(map[core.NetworkID]core.ConnState)
)

func setStateMetric(n core.NetworkID, s core.ConnState) {
	statesMu.Lock()
	defer statesMu.Unlock()
	if old, ok := accountStates[n]; ok {
		metricStates.WithLabelValues(string(old)).Dec()
	}
	accountStates[n] = s
	metricStates.WithLabelValues(string(s)).Inc()
}
