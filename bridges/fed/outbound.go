package fed

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// DefaultMaxAge is how long an event is retried before its sender is told
// it failed.
const DefaultMaxAge = 72 * time.Hour

// enqueue puts an event for another domain in that peer's durable queue
// and wakes the peer's worker.
func (s *Service) enqueue(ctx context.Context, m *core.Message, ev Event, peerDomain string) error {
	q, err := s.queued(m.User, m.ID, ev, peerDomain)
	if err != nil {
		return err
	}
	return s.enqueueAll(ctx, []core.FedQueued{q})
}

// queued is the queue entry of user's event for peerDomain, about stored
// message msg (zero for events that are not messages); a domain the
// Service may not reach is a permanent error.
func (s *Service) queued(user core.UserID, msg core.MessageID, ev Event, peerDomain string) (core.FedQueued, error) {
	if s.queue == nil {
		return core.FedQueued{}, core.Permanent(fmt.Errorf("%s: federation with other domains is not enabled on this server", peerDomain))
	}
	if _, err := s.peer(peerDomain); err != nil {
		return core.FedQueued{}, core.Permanent(err)
	}
	payload, err := json.Marshal(ev)
	if err != nil {
		return core.FedQueued{}, core.Permanent(err)
	}
	return core.FedQueued{Peer: peerDomain, EventID: ev.ID, User: user, Message: msg, Payload: payload, Created: s.now()}, nil
}

// enqueueAll stores entries in one transaction and wakes their peers'
// workers.
func (s *Service) enqueueAll(ctx context.Context, qs []core.FedQueued) error {
	if err := s.checkQueueBound(ctx, qs); err != nil {
		return err
	}
	return s.enqueueBounded(ctx, qs)
}

// enqueueBounded is enqueueAll for entries already within the bound.
func (s *Service) enqueueBounded(ctx context.Context, qs []core.FedQueued) error {
	if _, err := s.queue.EnqueueFed(ctx, qs); err != nil {
		return err
	}
	kicked := make(map[string]bool)
	for _, q := range qs {
		if !kicked[q.Peer] {
			kicked[q.Peer] = true
			if p, err := s.peer(q.Peer); err == nil {
				s.kick(p)
			}
		}
	}
	return nil
}

// checkQueueBound refuses the events of a user who has too many waiting
// for one peer: the peer may be down for days, and one user's backlog
// delays every other user's events to it. The refusal is permanent, so
// the sending device is told at once.
func (s *Service) checkQueueBound(ctx context.Context, qs []core.FedQueued) error {
	type userPeer struct {
		user core.UserID
		peer string
	}
	adding := make(map[userPeer]int)
	var order []userPeer
	for _, q := range qs {
		k := userPeer{q.User, q.Peer}
		if adding[k] == 0 {
			order = append(order, k)
		}
		adding[k]++
	}
	for _, k := range order {
		waiting, err := s.queue.CountFed(ctx, k.peer, k.user)
		if err != nil {
			return err
		}
		if waiting+adding[k] > s.maxQueued {
			metricOutEvents.WithLabelValues("refused_queue_full").Add(float64(adding[k]))
			return core.Permanent(fmt.Errorf("%d events to %s are still waiting for delivery, and at most %d may wait: "+
				"send again once %s is reachable", waiting, k.peer, s.maxQueued, k.peer))
		}
	}
	return nil
}

// purgeEvery is how often failed events past their retention are
// deleted; the first purge is purgeFirst after the start, when the
// daemon's start-up work is done.
const (
	purgeEvery = time.Hour
	purgeFirst = time.Minute
)

// purgeFailed runs purgeOnce now and then until ctx ends.
func (s *Service) purgeFailed(ctx context.Context) {
	t := time.NewTimer(purgeFirst)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.purgeOnce(ctx)
		t.Reset(purgeEvery)
	}
}

// purgeOnce deletes failed events created more than MaxAge +
// FailedRetention ago: their senders were told when they failed, and
// their payloads must not pile up for ever.
func (s *Service) purgeOnce(ctx context.Context) {
	n, err := s.queue.PurgeFailedFed(ctx, s.now().Add(-s.maxAge-s.failedRetention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Warn("purging failed federation events", "err", err)
	case n > 0:
		s.log.Info("purged failed federation events", "events", n)
	}
}

// Run delivers the outbound queues until ctx ends: it starts a worker for
// every peer with waiting events, and more as events are queued.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	s.runCtx = ctx
	s.mu.Unlock()
	if s.queue != nil {
		peers, err := s.queue.FedPeersPending(ctx)
		if err != nil {
			return fmt.Errorf("listing federation peers with waiting events: %w", err)
		}
		for _, d := range peers {
			p, err := s.peer(d)
			if err != nil {
				s.log.Warn("events queued for a peer this server may no longer reach", "peer", d, "err", err)
				continue
			}
			s.kick(p)
		}
		s.workers.Add(1)
		go func() { defer s.workers.Done(); s.purgeFailed(ctx) }()
	}
	if s.keyDir != "" {
		s.workers.Add(1)
		go func() { defer s.workers.Done(); s.reloadKeys(ctx) }()
	}
	<-ctx.Done()
	s.workers.Wait()
	return nil
}

