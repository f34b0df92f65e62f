package irc

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
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
	metricFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_irc_connection_failures_total",
		Help: "IRC connections that ended, by class: temporary, throttled, banned, permanent.",
	}, []string{"class"})
	metricStates = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "switchboard_irc_networks",
		Help: "IRC networks by connection state.",
	}, []string{"state"})
)

func init() {
	prometheus.MustRegister(metricLines, metricSent, metricEvents, metricFailures, metricStates)
}

// networkStates is each network's last state, so the gauge counts every
// network once.
var (
	statesMu      sync.Mutex
	networkStates = make(map[core.NetworkID]core.ConnState)
)

func setStateMetric(n core.NetworkID, s core.ConnState) {
	statesMu.Lock()
	defer statesMu.Unlock()
	if old, ok := networkStates[n]; ok {
		metricStates.WithLabelValues(string(old)).Dec()
	}
	networkStates[n] = s
	metricStates.WithLabelValues(string(s)).Inc()
}
