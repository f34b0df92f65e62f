package irc

import (
	"testing"
)

func TestISupportAndNames(t *testing.T) {
	is := defaultISupport()
	for _, tok := range []string{"PREFIX=(qaohv)~&@%+", "CHANMODES=beI,k,l,imnpst", "CASEMAPPING=ascii", "CHANTYPES=#&", "STATUSMSG=@+", "CHATHISTORY=250"} {
		is.apply(tok)
	}
	if is.historyMax != 250 || is.casemap("ALICE[]") != "alice[]" || is.stripStatus("@#chan") != "#chan" || !is.isChannel("&local") {
		t.Errorf("isupport read as %+v", is)
	}
	m := is.parseNamesEntry("@~+bob!b@host.example")
	if m.nick != "bob" || m.user != "b" || m.host != "host.example" || m.prefixes != "~@+" || is.role(m.prefixes) != "owner" {
		t.Errorf("names entry parsed as %+v", m)
	}
	is.setPrefix(m, 'q', false)
	if m.prefixes != "@+" || is.role(m.prefixes) != "op" {
		t.Errorf("after -q: %q (%s)", m.prefixes, is.role(m.prefixes))
	}
	changes := is.parseModes("+ovk-lb+l", []string{"alice", "bob", "key", "*!*@spam", "10"})
	want := []modeChange{{true, 'o', "alice"}, {true, 'v', "bob"}, {true, 'k', "key"}, {false, 'l', ""}, {false, 'b', "*!*@spam"}, {true, 'l', "10"}}
	if len(changes) != len(want) {
		t.Fatalf("modes parsed as %+v", changes)
	}
	for i := range want {
		if changes[i] != want[i] {
			t.Errorf("mode %d parsed as %+v, want %+v", i, changes[i], want[i])
		}
	}
	// Fewer arguments than modes need must not panic or misalign.
	if got := is.parseModes("+oo", []string{"alice"}); len(got) != 2 || got[1].arg != "" {
		t.Errorf("short MODE parsed as %+v", got)
	}
}

func TestCaseMappings(t *testing.T) {
	if foldRFC1459("Nick[]\\~") != "nick{}|^" || foldRFC1459Strict("Nick[]\\~") != "nick{}|~" || foldASCII("Nick[]") != "nick[]" {
		t.Error("case mappings disagree with RFC 1459 and its strict variant")
	}
}
