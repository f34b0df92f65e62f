package core

import (
	"strings"
	"testing"
	"time"
)

func TestValidateNetworkName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"libera", true},
		{"a", true},
		{"0", true},
		{"oftc2", true},
		{"my-net", true},
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-libera", false},
		{"libera-", false},
		{"-", false},
		{"Libera", false},
		{"lib_era", false},
		{"lib.era", false},
		{"lib era", false},
		{"libéra", false},
	} {
		if err := ValidateNetworkName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateNetworkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestValidateUserName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"alice", true},
		{"a", true},
		{"7", true},
		{"alice.smith", true},
		{"alice_smith", true},
		{"alice-smith", true},
		{"a.-_b", true},
		{strings.Repeat("a", 64), true},
		{"", false},
		{strings.Repeat("a", 65), false},
		{".alice", false},
		{"_alice", false},
		{"-alice", false},
		{"alice.", false}, // "inner" only, as the error says
		{"alice-", false},
		{"Alice", false},
		{"alice@example.org", false},
		{"al ice", false},
		{"al/ice", false},
		{"alïce", false},
	} {
		if err := ValidateUserName(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidateUserName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestMessageValidate(t *testing.T) {
	valid := func() *Message {
		m := chat("hello world")
		m.User, m.Network = alice, aliceNet
		return m
	}
	for _, tc := range []struct {
		name    string
		edit    func(*Message)
		wantErr string // empty: valid
	}{
		{"valid", func(*Message) {}, ""},
		{"conversation instead of peer", func(m *Message) { m.Peer = Peer{}; m.Conversation = 3 }, ""},
		{"peer kind left to the store", func(m *Message) { m.Peer.Kind = "" }, ""},
		{"room", func(m *Message) { m.Peer = Peer{Room, "#go"}; m.Kind = KindTopic }, ""},
		{"span over whole body", func(m *Message) { m.Spans = []Span{{0, len(m.Body), Bold, "", ""}} }, ""},
		{"empty body", func(m *Message) { m.Body = ""; m.Kind = KindJoin }, ""},
		{"no user", func(m *Message) { m.User = 0 }, "no user"},
		{"no network", func(m *Message) { m.Network = 0 }, "no network"},
		{"no peer", func(m *Message) { m.Peer = Peer{} }, "no conversation or peer"},
		{"bad peer kind", func(m *Message) { m.Peer.Kind = "group" }, "conversation kind"},
		{"no kind", func(m *Message) { m.Kind = "" }, "unknown kind"},
		{"bad kind", func(m *Message) { m.Kind = "shout" }, "unknown kind"},
		{"no time", func(m *Message) { m.Time = time.Time{} }, "no time"},
		{"span starts before body", func(m *Message) { m.Spans = []Span{{-1, 2, Bold, "", ""}} }, "span 0"},
		{"span ends after body", func(m *Message) { m.Spans = []Span{{0, len(m.Body) + 1, Italic, "", ""}} }, "span 0"},
		{"empty span", func(m *Message) { m.Spans = []Span{{0, 5, Bold, "", ""}, {3, 3, Bold, "", ""}} }, "span 1"},
		{"reversed span", func(m *Message) { m.Spans = []Span{{4, 2, Bold, "", ""}} }, "span 0"},
		{"coloured span", func(m *Message) { m.Spans = []Span{{0, 2, 0, "#ff0000", "#000000"}} }, ""},
		{"colour not #rrggbb", func(m *Message) { m.Spans = []Span{{0, 2, 0, "red", ""}} }, "span 0 colours"},
		{"colour in upper case", func(m *Message) { m.Spans = []Span{{0, 2, 0, "", "#FF0000"}} }, "span 0 colours"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := valid()
			tc.edit(m)
			err := m.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("Validate() = %v, want an error with %q", err, tc.wantErr)
			}
		})
	}
}

func TestMessageKinds(t *testing.T) {
	for _, k := range []MessageKind{KindChat, KindAction, KindNotice, KindJoin, KindPart, KindQuit, KindKick, KindNick, KindTopic, KindMode, KindInvite} {
		if !k.Valid() {
			t.Errorf("%q not valid", k)
		}
	}
	if MessageKind("CHAT").Valid() {
		t.Error("kinds are case-sensitive")
	}
}

func TestSmallValues(t *testing.T) {
	if Incoming.String() != "in" || Outgoing.String() != "out" {
		t.Errorf("Direction strings %q %q", Incoming, Outgoing)
	}
	if !(MessageRef{}).IsZero() || (MessageRef{OriginID: "x"}).IsZero() || (MessageRef{ID: 1}).IsZero() {
		t.Error("MessageRef.IsZero")
	}
	for s := ShowOffline; s <= ShowChat; s++ {
		got, ok := ParseShow(s.String())
		if !ok || got != s {
			t.Errorf("ParseShow(%q) = %v, %v", s.String(), got, ok)
		}
	}
	if Show(42).String() != "unknown" {
		t.Errorf("Show(42) = %q", Show(42))
	}
	if _, ok := ParseShow("unknown"); ok {
		t.Error(`ParseShow("unknown") succeeded`)
	}
	if !(ShowOffline < ShowXA && ShowXA < ShowAway && ShowAway < ShowDND && ShowDND < ShowAvailable && ShowAvailable < ShowChat) {
		t.Error("Show is not ordered by availability")
	}
}
