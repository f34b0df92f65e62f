package core

import "testing"

// A bridge that asks learns which of the messages it handed over the
// store dropped as already held (federation answers "duplicate").
func TestReceiveReportingDuplicates(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	rep, ok := b.env.Inbound.(DuplicateReporter)
	if !ok {
		t.Fatal("the Hub's Inbound does not report duplicates")
	}
	first := chat("once")
	first.OriginID = "ev-1"
	dup, err := rep.ReceiveReporting(tctx(t), MessageEvent{Message: first})
	if err != nil || len(dup) != 1 || dup[0] {
		t.Fatalf("first delivery: %v, %v", dup, err)
	}
	again, other := chat("once"), chat("new")
	again.OriginID, other.OriginID = "ev-1", "ev-2"
	typing := TypingEvent{Peer: again.Peer, Direction: Incoming, State: StateComposing}
	dup, err = rep.ReceiveReporting(tctx(t), MessageEvent{Message: again}, typing, MessageEvent{Message: other})
	if err != nil || len(dup) != 3 || !dup[0] || dup[1] || dup[2] {
		t.Fatalf("second delivery: %v, %v; want [true false false]", dup, err)
	}
	if again.ID != first.ID {
		t.Errorf("duplicate got id %v, want the stored %v", again.ID, first.ID)
	}
}

// The user's read position goes to bridges that pass read receipts on;
// a device's own position does not.
func TestReadMarkerReachesBridge(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	m := chat("read me")
	b.receive(t, MessageEvent{Message: m})
	next[MessageEvent](t, s)
	for _, device := range []string{"phone", ""} {
		if err := h.hub.MarkRead(tctx(t), s, ReadMarker{Conversation: m.Conversation, Device: device, Upto: m.ID}); err != nil {
			t.Fatal(err)
		}
	}
	b.await(t, "the read marker at the bridge", func() bool { return len(b.reads) > 0 })
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.reads) != 1 || b.reads[0].Device != "" || b.reads[0].Upto != m.ID || b.reads[0].User != alice {
		t.Errorf("bridge got %+v, want the user's position only", b.reads)
	}
}

// A peer's read receipt from a bridge reaches the user's sessions,
// stamped with the bridge's user and network.
func TestPeerReadEventStamped(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	b.receive(t, PeerReadEvent{User: bob, Network: 999, Peer: Peer{Kind: Direct, Remote: "bob"}, Upto: 42})
	e := next[PeerReadEvent](t, s)
	if e.User != alice || e.Network != aliceNet || e.Upto != 42 {
		t.Errorf("got %+v", e)
	}
}
