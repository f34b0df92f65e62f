package main

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
)

// Metrics measured where cmd wires the store to its users: every message
// the Hub stores passes through Append, and every store call of the Hub
// and the HTTP API through these wrappers. Labels are network kinds and
// operation names, never user or network names (those are a user's own,
// and unbounded).
var (
	metricMessages = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_messages_total",
		Help: "Messages stored (duplicates not counted), by network kind and direction (in: from the network, out: from a device).",
	}, []string{"kind", "direction"})
	metricStoreSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "switchboard_store_seconds",
		Help:    "Latency of store operations, by operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 5},
	}, []string{"op"})
)

func init() {
	prometheus.MustRegister(metricMessages, metricStoreSeconds)
}

func observe(op string, start time.Time) {
	metricStoreSeconds.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// meteredStore is the store the Hub uses, measured.
type meteredStore struct {
	core.Store

	mu    sync.Mutex
	kinds map[core.NetworkID]core.NetworkKind // from EnabledNetworks, which the Hub calls on every sync
}

func newMeteredStore(st core.Store) *meteredStore {
	return &meteredStore{Store: st, kinds: make(map[core.NetworkID]core.NetworkKind)}
}

func (m *meteredStore) Append(ctx context.Context, writes []core.Write) error {
	defer observe("append", time.Now())
	err := m.Store.Append(ctx, writes)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, w := range writes {
		if w.Duplicate {
			continue
		}
		kind := m.kinds[w.Message.Network]
		if kind == "" {
			kind = "unknown"
		}
		metricMessages.WithLabelValues(string(kind), w.Message.Direction.String()).Inc()
	}
	return nil
}

func (m *meteredStore) EnabledNetworks(ctx context.Context) ([]core.Network, error) {
	defer observe("enabled_networks", time.Now())
	nets, err := m.Store.EnabledNetworks(ctx)
	if err == nil {
		m.mu.Lock()
		for _, n := range nets {
			m.kinds[n.ID] = n.Kind
		}
		m.mu.Unlock()
	}
	return nets, err
}

func (m *meteredStore) SetReadMarker(ctx context.Context, r core.ReadMarker) (bool, error) {
	defer observe("set_read_marker", time.Now())
	return m.Store.SetReadMarker(ctx, r)
}

func (m *meteredStore) PendingOutbound(ctx context.Context, n core.NetworkID, limit int) ([]core.OutboundItem, error) {
	defer observe("pending_outbound", time.Now())
	return m.Store.PendingOutbound(ctx, n, limit)
}

// CompleteOutboundBatch keeps the store's batch completion visible
// through the wrapper (core.OutboundBatchCompleter).
func (m *meteredStore) CompleteOutboundBatch(ctx context.Context, items []int64, originIDs []string) error {
	c, ok := m.Store.(core.OutboundBatchCompleter)
	if !ok {
		return errors.New("store cannot complete outbound items in batches")
	}
	defer observe("complete_outbound", time.Now())
	return c.CompleteOutboundBatch(ctx, items, originIDs)
}

func (m *meteredStore) CompleteOutbound(ctx context.Context, item int64, originID string) error {
	defer observe("complete_outbound", time.Now())
	return m.Store.CompleteOutbound(ctx, item, originID)
}

// meteredAPIStore is the store the HTTP API uses, its reads measured.
type meteredAPIStore struct{ *history.Store }

func (m meteredAPIStore) Messages(ctx context.Context, q core.PageQuery) ([]*core.Message, error) {
	defer observe("messages", time.Now())
	return m.Store.Messages(ctx, q)
}

func (m meteredAPIStore) Search(ctx context.Context, q core.SearchQuery) ([]core.SearchResult, error) {
	defer observe("search", time.Now())
	return m.Store.Search(ctx, q)
}

func (m meteredAPIStore) ConversationSummaries(ctx context.Context, u core.UserID) ([]core.ConversationSummary, error) {
	defer observe("conversation_summaries", time.Now())
	return m.Store.ConversationSummaries(ctx, u)
}

func (m meteredAPIStore) UserMessages(ctx context.Context, q core.UserPageQuery) ([]*core.Message, error) {
	defer observe("user_messages", time.Now())
	return m.Store.UserMessages(ctx, q)
}

func (m meteredAPIStore) TokenByHash(ctx context.Context, hash []byte) (core.AccessToken, error) {
	defer observe("token_by_hash", time.Now())
	return m.Store.TokenByHash(ctx, hash)
}
