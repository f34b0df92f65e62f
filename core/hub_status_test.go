package core

import "testing"

func setStatus(t *testing.T, h *harness, s *Session, show Show, text string) {
	t.Helper()
	if err := h.hub.SetStatus(tctx(t), s, Status{Show: show, Text: text}); err != nil {
		t.Fatalf("SetStatus: %v", err)
	}
}

// expectStatus waits for the bridge to apply want and for every session to
// be told of it.
func expectStatus(t *testing.T, b *fakeBridge, want Status, sessions ...*Session) {
	t.Helper()
	b.awaitStatus(t, want)
	for _, s := range sessions {
		if ev := next[StatusEvent](t, s); ev.Status != want || ev.User != b.env.User.ID {
			t.Errorf("session %d told %+v, want %+v", s.ID, ev, want)
		}
	}
}

func TestStatusMostAvailableWins(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	b.awaitStatus(t, Status{Show: ShowAvailable}) // applied when the network starts
	s1, s2 := h.attach(alice, "phone"), h.attach(alice, "laptop")

	setStatus(t, h, s1, ShowAway, "lunch")
	expectNone(t, s1) // s2 is still available: nothing changed
	setStatus(t, h, s2, ShowDND, "busy")
	expectStatus(t, b, Status{Show: ShowDND, Text: "busy"}, s1, s2)

	setStatus(t, h, s2, ShowXA, "")
	expectStatus(t, b, Status{Show: ShowAway, Text: "lunch"}, s1, s2)
	setStatus(t, h, s1, ShowChat, "talk to me")
	expectStatus(t, b, Status{Show: ShowChat, Text: "talk to me"}, s1, s2)

	// Detaching the most available session falls back to the others.
	s1.Detach()
	expectStatus(t, b, Status{Show: ShowXA}, s2)

	// bob's networks never hear alice's status.
	bb := h.bridge(bobNet)
	bb.mu.Lock()
	defer bb.mu.Unlock()
	for _, st := range bb.statuses {
		if st.Show != ShowAvailable {
			t.Errorf("bob's bridge got status %+v", st)
		}
	}
}

func TestStatusAwayWhenDetached(t *testing.T) {
	away := Status{Show: ShowXA, Text: "not at a device"}
	h := startHub(t, func(c *HubConfig) { c.AwayWhenDetached, c.AwayStatus = true, away })
	b := h.bridge(aliceNet)
	b.awaitStatus(t, away) // nobody attached yet

	s1 := h.attach(alice, "phone")
	expectStatus(t, b, Status{Show: ShowAvailable}, s1)
	s2 := h.attach(alice, "laptop")
	setStatus(t, h, s1, ShowDND, "")
	s2.Detach()
	expectStatus(t, b, Status{Show: ShowDND}, s1)
	s1.Detach()
	b.awaitStatus(t, away)
	waitClosed(t, s1)

	// A network started while alice is away starts away.
	h.store.setNetwork(Network{ID: 11, User: alice, Name: "second", Kind: fakeKind, Enabled: true})
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	h.bridge(11).awaitStatus(t, away)
}

func TestAwayStatusDefaultsToAway(t *testing.T) {
	h := newHarness(t, func(c *HubConfig) { c.AwayWhenDetached = true })
	if got := h.hub.cfg.AwayStatus.Show; got != ShowAway {
		t.Errorf("AwayStatus.Show = %v, want away", got)
	}
	if got := h.hub.cfg.SessionQueue; got != 1024 {
		t.Errorf("SessionQueue = %d, want the default 1024", got)
	}
}
