package xmpp

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestProsodyDownContactsOffline: when the account's server goes away,
// the device is told that the contact it saw online is offline (the
// bridge can no longer know), and sees the contact online again once the
// bridge is back.
func TestProsodyDownContactsOffline(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain
	phone := dialClient(t, p, "alice", "pw", "phone")
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := roster.Set(rctx, phone.xs, roster.Item{JID: jid.MustParse(bob), Name: "Bob"}); err != nil {
		t.Fatal(err)
	}
	cancel()
	b := dialClient(t, p, "bob", "pw", "laptop")
	phone.presence(bob, stanza.SubscribePresence, "")
	time.Sleep(200 * time.Millisecond)
	b.presence(alice, stanza.SubscribedPresence, "")
	b.presence("", "", "")

	s := newStack(t, core.Settings{keyJID: alice, keyPassword: "pw",
		keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), keyFingerprint: pin(t, p)})
	bobIs := func(what string, show core.Show) {
		t.Helper()
		s.waitEvent(20*time.Second, "bob "+what, func(e core.Event) bool {
			pe, ok := e.(core.PresenceEvent)
			return ok && pe.Contact == bob && pe.Show == show
		})
	}
	bobIs("online", core.ShowAvailable)

	p.Stop()
	bobIs("offline once the server is gone", core.ShowOffline)

	p.Start()
	b = dialClient(t, p, "bob", "pw", "laptop")
	b.presence("", "", "")
	bobIs("online after the reconnect", core.ShowAvailable)
}
