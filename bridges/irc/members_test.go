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

// TestChanmodesBeforePrefix: 005 may announce CHANMODES before PREFIX;
// the prefix modes still take their arguments.
func TestChanmodesBeforePrefix(t *testing.T) {
	s := testSession(t)
	feed(t, s, ":srv 005 alice CHANMODES=b,k,l,imnt PREFIX=(qaohv)~&@%+ :are supported",
		":alice!u@h JOIN #x", ":srv 353 alice = #x :alice bob carol", ":srv 366 alice #x :End",
		":srv MODE #x +hvl bob carol 10")
	ch := s.channels["#x"]
	if bob, carol := ch.members["bob"].prefixes, ch.members["carol"].prefixes; bob != "%" || carol != "+" {
		t.Errorf("after +hv bob carol: bob %q, carol %q", bob, carol)
	}
}

// TestJoinedFollowsServerCasemapping: the channels the bridge wants are
// matched under the server's CASEMAPPING, so one parted on an ascii
// server is not joined again after a reconnect.
func TestJoinedFollowsServerCasemapping(t *testing.T) {
	for _, c := range []struct{ casemap, configured, server string }{
		{"ascii", "#A[b]", "#A[b]"},
		{"rfc1459", "#A[b]", "#a{B}"},
		{"rfc8265", "#Ärger", "#ärger"},
	} {
		s := testSession(t)
		s.b.joined[c.configured] = channelJoin{name: c.configured}
		feed(t, s, ":srv 005 alice CASEMAPPING="+c.casemap+" :are supported",
			":alice!u@h JOIN "+c.server)
		if len(s.b.joined) != 1 {
			t.Errorf("%s: joining %s added to %v", c.casemap, c.server, s.b.joined)
		}
		feed(t, s, ":alice!u@h PART "+c.server)
		if len(s.b.joined) != 0 {
			t.Errorf("%s: still wanted after parting %s: %v", c.casemap, c.server, s.b.joined)
		}
	}
	var is isupport = defaultISupport()
	is.apply("CASEMAPPING=rfc8265")
	if got := is.casemap("#ÄrGER"); got != "#ärger" {
		t.Errorf("rfc8265 folds #ÄrGER to %q", got)
	}
}
