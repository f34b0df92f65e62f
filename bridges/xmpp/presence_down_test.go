package xmpp

import (
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestProsodyDownContactsOffline: when the account's server goes away,
// the device is told that the contact it saw online is offline (the
// bridge can no longer know), and sees the contact online again once the
// bridge is back.
func TestProsodyDownContactsOffline(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	bob := "bob@" + p.Domain
	_, b := follow(t, p, "alice", "bob")
	b.presence("", "", "")

	s := newStack(t, accountSettings(t, p, "alice", "pw"))
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
