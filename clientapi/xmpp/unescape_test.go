package xmpp

import (
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
