package core

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// runner owns one running network: the bridge's Run loop, and a sender
// goroutine that drains the network's durable outbound queue in order and
// applies status changes.
type runner struct {
	hub     *Hub
	network Network
	bridge  Bridge
	log     *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup

	kickc chan struct{} // outbound queue has new items, or the bridge connected
	// retryNow makes the next drain ignore retry times: the network just
	// connected, so waiting messages should go out at once.
	retryNow atomic.Bool
	statusc  chan Status // latest status wins
	typingc  chan TypingEvent
	readc    chan ReadMarker

	mu   sync.Mutex
	last NetworkStateEvent
}

// outboundBatch is how many queued messages the sender reads at once.
const outboundBatch = 64

func newRunner(h *Hub, n Network, b Bridge, log *slog.Logger) *runner {
	return &runner{
		hub: h, network: n, bridge: b, log: log,
		kickc:   make(chan struct{}, 1),
		statusc: make(chan Status, 1),
		typingc: make(chan TypingEvent, 16),
		readc:   make(chan ReadMarker, 16),
		last:    NetworkStateEvent{User: n.User, Network: n.ID, State: StateConnecting, At: h.cfg.Now()},
	}
}

func (r *runner) start(initial Status) {
	ctx, cancel := context.WithCancel(r.hub.ctx)
	r.cancel = cancel
	r.setStatus(initial)
	r.hub.wg.Add(2)
	r.wg.Add(2)
	go r.runBridge(ctx)
	go r.send(ctx)
}

// stop cancels the bridge and sender; it does not wait, so it may be called
// with Hub.mu held.
func (r *runner) stop() { r.cancel() }

func (r *runner) runBridge(ctx context.Context) {
	defer r.hub.wg.Done()
	defer r.wg.Done()
	err := r.bridge.Run(ctx)
	if ctx.Err() != nil {
		return // stopped by the Hub
	}
	if err == nil {
		err = fmt.Errorf("bridge stopped without an error")
	}
	r.log.Error("network stopped; it will not reconnect until its settings change", "err", err)
	ev := NetworkStateEvent{User: r.network.User, Network: r.network.ID, State: StateFailed, Err: err.Error(), At: r.hub.cfg.Now()}
	r.setState(ev)
	_ = r.hub.post(ctx, r.network.User, &op{kind: opEvents, events: []Event{ev}})
}

func (r *runner) state() NetworkStateEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

func (r *runner) setState(e NetworkStateEvent) {
	r.mu.Lock()
	r.last = e
	r.mu.Unlock()
	if e.State == StateConnected {
		r.retryNow.Store(true)
		r.kick()
	}
}

