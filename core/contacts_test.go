package core

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
)

var _ ContactManager = (*fakeBridge)(nil)

func (b *fakeBridge) contactOp(op string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.contactOps = append(b.contactOps, op)
	b.changedLocked()
	return nil
}

func (b *fakeBridge) SetContact(ctx context.Context, c Contact) error {
	return b.contactOp(fmt.Sprintf("set %s %q %v", c.Addr, c.Name, c.Groups))
}
func (b *fakeBridge) RemoveContact(ctx context.Context, addr string) error {
	return b.contactOp("remove " + addr)
}
func (b *fakeBridge) Subscribe(ctx context.Context, addr string) error {
	return b.contactOp("subscribe " + addr)
}
func (b *fakeBridge) AnswerSubscription(ctx context.Context, addr string, approve bool) error {
	return b.contactOp(fmt.Sprintf("answer %s %v", addr, approve))
}

func contactAddrs(cs []Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Addr+":"+string(c.Subscription))
	}
	return out
}

// TestContactListFollowsEvents: a device that attaches after the network
// sent its contact list reads it from the Hub, kept up to date by changes,
// and a later full list replaces it; another user sees none of it.
func TestContactListFollowsEvents(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	early := h.attach(alice, "early")
	b.receive(t,
		ContactsEvent{Contacts: []Contact{{Addr: "carol@x", Subscription: SubBoth}, {Addr: "bob@x", Name: "Bob", Subscription: SubTo}}},
		ContactEvent{Contact: Contact{Addr: "dave@x", Subscription: SubNone, Asked: true}},
		ContactEvent{Contact: Contact{Addr: "carol@x"}, Removed: true},
	)
	if got := next[ContactsEvent](t, early); got.Network != aliceNet || got.User != alice || len(got.Contacts) != 2 {
		t.Fatalf("the device got %+v", got)
	}
	lists := h.hub.Contacts(alice)
	if len(lists) != 1 || lists[0].Network != aliceNet {
		t.Fatalf("Contacts(alice) = %+v", lists)
	}
	if got, want := contactAddrs(lists[0].Contacts), []string{"bob@x:to", "dave@x:none"}; !slices.Equal(got, want) {
		t.Errorf("contacts %v, want %v", got, want)
	}
	if c := lists[0].Contacts[0]; c.Name != "Bob" || c.Network != aliceNet {
		t.Errorf("bob is %+v", c)
	}
	if len(h.hub.Contacts(bob)) != 0 {
		t.Error("bob sees alice's contacts")
	}
	// The next connect's list replaces the old one.
	b.receive(t, ContactsEvent{Contacts: []Contact{{Addr: "erin@x", Subscription: SubFrom}}})
	if got := contactAddrs(h.hub.Contacts(alice)[0].Contacts); !slices.Equal(got, []string{"erin@x:from"}) {
		t.Errorf("after a new list: %v", got)
	}
}

// TestSubscriptionRequestsStayPendingUntilAnswered: a request no device
// answered is listed for devices that come later; an answer from a device
// goes to the bridge and clears it.
func TestSubscriptionRequestsStayPendingUntilAnswered(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	b.receive(t, SubscriptionEvent{Contact: "mallory@x", Kind: SubscribeRequest},
		SubscriptionEvent{Contact: "frank@x", Kind: SubscribeRequest},
		SubscriptionEvent{Contact: "frank@x", Kind: SubscribeApproved})
	if p := h.hub.Contacts(alice)[0].Pending; !slices.Equal(p, []string{"frank@x", "mallory@x"}) {
		t.Fatalf("pending %v", p)
	}
	if err := h.hub.AnswerSubscription(tctx(t), alice, aliceNet, "mallory@x", false); err != nil {
		t.Fatal(err)
	}
	// Approved from another client of the account: the contact's new
	// subscription clears the request too.
	b.receive(t, ContactEvent{Contact: Contact{Addr: "frank@x", Subscription: SubFrom}})
	if p := h.hub.Contacts(alice)[0].Pending; len(p) != 0 {
		t.Errorf("still pending: %v", p)
	}
	for _, op := range []func() error{
		func() error {
			return h.hub.SetContact(tctx(t), alice, Contact{Network: aliceNet, Addr: "bob@x", Name: "Bob", Groups: []string{"friends"}})
		},
		func() error { return h.hub.Subscribe(tctx(t), alice, aliceNet, "bob@x") },
		func() error { return h.hub.RemoveContact(tctx(t), alice, aliceNet, "bob@x") },
	} {
		if err := op(); err != nil {
			t.Fatal(err)
		}
	}
	b.mu.Lock()
	ops := slices.Clone(b.contactOps)
	b.mu.Unlock()
	want := []string{"answer mallory@x false", `set bob@x "Bob" [friends]`, "subscribe bob@x", "remove bob@x"}
	if !slices.Equal(ops, want) {
		t.Errorf("bridge saw %q, want %q", ops, want)
	}
	// Another user's network is refused.
	if err := h.hub.RemoveContact(tctx(t), alice, bobNet, "x@x"); err == nil || errors.Is(err, ErrNoContacts) {
		t.Errorf("removing through bob's network: %v", err)
	}
}