// kick wakes p's worker, starting it if needed (once Run has started).
// The kick is left under s.mu, so a worker deciding to stop (retire)
// sees every kick given while it counted as running.
func (s *Service) kick(p *peer) {
	s.mu.Lock()
	ctx := s.runCtx
	start := ctx != nil && ctx.Err() == nil && !p.running
	if start {
		p.running = true
		s.workers.Add(1)
	}
	select {
	case p.kickc <- struct{}{}:
	default:
	}
	s.mu.Unlock()
	if start {
		go s.work(ctx, p)
	}
}

// retire stops p's worker unless it was kicked meanwhile, and lets go of
// p's connections: a domain written to once must not keep a goroutine
// and a transport for the life of the daemon. It reports whether the
// worker stopped.
func (s *Service) retire(p *peer) bool {
	s.mu.Lock()
	select {
	case <-p.kickc:
		s.mu.Unlock()
		return false
	default:
	}
	p.running = false
	s.mu.Unlock()
	p.releaseClient()
	metricWorkersStopped.Inc()
	return true
}

// work delivers p's queue in order, in batches, until ctx ends.
func (s *Service) work(ctx context.Context, p *peer) {
	defer s.workers.Done()
	limit := MaxBatch
	for ctx.Err() == nil {
		wait, single, err := s.deliverOnce(ctx, p, limit)
		if err != nil && ctx.Err() == nil {
			s.log.Error("federation queue", "peer", p.domain, "err", err)
			wait = 5 * time.Second
		}
		if wait == queueEmpty {
			// Nothing waits: stay for a while for more, then stop.
			t := time.NewTimer(s.workerIdle)
			select {
			case <-ctx.Done():
			case <-p.kickc:
			case <-t.C:
				if s.retire(p) {
					return
				}
			}
			t.Stop()
			continue
		}
		// After a batch the peer refused as a whole, events go one at a
		// time until the bad one is found; then batches again.
		if single {
			limit = 1
		} else if err == nil && wait == 0 {
			limit = MaxBatch
		}
		if wait == 0 {
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-p.kickc:
		}
		t.Stop()
	}
}

// queueEmpty is deliverOnce's wait when nothing is queued.
const queueEmpty time.Duration = -1

// workerIdle is how long a worker with nothing queued waits for more
// before it stops; the next kick starts a new one.
const workerIdle = 2 * time.Minute

