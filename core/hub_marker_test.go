package core

import "testing"

func TestMarkRead(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s1, s2 := h.attach(alice, "phone"), h.attach(alice, "laptop")
	other := h.attach(bob, "phone")

	m1, m2 := chat("one"), chat("two")
	b.receive(t, MessageEvent{Message: m1}, MessageEvent{Message: m2})
	next[MessageEvent](t, s1)
	next[MessageEvent](t, s1)
	next[MessageEvent](t, s2)
	next[MessageEvent](t, s2)
	conv := m2.Conversation

	mark := func(s *Session, upto MessageID) {
		t.Helper()
		// User is forged: the Hub must use the session's.
		err := h.hub.MarkRead(tctx(t), s, ReadMarker{User: bob, Conversation: conv, Upto: upto})
		if err != nil {
			t.Fatalf("MarkRead: %v", err)
		}
	}

	mark(s1, m2.ID)
	h.store.mu.Lock()
	stored := h.store.markers[markerKey{alice, conv, ""}]
	h.store.mu.Unlock()
	if stored != m2.ID {
		t.Fatalf("store has marker %v, want %v", stored, m2.ID)
	}
	for _, s := range []*Session{s1, s2} {
		ev := next[ReadMarkerEvent](t, s)
		if ev.From != s1.ID || ev.User != alice || ev.Upto != m2.ID || ev.Conversation != conv || !ev.At.Equal(testTime) {
			t.Errorf("session %d: %+v", s.ID, ev)
		}
	}
	expectNone(t, other)

	mark(s2, m1.ID) // behind the stored marker
	mark(s2, m2.ID) // equal to it
	expectNone(t, s1)
	expectNone(t, s2)
}
