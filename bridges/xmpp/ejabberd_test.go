package xmpp

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// TestEjabberdLoginAndMessage runs the account against a second server
// implementation: login over STARTTLS with the certificate pinned,
// stream management enabled, and a message each way.
func TestEjabberdLoginAndMessage(t *testing.T) {
	e := testpeer.StartEjabberd(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+e.Domain, "bob@"+e.Domain
	enabled := counterValue(t, metricSMEnabled)
	s := newStack(t, core.Settings{keyJID: alice, keyPassword: "pw",
		keyAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port)), keyFingerprint: e.Fingerprint(t)})
	s.waitState(30*time.Second, core.StateConnected)
	if counterValue(t, metricSMEnabled) != enabled+1 {
		t.Error("stream management was not enabled on ejabberd")
	}
	b := dialClientAt(t, e.Domain, e.Port, "bob", "pw", "laptop")
	b.presence("", "", "")
	b.message(alice, "bob-1", "hello from ejabberd")
	in := s.waitMessage(10*time.Second, "bob's message", func(m *core.Message) bool { return m.Body == "hello from ejabberd" })
	if in.Peer.Remote != bob || in.OriginID != "bob-1" {
		t.Errorf("stored as %+v", in)
	}
	if _, err := s.hub.Send(context.Background(), s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(bob), Kind: core.KindChat, Body: "hi bob"}); err != nil {
		t.Fatal(err)
	}
	b.waitBody(10*time.Second, "hi bob")
}
