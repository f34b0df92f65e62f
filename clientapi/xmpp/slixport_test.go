package xmpp

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(p)
	return n
}

func (p *testPort) slix(t testing.TB, resource string, directTLS bool) *slixClient {
	t.Helper()
	addr := p.addr
	if directTLS {
		addr = p.directAddr
	}
	return startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: p.password, Host: "127.0.0.1", Port: portOf(t, addr),
		DirectTLS: directTLS, Resource: resource})
}

// TestSlixmppLoginRosterCarbons drives slixmpp, a real XMPP client library,
// against the port: SCRAM over STARTTLS and over direct TLS, a wrong
// password, the roster, and a message from one resource reaching the other
// as a carbon while the network gets it.
func TestSlixmppLoginRosterCarbons(t *testing.T) {
	p := startPort(t)
	desktop := p.slix(t, "desktop", false)
	desktop.Expect(t, slixWait, slixEv("session_start"))
	phone := p.slix(t, "phone", true)
	phone.Expect(t, slixWait, slixEv("session_start"))
	phone.Do(t, map[string]any{"cmd": "carbons_enable"})
	phone.Expect(t, slixWait, func(ev map[string]any) bool { return ev["cmd"] == "carbons_enable" || ev["event"] == "iq_result" })

	wrong := startSlix(t, slixOpts{JID: "alice@" + testDomain, Password: "not it", Host: "127.0.0.1", Port: portOf(t, p.addr)})
	ev := wrong.Expect(t, slixWait, slixEv("auth_failed"))
	if ev["condition"] != "not-authorized" {
		t.Errorf("a wrong password failed with %v", ev)
	}

	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "are you there?"))
	for _, c := range []*slixClient{desktop, phone} {
		m := c.Expect(t, slixWait, slixEv("message", "body", "are you there?"))
		if m["from"] != "bob@libera."+testDomain || m["stanza_id_by"] != "alice@"+testDomain || m["stanza_id"] == "" {
			t.Errorf("bob's message arrived as %v", m)
		}
	}

	desktop.Do(t, map[string]any{"cmd": "send", "to": "bob@libera." + testDomain, "body": "yes, here", "type": "chat"})
	select {
	case m := <-p.sent:
		if m.Body != "yes, here" || m.Peer.Remote != "bob" {
			t.Errorf("the network got %+v", m)
		}
	case <-time.After(slixWait):
		t.Fatal("the message never reached the network")
	}
	carbon := phone.Expect(t, slixWait, slixEv("message", "body", "yes, here"))
	if carbon["carbon"] != "sent" || carbon["to"] != "bob@libera."+testDomain {
		t.Errorf("the phone got %v, want a sent carbon to bob", carbon)
	}

	desktop.Do(t, map[string]any{"cmd": "roster"})
	r := desktop.Expect(t, slixWait, slixEv("roster"))
	items := slixList(r["items"])
	if len(items) != 1 {
		t.Fatalf("roster %v", r)
	}
	item := items[0].(map[string]any)
	if item["jid"] != "bob@libera."+testDomain || item["subscription"] != "both" {
		t.Errorf("roster item %v", item)
	}
}

// TestProfanityOnThePort: profanity, an interactive client, logs in over
// STARTTLS, sends to an IRC contact, and shows the contact's answer.
func TestProfanityOnThePort(t *testing.T) {
	p := startPort(t)
	prof := startProfanity(t, profanityOpts{JID: "alice@" + testDomain, Password: p.password, Host: "127.0.0.1", Port: portOf(t, p.addr)})
	prof.Login(t)
	prof.Msg(t, "bob@libera."+testDomain, "hello from profanity")
	select {
	case m := <-p.sent:
		if m.Body != "hello from profanity" || m.Peer.Remote != "bob" {
			t.Errorf("the network got %+v", m)
		}
	case <-time.After(slixWait):
		t.Fatalf("profanity's message never reached the network; screen:\n%s", prof.Screen(t))
	}
	p.receive(t, p.incoming(core.Peer{Kind: core.Direct, Remote: "bob"}, "bob", "hello from irc"))
	prof.WaitFor(t, slixWait, "hello from irc")
}