func (r *runner) kick() {
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

func (r *runner) setStatus(s Status) {
	for {
		select {
		case r.statusc <- s:
			return
		default:
		}
		select { // replace the status not yet applied
		case <-r.statusc:
		default:
		}
	}
}

func (r *runner) typing(e TypingEvent) {
	select {
	case r.typingc <- e:
	default: // typing notifications are not worth queueing
	}
}

func (r *runner) readMarker(m ReadMarker) {
	select {
	case r.readc <- m:
	default: // a later position will follow; receipts are not worth queueing
	}
}

// send drains the outbound queue and applies status and typing changes.
// Waiting items block the ones behind them, which keeps the network's order.
func (r *runner) send(ctx context.Context) {
	defer r.hub.wg.Done()
	defer r.wg.Done()
	var wake <-chan time.Time
	for {
		retryAt, err := r.drain(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			r.log.Error("outbound queue", "err", err)
			retryAt = r.hub.cfg.Now().Add(5 * time.Second)
		}
		wake = nil
		if !retryAt.IsZero() {
			wake = time.After(retryAt.Sub(r.hub.cfg.Now())) // retryAt is on the Hub's clock
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kickc:
		case <-wake:
		case s := <-r.statusc:
			if err := r.bridge.SetStatus(ctx, s); err != nil && ctx.Err() == nil {
				r.log.Warn("setting status", "show", s.Show, "err", err)
			}
		case e := <-r.typingc:
			if t, ok := r.bridge.(TypingSender); ok {
				if err := t.SendTyping(ctx, e); err != nil && ctx.Err() == nil {
					r.log.Debug("sending typing notification", "err", err)
				}
			}
		case m := <-r.readc:
			if rs, ok := r.bridge.(ReadMarkerSender); ok {
				if err := rs.SendReadMarker(ctx, m); err != nil && ctx.Err() == nil {
					r.log.Debug("sending a read receipt", "err", err)
				}
			}
		}
	}
}

// drain sends queued messages until the queue is empty or an item must
// wait; it returns when to try that item again (zero: nothing waits).
func (r *runner) drain(ctx context.Context) (time.Time, error) {
	st := r.hub.cfg.Store
	retryNow := r.retryNow.Swap(false)
	bs, _ := r.bridge.(BatchSender)
	completer, _ := st.(OutboundBatchCompleter)
	for {
		items, err := st.PendingOutbound(ctx, r.network.ID, outboundBatch)
		if err != nil || len(items) == 0 {
			return time.Time{}, err
		}
		if bs != nil && completer != nil {
			sent, err := r.sendBatch(ctx, bs, completer, items, retryNow)
			if err != nil {
				return time.Time{}, err
			}
			if sent {
				continue
			}
		}
		for _, it := range items {
			if now := r.hub.cfg.Now(); !retryNow && it.NextAttempt.After(now) {
				return it.NextAttempt, nil
			}
			originID, err := r.bridge.Send(ctx, it.Message)
			switch {
			case err == nil:
				if err := st.CompleteOutbound(ctx, it.ID, originID); err != nil {
					return time.Time{}, err
				}
			case ctx.Err() != nil:
				return time.Time{}, nil
			case IsPermanent(err):
				r.log.Warn("outgoing message refused by network", "message", it.Message.ID, "err", err)
				if err := st.FailOutbound(ctx, it.ID, err.Error()); err != nil {
					return time.Time{}, err
				}
				ev := SendFailedEvent{User: r.network.User, Message: it.Message.ID, Reason: err.Error()}
				_ = r.hub.enqueue(ctx, r.network.User, &op{kind: opEvents, events: []Event{ev}})
			default:
				next := r.hub.cfg.Now().Add(RetryDelay(it.Attempts + 1))
				if err := st.RetryOutbound(ctx, it.ID, next, err.Error()); err != nil {
					return time.Time{}, err
				}
				return next, nil
			}
		}
	}
}

// sendBatch hands the due run at the head of items to a BatchSender and
// completes it in one transaction. sent is false when there was no run of
// two or more, or the bridge refused it: the caller then sends one at a
// time.
func (r *runner) sendBatch(ctx context.Context, bs BatchSender, completer OutboundBatchCompleter, items []OutboundItem, retryNow bool) (sent bool, err error) {
	now := r.hub.cfg.Now()
	n := 0
	for n < len(items) && (retryNow || !items[n].NextAttempt.After(now)) && items[n].Attempts == 0 {
		n++
	}
	if n < 2 {
		return false, nil
	}
	msgs := make([]*Message, n)
	ids := make([]int64, n)
	for i, it := range items[:n] {
		msgs[i], ids[i] = it.Message, it.ID
	}
	originIDs, err := bs.SendBatch(ctx, msgs)
	if err != nil || len(originIDs) != n {
		if ctx.Err() == nil {
			r.log.Debug("batch send refused; sending one at a time", "messages", n, "err", err)
		}
		return false, nil
	}
	return true, completer.CompleteOutboundBatch(ctx, ids, originIDs)
}

// RetryDelay is exponential backoff with full jitter, from one second to
// five minutes: attempt n waits between d/2 and d, d = min(1 s << n, 5 min).
// A reconnect kicks the queue sooner. Bridges that queue messages
// themselves (fed) retry on the same schedule.
func RetryDelay(attempt int) time.Duration {
	const base, ceiling = time.Second, 5 * time.Minute
	d := ceiling
	if attempt < 20 {
		d = min(base<<attempt, ceiling)
	}
	return d/2 + rand.N(d/2+1)
}
