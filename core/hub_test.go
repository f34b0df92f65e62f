package core

import (
	"context"
	"errors"
	"testing"
)

func TestInboundStoredBeforeSeen(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")

	gate := make(chan struct{})
	h.store.mu.Lock()
	h.store.appendGate = gate
	h.store.mu.Unlock()

	m := chat("hello")
	errc := make(chan error, 1)
	go func() { errc <- b.env.Inbound.Receive(tctx(t), MessageEvent{Message: m}) }()

	h.store.await(t, "Append to be called", func() bool { return h.store.appendWaiting > 0 })
	// The dispatcher is inside Append: nothing may have reached the session.
	expectNone(t, s)
	select {
	case err := <-errc:
		t.Fatalf("Receive returned (%v) before the store committed", err)
	default:
	}
	close(gate)

	ev := next[MessageEvent](t, s)
	if ev.Message.ID == 0 {
		t.Fatal("session saw a message without a server id")
	}
	if !h.store.has(ev.Message.ID) {
		t.Fatalf("session saw message %v that the store does not hold", ev.Message.ID)
	}
	if ev.Message.Conversation == 0 || ev.From != 0 || ev.Message.Body != "hello" {
		t.Errorf("delivered %+v (From %d)", *ev.Message, ev.From)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Receive: %v", err)
	}
}

func TestFanoutIsolatesUsers(t *testing.T) {
	h := startHub(t)
	ba := h.bridge(aliceNet)
	a1, a2 := h.attach(alice, "phone"), h.attach(alice, "laptop")
	b1 := h.attach(bob, "phone")

	// alice's bridge pretends its events belong to bob.
	m := chat("for alice only")
	m.User, m.Network = bob, bobNet
	ba.receive(t,
		MessageEvent{Message: m, From: b1.ID},
		PresenceEvent{User: bob, Network: bobNet, Contact: "carol", Status: Status{Show: ShowAway}},
		TypingEvent{User: bob, Network: bobNet, Peer: Peer{Direct, "carol"}, State: StateComposing, From: b1.ID},
		MembershipEvent{User: bob, Network: bobNet, Room: "#go", Member: Member{Nick: "carol"}},
		TopicEvent{User: bob, Network: bobNet, Room: "#go", Topic: "t"},
		NetworkStateEvent{User: bob, Network: bobNet, State: StateConnected},
	)

	for _, s := range []*Session{a1, a2} {
		me := next[MessageEvent](t, s)
		if me.Message.User != alice || me.Message.Network != aliceNet || me.From != 0 {
			t.Errorf("message delivered as user %d network %d from %d; want the bridge's own %d/%d/0",
				me.Message.User, me.Message.Network, me.From, alice, aliceNet)
		}
		for range 5 {
			e := recv(t, s)
			if e.EventUser() != alice {
				t.Errorf("%T delivered with user %d", e, e.EventUser())
			}
			var net NetworkID
			switch e := e.(type) {
			case PresenceEvent:
				net = e.Network
			case TypingEvent:
				net = e.Network
				if e.From != 0 {
					t.Errorf("bridge typing event kept From %d", e.From)
				}
			case MembershipEvent:
				net = e.Network
			case TopicEvent:
				net = e.Network
			case NetworkStateEvent:
				net = e.Network
			default:
				t.Fatalf("unexpected %T", e)
			}
			if net != aliceNet {
				t.Errorf("%T delivered with network %d", e, net)
			}
		}
	}
	// Receive returned, so anything meant for bob would be queued by now.
	expectNone(t, b1)
	stored, ok := h.store.message(m.ID)
	if !ok || stored.User != alice || stored.Network != aliceNet {
		t.Errorf("store holds %+v, want it under alice's network", stored)
	}
	if st := h.hub.NetworkStates(bob); len(st) != 1 || st[0].State != StateConnecting {
		t.Errorf("bob's network state changed by alice's bridge: %+v", st)
	}
}

func TestBridgeCannotSendHubEvents(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	b.receive(t,
		StatusEvent{User: alice, Status: Status{Show: ShowChat}},
		ReadMarkerEvent{ReadMarker: ReadMarker{User: alice, Conversation: 1, Upto: 1}},
		MessageEvent{Message: chat("real")},
	)
	if e := recv(t, s); e.(MessageEvent).Message.Body != "real" {
		t.Fatalf("got %+v", e)
	}
	expectNone(t, s)
}

// A bridge that queues messages itself tells of a failure after Send
// returned; the failure goes to the bridge's own user whatever it names.
func TestBridgeSendFailedStampedWithItsUser(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	sb := h.attach(bob, "phone")
	b.receive(t, SendFailedEvent{User: bob, Message: 1, Reason: "peer gone"}, DeliveredEvent{User: bob, Message: 2})
	if e, ok := recv(t, s).(SendFailedEvent); !ok || e.User != alice || e.Reason != "peer gone" {
		t.Fatalf("alice got %+v", e)
	}
	if e, ok := recv(t, s).(DeliveredEvent); !ok || e.User != alice || e.Message != 2 {
		t.Fatalf("alice got %+v", e)
	}
	expectNone(t, sb)
}

