package xmpp

import (
	"strings"
	"testing"

	"mellium.im/xmpp/jid"
)

// TestUnescapeLocalUndoesEscape: every address a network gives comes back
// from its escaped local part unchanged (XEP-0106), the XMPP contacts'
// "@" above all; sequences the XEP does not define stay as they are.
func TestUnescapeLocalUndoesEscape(t *testing.T) {
	for _, remote := range []string{"bob@example.net", `a b"c&d'e/f:g<h>i@j\k`, "#go", "plain", `\41`, `x\`, `\4`} {
		if got := unescapeLocal(jid.Escape.String(remote)); got != remote {
			t.Errorf("unescapeLocal(escape(%q)) = %q", remote, got)
		}
	}
	for in, want := range map[string]string{`bob\40example.net`: "bob@example.net", `\5c40`: `\40`, `a\zz`: `a\zz`, `\2F`: `\2F`} {
		if got := unescapeLocal(in); got != want {
			t.Errorf("unescapeLocal(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzEscapeLocal: what peerJID escapes, resolve gets back unchanged,
// and the escaped form has none of the characters a local part cannot
// hold.
func FuzzEscapeLocal(f *testing.F) {
	for _, s := range []string{"bob@example.org", "#go", `a b/c:\d`, `x\40y`, "room@conference.example.org", "é@ü", `\5c`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		esc := escapeLocal(s)
		if got := unescapeLocal(esc); got != s {
			t.Fatalf("unescapeLocal(escapeLocal(%q)) = %q (escaped %q)", s, got, esc)
		}
		if strings.ContainsAny(esc, " \"&'/:<>@") {
			t.Fatalf("escapeLocal(%q) = %q", s, esc)
		}
		unescapeLocal(s) // any input: no panic
	})
}
