package core

import (
	"strings"
	"testing"
)

func TestSendCarbonQueueAndBridge(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a, other := h.attach(alice, "phone"), h.attach(alice, "laptop")
	stranger := h.attach(bob, "phone")

	m := outMsg(aliceNet, "hi bob", "client-1")
	m.User = bob // a session cannot speak for another user
	got := h.send(a, m)
	if got.ID == 0 || got.User != alice || got.Direction != Outgoing || !got.Time.Equal(testTime) {
		t.Fatalf("Send returned %+v", *got)
	}
	if !h.store.has(got.ID) {
		t.Fatal("Send returned before the message was stored")
	}

	for _, s := range []*Session{other, a} {
		ev := next[MessageEvent](t, s)
		if ev.Message.ID != got.ID || ev.From != a.ID {
			t.Errorf("session %d got message %v from %d, want %v from %d", s.ID, ev.Message.ID, ev.From, got.ID, a.ID)
		}
	}
	expectNone(t, stranger)

	h.store.mu.Lock()
	queued := len(h.store.queued) == 1 && h.store.queued[0] == got.ID
	h.store.mu.Unlock()
	if !queued {
		t.Error("message was not queued outbound in the same Append")
	}
	b.awaitSent(t, got.ID)
	h.store.await(t, "the outbound item to complete with the network's id", func() bool {
		return h.store.completed[got.ID] == "net-1"
	})
	if _, ok := h.store.pending(got.ID); ok {
		t.Error("sent message still queued")
	}
}

func TestSendDuplicateOriginIDNotSentTwice(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a, other := h.attach(alice, "phone"), h.attach(alice, "laptop")

	first := h.send(a, outMsg(aliceNet, "once", "client-1"))
	next[MessageEvent](t, other)
	retry := h.send(a, outMsg(aliceNet, "once", "client-1")) // the client retries
	if retry.ID != first.ID {
		t.Fatalf("retry got id %v, want the stored %v", retry.ID, first.ID)
	}
	expectNone(t, other) // no second carbon

	// The queue keeps order, so once a later message is out, a second
	// copy of the first would have been sent already.
	later := h.send(a, outMsg(aliceNet, "later", "client-2"))
	b.awaitSent(t, later.ID)
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, id := range b.attempts {
		if id == first.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("message sent %d times, want once (attempts %v)", n, b.attempts)
	}
}

func TestSendRefused(t *testing.T) {
	h := startHub(t)
	h.bridge(aliceNet)
	h.bridge(bobNet)
	a := h.attach(alice, "phone")
	c := tctx(t)

	if _, err := h.hub.Send(c, a, outMsg(bobNet, "hijack", "")); err == nil {
		t.Error("Send through another user's network succeeded")
	}
	if _, err := h.hub.Send(c, a, outMsg(99, "nowhere", "")); err == nil {
		t.Error("Send through an unknown network succeeded")
	}
	bad := outMsg(aliceNet, "bad", "")
	bad.Kind = "shout"
	if _, err := h.hub.Send(c, a, bad); err == nil || !strings.Contains(err.Error(), "kind") {
		t.Errorf("Send of an invalid message: %v", err)
	}
	expectNone(t, a)
	if n := h.store.count(); n != 0 {
		t.Errorf("store holds %d messages after refused sends", n)
	}
}

func TestTypingFromSession(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a, other := h.attach(alice, "phone"), h.attach(alice, "laptop")

	// A bridge reporting the user's own typing (seen on the network) must
	// not have it sent back to the network.
	b.receive(t, TypingEvent{Peer: Peer{Direct, "bob"}, Direction: Outgoing, State: StatePaused})
	if e := next[TypingEvent](t, other); e.State != StatePaused {
		t.Errorf("got %+v", e)
	}
	// Incoming typing is shown, not sent.
	b.receive(t, TypingEvent{Peer: Peer{Direct, "bob"}, Sender: "bob", Direction: Incoming, State: StateComposing})
	next[TypingEvent](t, other)

	err := h.hub.Typing(tctx(t), a, TypingEvent{User: bob, Network: aliceNet, Peer: Peer{Direct, "bob"}, State: StateComposing})
	if err != nil {
		t.Fatalf("Typing: %v", err)
	}
	e := next[TypingEvent](t, other)
	if e.From != a.ID || e.User != alice || e.Direction != Outgoing {
		t.Errorf("carbon %+v", e)
	}
	b.await(t, "the typing notification at the bridge", func() bool { return len(b.typing) > 0 })
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.typing) != 1 || b.typing[0].From != a.ID || b.typing[0].State != StateComposing {
		t.Errorf("bridge got typing %+v, want only the session's", b.typing)
	}
	if err := h.hub.Typing(tctx(t), a, TypingEvent{Network: bobNet}); err == nil {
		t.Error("Typing through another user's network succeeded")
	}
}