// TestContactPresenceKept: the last presence of a listed contact is kept
// for devices that come later, forgotten when it goes offline or leaves
// the list; a withdrawn request is no longer pending; a bridge that
// cannot unsubscribe says so.
func TestContactPresenceKept(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	b.receive(t, ContactsEvent{Contacts: []Contact{{Addr: "carol@x", Subscription: SubTo}, {Addr: "dave@x", Subscription: SubTo}}},
		PresenceEvent{Contact: "carol@x", Status: Status{Show: ShowAway, Text: "lunch"}},
		PresenceEvent{Contact: "dave@x", Status: Status{Show: ShowDND}},
		PresenceEvent{Contact: "stranger@x", Status: Status{Show: ShowChat}},
		SubscriptionEvent{Contact: "erin@x", Kind: SubscribeRequest},
		SubscriptionEvent{Contact: "erin@x", Kind: UnsubscribeNotice})
	l := h.hub.Contacts(alice)[0]
	if len(l.Contacts) != 2 || l.Contacts[0].Presence != (Status{Show: ShowAway, Text: "lunch"}) || l.Contacts[1].Presence.Show != ShowDND {
		t.Fatalf("contacts %+v", l.Contacts)
	}
	if len(l.Pending) != 0 {
		t.Errorf("a withdrawn request is pending: %v", l.Pending)
	}
	b.receive(t, PresenceEvent{Contact: "carol@x", Status: Status{Show: ShowOffline}},
		ContactEvent{Contact: Contact{Addr: "dave@x"}, Removed: true},
		ContactEvent{Contact: Contact{Addr: "dave@x", Subscription: SubNone}})
	l = h.hub.Contacts(alice)[0]
	for _, c := range l.Contacts {
		if c.Presence != (Status{}) {
			t.Errorf("%s keeps presence %+v", c.Addr, c.Presence)
		}
	}
	if err := h.hub.Unsubscribe(tctx(t), alice, aliceNet, "carol@x"); !errors.Is(err, ErrNoContacts) {
		t.Errorf("unsubscribing through a bridge without Unsubscribe: %v", err)
	}
}

// TestContactsGoOfflineWithTheirNetwork: a network that loses its
// connection can no longer vouch for its contacts' presence, so devices
// are told each is offline before they hear the network's state; a
// network that stops running does the same. Presence comes back with
// the next connect, from the bridge.
func TestContactsGoOfflineWithTheirNetwork(t *testing.T) {
	h := startHub(t)
	b := h.bridge(aliceNet)
	s := h.attach(alice, "phone")
	online := func() {
		t.Helper()
		b.receive(t,
			ContactsEvent{Contacts: []Contact{{Addr: "bob@x", Subscription: SubBoth}, {Addr: "carol@x", Subscription: SubBoth}, {Addr: "dave@x", Subscription: SubBoth}}},
			PresenceEvent{Contact: "carol@x", Status: Status{Show: ShowAway}},
			PresenceEvent{Contact: "bob@x", Status: Status{Show: ShowAvailable}})
		next[ContactsEvent](t, s)
		next[PresenceEvent](t, s)
		next[PresenceEvent](t, s)
	}
	wantOffline := func(when string) {
		t.Helper()
		for _, who := range []string{"bob@x", "carol@x"} { // dave was never online
			pe := next[PresenceEvent](t, s)
			if pe.Contact != who || pe.Show != ShowOffline || pe.Network != aliceNet || pe.User != alice {
				t.Fatalf("%s: the device was told %+v, want %s offline", when, pe, who)
			}
		}
		for _, l := range h.hub.Contacts(alice) { // none once the network stopped
			for _, ct := range l.Contacts {
				if ct.Presence.Show != ShowOffline {
					t.Errorf("%s: the Hub still lists %s as %v", when, ct.Addr, ct.Presence.Show)
				}
			}
		}
	}

	online()
	b.receive(t, NetworkStateEvent{State: StateDisconnected, Err: "connection reset"})
	wantOffline("disconnected")
	if st := next[NetworkStateEvent](t, s); st.State != StateDisconnected {
		t.Fatalf("then the state %+v", st)
	}
	// Connecting again says nothing more: nobody is left online.
	b.receive(t, NetworkStateEvent{State: StateConnecting})
	if e := recv(t, s); e.(NetworkStateEvent).State != StateConnecting {
		t.Fatalf("got %+v, want only the connecting state", e)
	}

	b.receive(t, NetworkStateEvent{State: StateConnected})
	next[NetworkStateEvent](t, s)
	online()
	h.store.removeNetwork(aliceNet)
	if err := h.hub.SyncNetworks(tctx(t)); err != nil {
		t.Fatalf("SyncNetworks: %v", err)
	}
	wantOffline("stopped")
}