func TestInboundInvalidMessageRefused(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	bad := chat("bad")
	bad.Kind = "shout"
	err := b.env.Inbound.Receive(tctx(t), MessageEvent{Message: chat("ok")}, MessageEvent{Message: bad})
	if err == nil {
		t.Fatal("Receive accepted a message of an unknown kind")
	}
	// Nothing of a refused Receive is stored or delivered.
	expectNone(t, s)
	if n := h.store.count(); n != 0 {
		t.Errorf("store holds %d messages", n)
	}
}

func TestInboundDuplicateNotDeliveredTwice(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	first := chat("once")
	first.OriginID = "msgid-1"
	b.receive(t, MessageEvent{Message: first})
	if got := next[MessageEvent](t, s).Message.ID; got != first.ID {
		t.Fatalf("delivered %v, stored %v", got, first.ID)
	}
	again := chat("once")
	again.OriginID = "msgid-1"
	b.receive(t, MessageEvent{Message: again}) // a replay after reconnect
	expectNone(t, s)
	if again.ID != first.ID {
		t.Errorf("replay got id %v, want the stored %v", again.ID, first.ID)
	}
}

func TestRunCloses(t *testing.T) {
	h := startHub(t)
	ba, bb := h.bridge(aliceNet), h.bridge(bobNet)
	a := h.attach(alice, "phone")
	b := h.attach(bob, "phone")
	h.stop()

	for _, s := range []*Session{a, b} {
		waitClosed(t, s)
		if !errors.Is(s.Err(), ErrHubClosed) {
			t.Errorf("session %d: Err() = %v, want ErrHubClosed", s.ID, s.Err())
		}
	}
	// Run has returned, so every bridge's Run must have returned too.
	for _, br := range []*fakeBridge{ba, bb} {
		br.mu.Lock()
		stopped, cerr := br.stopped, br.runCtxErr
		br.mu.Unlock()
		if !stopped || !errors.Is(cerr, context.Canceled) {
			t.Errorf("bridge %d: stopped %v, ctx err %v", br.env.Network.ID, stopped, cerr)
		}
	}

	c := tctx(t)
	if _, err := h.hub.Attach(c, alice, "late"); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Attach: %v", err)
	}
	if _, err := h.hub.Send(c, a, outMsg(aliceNet, "late", "")); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Send: %v", err)
	}
	if err := h.hub.SetStatus(c, a, Status{Show: ShowAway}); !errors.Is(err, ErrHubClosed) {
		t.Errorf("SetStatus: %v", err)
	}
	if err := h.hub.MarkRead(c, a, ReadMarker{Conversation: 1, Upto: 1}); !errors.Is(err, ErrHubClosed) {
		t.Errorf("MarkRead: %v", err)
	}
	if err := h.hub.Typing(c, a, TypingEvent{Network: aliceNet, State: StateComposing}); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Typing: %v", err)
	}
	if err := h.hub.SyncNetworks(c); !errors.Is(err, ErrHubClosed) {
		t.Errorf("SyncNetworks: %v", err)
	}
	if err := ba.env.Inbound.Receive(c, MessageEvent{Message: chat("late")}); !errors.Is(err, ErrHubClosed) {
		t.Errorf("Receive: %v", err)
	}
	a.Detach() // must neither block nor panic
}

// TestLastWordsStoredAtShutdown: what a bridge hands over while the
// daemon stops it (a line read just before the connection closed) is
// stored and reaches the devices still attached, not refused.
func TestLastWordsStoredAtShutdown(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	b.mu.Lock()
	b.lastWords = []Event{MessageEvent{Message: chat("said as we stopped")}}
	b.mu.Unlock()
	h.stop()
	b.mu.Lock()
	err := b.lastWordsErr
	b.mu.Unlock()
	if err != nil {
		t.Fatalf("the Hub refused the bridge's last words: %v", err)
	}
	if h.store.count() != 1 {
		t.Fatalf("%d messages stored, want the last words", h.store.count())
	}
	if got := next[MessageEvent](t, s); got.Message.Body != "said as we stopped" {
		t.Errorf("the device got %q", got.Message.Body)
	}
}

func TestDetachClosesSession(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	a, keep := h.attach(alice, "phone"), h.attach(alice, "laptop")
	a.Detach()
	a.Detach() // twice is fine
	waitClosed(t, a)
	if a.Err() == nil {
		t.Fatal("Err() is nil after the session was closed")
	}
	b.receive(t, MessageEvent{Message: chat("after")})
	if got := next[MessageEvent](t, keep).Message.Body; got != "after" {
		t.Errorf("remaining session got %q", got)
	}
	if err := h.hub.SetStatus(tctx(t), a, Status{Show: ShowAway}); err == nil {
		t.Error("SetStatus accepted a detached session")
	}
}
