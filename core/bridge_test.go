package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	var r Registry
	if _, ok := r.Lookup(KindIRC); ok {
		t.Error("empty registry found a kind")
	}
	for _, k := range []NetworkKind{KindXMPP, KindIRC, KindFed} {
		r.Register(BridgeKind{Kind: k})
	}
	if got, want := r.Kinds(), []NetworkKind{KindFed, KindIRC, KindXMPP}; !slices.Equal(got, want) {
		t.Errorf("Kinds() = %v, want %v", got, want)
	}
	if k, ok := r.Lookup(KindIRC); !ok || k.Kind != KindIRC {
		t.Errorf("Lookup(irc) = %+v, %v", k, ok)
	}
	defer func() {
		if recover() == nil {
			t.Error("registering a kind twice did not panic")
		}
	}()
	r.Register(BridgeKind{Kind: KindIRC})
}

func TestPermanent(t *testing.T) {
	if Permanent(nil) != nil {
		t.Error("Permanent(nil) is not nil")
	}
	if IsPermanent(nil) || IsPermanent(errTest) || IsPermanent(ErrNotConnected) {
		t.Error("unmarked errors reported permanent")
	}
	p := Permanent(errTest)
	if !IsPermanent(p) || p.Error() != errTest.Error() || !errors.Is(p, errTest) {
		t.Errorf("Permanent(%v) = %v", errTest, p)
	}
	if wrapped := fmt.Errorf("sending: %w", p); !IsPermanent(wrapped) {
		t.Error("a wrapped permanent error is not permanent")
	}
}

func TestEventUser(t *testing.T) {
	const u UserID = 7
	for _, e := range []Event{
		MessageEvent{Message: &Message{User: u}},
		PresenceEvent{User: u},
		StatusEvent{User: u},
		TypingEvent{User: u},
		ReadMarkerEvent{ReadMarker: ReadMarker{User: u}},
		MembershipEvent{User: u},
		TopicEvent{User: u},
		NetworkStateEvent{User: u},
		SendFailedEvent{User: u},
	} {
		if got := e.EventUser(); got != u {
			t.Errorf("%T.EventUser() = %d", e, got)
		}
	}
}

func TestHubParsePeer(t *testing.T) {
	reg := &Registry{}
	reg.Register(BridgeKind{Kind: "lower", New: func(BridgeEnv) (Bridge, error) { return nil, nil },
		ParsePeer: func(r string) Peer { return Peer{Kind: Room, Remote: strings.ToLower(r)} }})
	h := NewHub(HubConfig{Store: newMemStore(), Bridges: reg})
	if got := h.ParsePeer("lower", "#Go"); got != (Peer{Kind: Room, Remote: "#go"}) {
		t.Errorf("a kind's ParsePeer gave %+v", got)
	}
	if got := h.ParsePeer("other", "Bob"); got != (Peer{Kind: Direct, Remote: "Bob"}) {
		t.Errorf("a kind without ParsePeer gave %+v, want a direct peer as given", got)
	}
}
