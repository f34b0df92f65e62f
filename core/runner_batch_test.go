package core

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// batchBridge is a fakeBridge that also takes batches; its first Send
// waits for gate, so messages pile up in the queue behind it.
type batchBridge struct {
	*fakeBridge
	gate     chan struct{}
	once     sync.Once
	mu       sync.Mutex
	batches  [][]string // bodies of each batch
	batchErr error
}

func (b *batchBridge) Send(ctx context.Context, m *Message) (string, error) {
	b.once.Do(func() { <-b.gate })
	return b.fakeBridge.Send(ctx, m)
}

func (b *batchBridge) SendBatch(ctx context.Context, msgs []*Message) ([]string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var bodies, ids []string
	for _, m := range msgs {
		bodies = append(bodies, m.Body)
		ids = append(ids, "batch-"+m.Body)
	}
	b.batches = append(b.batches, bodies)
	if b.batchErr != nil {
		return nil, b.batchErr
	}
	b.fakeBridge.mu.Lock()
	for _, m := range msgs {
		b.fakeBridge.sent = append(b.fakeBridge.sent, *m)
	}
	b.fakeBridge.changedLocked()
	b.fakeBridge.mu.Unlock()
	return ids, nil
}

func batchHarness(t *testing.T, batchErr error) (*harness, *batchBridge) {
	var h *harness
	var mu sync.Mutex
	wrappers := make(map[*fakeBridge]*batchBridge) // a sync may build a spare
	h = newHarness(t, func(c *HubConfig) {
		reg := &Registry{}
		reg.Register(BridgeKind{Kind: fakeKind, New: func(env BridgeEnv) (Bridge, error) {
			b, _ := h.newBridge(env)
			if env.Network.ID != aliceNet {
				return b, nil
			}
			bb := &batchBridge{fakeBridge: b.(*fakeBridge), gate: make(chan struct{}), batchErr: batchErr}
			mu.Lock()
			wrappers[bb.fakeBridge] = bb
			mu.Unlock()
			return bb, nil
		}})
		c.Bridges = reg
	})
	h.start()
	fb := h.bridge(aliceNet)
	mu.Lock()
	defer mu.Unlock()
	return h, wrappers[fb]
}

// TestOutboundBatch: messages queued behind a slow send go to a
// BatchSender in one call, in order, and leave the queue with its ids.
func TestOutboundBatch(t *testing.T) {
	h, bb := batchHarness(t, nil)
	a := h.attach(alice, "phone")
	var ms []*Message
	for i := range 4 {
		ms = append(ms, h.send(a, outMsg(aliceNet, fmt.Sprintf("m%d", i), "")))
	}
	close(bb.gate)
	h.store.await(t, "the queue to empty", func() bool { return len(h.store.queue) == 0 })
	bb.mu.Lock()
	defer bb.mu.Unlock()
	// How the four split depends on when the sender wakes; whatever goes
	// alone is held by the gate, so at least one batch forms.
	if len(bb.batches) == 0 || len(bb.batches[0]) < 2 {
		t.Fatalf("batches %v", bb.batches)
	}
	bb.fakeBridge.mu.Lock()
	var bodies []string
	for _, m := range bb.fakeBridge.sent {
		bodies = append(bodies, m.Body)
	}
	bb.fakeBridge.mu.Unlock()
	if fmt.Sprint(bodies) != "[m0 m1 m2 m3]" {
		t.Fatalf("sent %v", bodies)
	}
	h.store.mu.Lock()
	defer h.store.mu.Unlock()
	for _, m := range ms {
		if got := h.store.completed[m.ID]; got != "batch-"+m.Body && got == "" {
			t.Errorf("%s completed with origin id %q", m.Body, got)
		}
	}
}

// TestOutboundBatchRefused: a refused batch is sent one message at a time.
func TestOutboundBatchRefused(t *testing.T) {
	h, bb := batchHarness(t, errors.New("peer refused the batch"))
	a := h.attach(alice, "phone")
	for i := range 3 {
		h.send(a, outMsg(aliceNet, fmt.Sprintf("m%d", i), ""))
	}
	close(bb.gate)
	h.store.await(t, "the queue to empty", func() bool { return len(h.store.queue) == 0 })
	bb.fakeBridge.mu.Lock()
	defer bb.fakeBridge.mu.Unlock()
	var bodies []string
	for _, m := range bb.fakeBridge.sent {
		bodies = append(bodies, m.Body)
	}
	if fmt.Sprint(bodies) != "[m0 m1 m2]" {
		t.Fatalf("sent %v", bodies)
	}
}
