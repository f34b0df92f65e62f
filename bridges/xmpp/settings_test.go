package xmpp

import (
	"strings"
	"testing"

	"github.com/switchboard/switchboard/core"
)

func TestValidateSettings(t *testing.T) {
	ok := core.Settings{keyJID: "alice@example.net", keyPassword: "pw"}
	with := func(k, v string) core.Settings {
		s := core.Settings{}
		for a, b := range ok {
			s[a] = b
		}
		s[k] = v
		return s
	}
	tests := []struct {
		s       core.Settings
		wantKey string // "" : valid
	}{
		{ok, ""},
		{with(keyAddr, "xmpp.example.net:5222"), ""},
		{with(keyTLS, "direct"), ""},
		{with(keyFingerprint, strings.Repeat("ab:", 31)+"ab"), ""},
		{with(keyJID, ""), keyJID},
		{with(keyJID, "example.net"), keyJID},
		{with(keyJID, "alice@example.net/res"), keyJID},
		{with(keyPassword, ""), keyPassword},
		{with(keyAddr, "xmpp.example.net"), keyAddr},
		{with(keyAddr, "xmpp.example.net:0"), keyAddr},
		{with(keyTLS, "sometimes"), keyTLS},
		{with(keyFingerprint, "abcd"), keyFingerprint},
	}
	for _, tt := range tests {
		err := ValidateSettings(tt.s)
		switch {
		case tt.wantKey == "" && err != nil:
			t.Errorf("%v: %v", tt.s, err)
		case tt.wantKey != "" && (err == nil || !strings.Contains(err.Error(), `"`+tt.wantKey+`"`)):
			t.Errorf("%v: got %v, want an error naming %q", tt.s, err, tt.wantKey)
		}
	}
	cfg, err := parseConfig(ok)
	if err != nil || cfg.resource != defaultResource || cfg.directTLS || cfg.addr != "" {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
}

func TestParsePeer(t *testing.T) {
	for in, want := range map[string]string{
		"bob@example.org":         "bob@example.org",
		"Bob@Example.ORG":         "bob@example.org",
		" bob@example.org/phone ": "bob@example.org",
		"example.org":             "example.org",
		"not a jid@@":             "not a jid@@",
	} {
		if got := parsePeer(in); got != (core.Peer{Kind: core.Direct, Remote: want}) {
			t.Errorf("parsePeer(%q) = %+v, want %q", in, got, want)
		}
	}
}