// deliverOnce sends the next batch. It returns how long to wait before
// the next one (zero: go on at once), and single when the peer refused
// the batch as a whole.
func (s *Service) deliverOnce(ctx context.Context, p *peer, limit int) (wait time.Duration, single bool, err error) {
	items, err := s.queue.PendingFed(ctx, p.domain, limit)
	if err != nil {
		return 0, false, err
	}
	if len(items) == 0 {
		return queueEmpty, false, nil
	}
	now := s.now()
	due := now
	if p.retryNow.Swap(false) {
		// The peer was heard from: what waits for its backoff goes now.
		for _, it := range items {
			due = maxTime(due, it.NextAttempt)
		}
	}
	if d := items[0].NextAttempt.Sub(due); d > 0 {
		return d, false, nil
	}
	// Events past the age limit fail; the rest that are due go out.
	var send, expired []core.FedQueued
	size := len(`{"events":[]}`)
	for _, it := range items {
		switch {
		case now.Sub(it.Created) > s.maxAge:
			expired = append(expired, it)
		case it.NextAttempt.After(due):
			// Only the events due now, so one batch shares one backoff.
		case len(send) > 0 && size+len(it.Payload)+1 > MaxRequestBytes:
			// The rest waits for the next request: a body over the
			// receiver's limit would be refused whole (413).
		default:
			send = append(send, it)
			size += len(it.Payload) + 1
			continue
		}
		if len(send) > 0 {
			break
		}
	}
	if len(expired) > 0 {
		reason := fmt.Sprintf("not delivered to %s within %s", p.domain, s.maxAge)
		if err := s.fail(ctx, expired, reason); err != nil {
			return 0, false, err
		}
	}
	if len(send) == 0 {
		return 0, false, nil
	}
	var body bytes.Buffer
	body.WriteString(`{"events":[`)
	for i, it := range send {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(it.Payload)
	}
	body.WriteString(`]}`)
	status, answer, retryAfter, err := p.post(ctx, "events", body.Bytes())
	if ctx.Err() != nil {
		return 0, false, nil
	}
	var res BatchResult
	switch {
	case err != nil:
	case status == http.StatusOK:
		if jerr := json.Unmarshal(answer, &res); jerr != nil || len(res.Results) != len(send) {
			err = fmt.Errorf("%s answered %d results for %d events", p.domain, len(res.Results), len(send))
		}
	case (status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge) && len(send) > 1:
		return 0, true, nil
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		return 0, false, s.fail(ctx, send, fmt.Sprintf("%s refused the message (%d): %s", p.domain, status, answer))
	default:
		err = fmt.Errorf("%s answered %d: %.200s", p.domain, status, answer)
	}
	if err != nil {
		next := max(core.RetryDelay(send[0].Attempts+1), retryAfter)
		ids := make([]int64, len(send))
		for i, it := range send {
			ids[i] = it.ID
		}
		metricRetries.Inc()
		p.backingOff.Store(true)
		s.log.Info("federation delivery failed; will retry", "peer", p.domain, "events", len(send), "in", next.Round(time.Millisecond), "err", err)
		return 0, false, s.queue.RetryFed(ctx, ids, now.Add(next), err.Error())
	}
	p.backingOff.Store(false)
	var done []int64
	var delivered []core.FedQueued
	for i, r := range res.Results {
		switch r.Status {
		case StatusAccepted, StatusDuplicate:
			done = append(done, send[i].ID)
			delivered = append(delivered, send[i])
			metricOutEvents.WithLabelValues("delivered").Inc()
		default:
			if err := s.fail(ctx, send[i:i+1], fmt.Sprintf("%s refused the message: %s", p.domain, r.Error)); err != nil {
				return 0, false, err
			}
		}
	}
	if err := s.queue.CompleteFed(ctx, done); err != nil {
		return 0, false, err
	}
	s.tellDelivered(ctx, delivered)
	return 0, false, nil
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// earlyRetryEvery bounds how often requests from a peer cut its backoff
// short: a peer that can reach us while we cannot reach it must not make
// every one of its requests a delivery attempt.
const earlyRetryEvery = 30 * time.Second

// heardFrom is told of every authenticated request from p: if events wait
// for p's backoff, p is back and they go at once rather than after up to
// 5 minutes.
func (s *Service) heardFrom(p *peer) {
	if !p.backingOff.Load() {
		return
	}
	now := s.now()
	s.mu.Lock()
	early := now.Sub(p.lastEarlyRetry) >= earlyRetryEvery
	if early {
		p.lastEarlyRetry = now
	}
	s.mu.Unlock()
	if early {
		p.retryNow.Store(true)
		s.kick(p)
	}
}

// tellDelivered shows each sender's devices that the peer stored their
// messages, one Hub call per sender.
func (s *Service) tellDelivered(ctx context.Context, items []core.FedQueued) {
	bySender := make(map[core.UserID][]core.Event)
	var order []core.UserID
	for _, it := range items {
		if it.Message == 0 {
			continue
		}
		if _, ok := bySender[it.User]; !ok {
			order = append(order, it.User)
		}
		bySender[it.User] = append(bySender[it.User], core.DeliveredEvent{Message: it.Message})
	}
	for _, u := range order {
		s.mu.Lock()
		b := s.byUser[u]
		s.mu.Unlock()
		if b == nil {
			continue
		}
		if err := b.env.Inbound.Receive(ctx, bySender[u]...); err != nil && ctx.Err() == nil {
			s.log.Warn("telling the sender of delivered events", "user", u, "err", err)
		}
	}
}

// fail gives up on events and tells each sender's devices.
func (s *Service) fail(ctx context.Context, items []core.FedQueued, reason string) error {
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	if err := s.queue.FailFed(ctx, ids, reason); err != nil {
		return err
	}
	metricOutEvents.WithLabelValues("failed").Add(float64(len(items)))
	for _, it := range items {
		s.log.Warn("federation event failed", "peer", it.Peer, "event", it.EventID, "reason", reason)
		if strings.HasPrefix(it.EventID, readIDPrefix) {
			continue // a read receipt (ephemeral.go): nothing to show
		}
		if it.Message == 0 { // a subscription event (presence.go)
			s.queuedSubscriptionFailed(ctx, it, reason)
			continue
		}
		s.mu.Lock()
		b := s.byUser[it.User]
		s.mu.Unlock()
		if b == nil || it.Message == 0 {
			continue // the sender's network is gone, or a room's home sent it; the failure stays in the queue table
		}
		ev := core.SendFailedEvent{Message: it.Message, Reason: reason}
		if err := b.env.Inbound.Receive(ctx, ev); err != nil && ctx.Err() == nil {
			s.log.Warn("telling the sender of a failed event", "event", it.EventID, "err", err)
		}
	}
	return nil
}
