package xmpp

// The XMPP bridge end to end through real software only: Prosody with
// alice's upstream account and her contacts on it, the real XMPP bridge
// keeping alice online there, the Hub and the SQLite store, this port,
// and a device on it speaking raw XMPP. Upstream, mellium clients stand
// in for alice's phone and her contacts.

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"
	"mellium.im/xmpp/stanza"

	bridge "github.com/switchboard/switchboard/bridges/xmpp"
	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// xmppRig is the daemon's parts with the real XMPP bridge: alice has one
// XMPP network, "work", which is alice@localhost on Prosody.
type xmppRig struct {
	hub     *core.Hub
	user    core.User
	network core.Network
	port    *testPort // only addr and password: for relogin
}

func startXMPPRig(t *testing.T, p *testpeer.Prosody) *xmppRig {
	t.Helper()
	ctx := context.Background()
	st, err := history.Open(ctx, filepath.Join(t.TempDir(), "sb.db"), history.Options{Log: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	r := &xmppRig{port: &testPort{password: "correct horse battery"}}
	if r.user, err = st.CreateUser(ctx, "alice", r.port.password, false); err != nil {
		t.Fatal(err)
	}
	r.network, err = st.CreateNetwork(ctx, core.Network{User: r.user.ID, Name: "work", Kind: core.KindXMPP, Enabled: true,
		Settings: core.Settings{"jid": "alice@" + p.Domain, "password": "pw", "tls-fingerprint": p.Fingerprint(),
			"addr": net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port))}})
	if err != nil {
		t.Fatal(err)
	}
	reg := &core.Registry{}
	reg.Register(bridge.Kind())
	r.hub = core.NewHub(core.HubConfig{Store: st, History: st, Bridges: reg, Log: testLogger(t)})
	runCtx, cancel := context.WithCancel(ctx)
	hubDone := make(chan struct{})
	go func() {
		defer close(hubDone)
		r.hub.Run(runCtx)
	}()
	cert := selfSigned(t)
	srv := New(Config{Domain: testDomain, TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Store: st, Hub: r.hub, Log: testLogger(t), MaxLoginFailures: 5, LoginLockout: time.Minute, Version: "test"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.port.addr = ln.Addr().String()
	go srv.Serve(runCtx, ln, false)
	t.Cleanup(func() {
		cancel()
		srv.Wait()
		<-hubDone
		st.Close()
	})
	return r
}

// waitContacts waits until the Hub holds the network's contact list, which
// the bridge sends once it is logged in.
func (r *xmppRig) waitContacts(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.hub.Contacts(r.user.ID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge sent no contact list: %+v", r.hub.NetworkStates(r.user.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// upstream is a mellium client on Prosody: alice's phone, or a contact.
type upstream struct {
	t    testing.TB
	xs   *xmpp.Session
	pres chan stanza.Presence
}

func dialUpstream(t testing.TB, p *testpeer.Prosody, user, resource string) *upstream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@"+p.Domain+"/"+resource), conn,
		xmpp.StartTLS(&tls.Config{ServerName: p.Domain, InsecureSkipVerify: true}),
		xmpp.SASL("", "pw", sasl.ScramSha1, sasl.Plain), xmpp.BindResource())
	if err != nil {
		conn.Close()
		t.Fatalf("logging in %s upstream: %v", user, err)
	}
	u := &upstream{t: t, xs: xs, pres: make(chan stanza.Presence, 100)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		xs.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			if start.Name.Local == "presence" {
				if p, err := stanza.NewPresence(*start); err == nil {
					select {
					case u.pres <- p:
					default:
					}
				}
			}
			return nil
		}))
	}()
	t.Cleanup(func() {
		xs.Close()
		xs.Conn().Close()
		<-served
	})
	return u
}

func (u *upstream) presence(to string, typ stanza.PresenceType) {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pr := stanza.Presence{Type: typ}
	if to != "" {
		pr.To = jid.MustParse(to)
	}
	if err := u.xs.Send(ctx, pr.Wrap(nil)); err != nil {
		u.t.Fatal(err)
	}
}

func (u *upstream) waitPresence(what string, typ stanza.PresenceType, from string) {
	u.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case p := <-u.pres:
			if p.Type == typ && p.From.Bare().String() == from {
				return
			}
		case <-deadline:
			u.t.Fatalf("no %s within 20s", what)
		}
	}
}

// rosterOf fetches u's roster: name and groups by bare JID.
func (u *upstream) rosterOf() map[string]roster.Item {
	u.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	it := roster.Fetch(ctx, u.xs)
	defer it.Close()
	out := make(map[string]roster.Item)
	for it.Next() {
		out[it.Item().JID.Bare().String()] = it.Item()
	}
	if err := it.Err(); err != nil {
		u.t.Fatal(err)
	}
	return out
}

// waitRoster fetches u's roster until ok accepts it.
func (u *upstream) waitRoster(what string, ok func(map[string]roster.Item) bool) {
	u.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := u.rosterOf()
		if ok(r) {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("upstream roster never showed %s: %+v", what, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func rosterPushOf(e *element, jid string) *element {
	if e.Name.Local != "iq" || e.attr("type") != "set" {
		return nil
	}
	it := e.child(nsRoster, "query").child(nsRoster, "item")
	if it == nil || it.attr("jid") != jid {
		return nil
	}
	return it
}

func groupsOf(item *element) []string {
	var out []string
	for _, g := range item.Children {
		if g.Name.Local == "group" {
			out = append(out, g.Text)
		}
	}
	return out
}

// TestXMPPBridgeRosterBothWays: a contact alice's phone adds upstream
// reaches a device's roster before any message; a device's roster set
// and remove change the upstream roster, as alice's phone reads it; a
// contact's subscription request reaches the device and its answer goes
// back upstream, as does the device's own request.
func TestXMPPBridgeRosterBothWays(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw", "carol": "pw"})
	bob, carol := "bob@"+p.Domain, "carol@"+p.Domain
	r := startXMPPRig(t, p)
	r.waitContacts(t)
	bobHere := peerJID(r.network, bob, testDomain) // bob\40localhost@work.example.org
	carolHere := peerJID(r.network, carol, testDomain)

	dev := loginRaw(t, r.port, "laptop")
	dev.send("<presence/>")
	dev.send("<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	first := dev.expect("the roster", func(e *element) bool { return e.attr("id") == "r1" })
	if q := first.child(nsRoster, "query"); q == nil || len(q.Children) != 0 {
		t.Fatalf("roster before any contact: %v", first)
	}

	// Upstream: alice's phone adds bob. No message was ever exchanged.
	phone := dialUpstream(t, p, "alice", "phone")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := roster.Set(ctx, phone.xs, roster.Item{JID: jid.MustParse(bob), Name: "Bob", Group: []string{"colleagues"}}); err != nil {
		t.Fatal(err)
	}
	push := dev.expect("bob's roster push", func(e *element) bool { return rosterPushOf(e, bobHere) != nil })
	it := rosterPushOf(push, bobHere)
	if it.attr("name") != "Bob" || it.attr("subscription") != "none" || !slices.Equal(groupsOf(it), []string{"work", "colleagues"}) {
		t.Errorf("bob pushed as %v", it)
	}
	// A device that asks afresh lists him too.
	dev.send("<iq type='get' id='r2'><query xmlns='jabber:iq:roster'/></iq>")
	again := dev.expect("the roster", func(e *element) bool { return e.attr("id") == "r2" })
	if q := again.child(nsRoster, "query"); q == nil || len(q.Children) != 1 || q.Children[0].attr("jid") != bobHere {
		t.Errorf("roster after bob was added: %v", again)
	}

	// The device adds carol with a name and a group: the upstream roster
	// has her, and the server's push comes back to the device.
	dev.send("<iq type='set' id='s1'><query xmlns='jabber:iq:roster'><item jid='" + carolHere +
		"' name='Carol'><group>work</group><group>friends</group></item></query></iq>")
	if res := dev.expect("the roster set's answer", func(e *element) bool { return e.attr("id") == "s1" }); res.attr("type") != "result" {
		t.Fatalf("roster set answered %v", res)
	}
	phone.waitRoster("carol", func(m map[string]roster.Item) bool {
		c, ok := m[carol]
		return ok && c.Name == "Carol" && slices.Equal(c.Group, []string{"friends"})
	})
	dev.expect("carol's roster push", func(e *element) bool { return rosterPushOf(e, carolHere) != nil })

	// The device removes bob: gone upstream, and from the device's roster.
	dev.send("<iq type='set' id='s2'><query xmlns='jabber:iq:roster'><item jid='" + bobHere + "' subscription='remove'/></query></iq>")
	if res := dev.expect("the remove's answer", func(e *element) bool { return e.attr("id") == "s2" }); res.attr("type") != "result" {
		t.Fatalf("roster remove answered %v", res)
	}
	phone.waitRoster("bob gone", func(m map[string]roster.Item) bool { _, ok := m[bob]; return !ok })
	gone := dev.expect("bob's removal", func(e *element) bool { return rosterPushOf(e, bobHere) != nil })
	if rosterPushOf(gone, bobHere).attr("subscription") != "remove" {
		t.Errorf("bob's removal pushed as %v", gone)
	}

	// carol asks to see alice's presence: the device is asked, approves,
	// and carol gets the approval from alice.
	c := dialUpstream(t, p, "carol", "tablet")
	c.rosterOf()       // an "interested resource" (RFC 6121 §1.3): it is told of answers
	c.presence("", "") // and an available one: it is asked
	c.presence("alice@"+p.Domain, stanza.SubscribePresence)
	req := dev.expect("carol's subscription request", func(e *element) bool {
		return e.Name.Local == "presence" && e.attr("type") == "subscribe"
	})
	if req.attr("from") != carolHere {
		t.Fatalf("subscription request from %q, want %q", req.attr("from"), carolHere)
	}
	dev.send("<presence to='" + carolHere + "' type='subscribed'/>")
	c.waitPresence("alice's approval", stanza.SubscribedPresence, "alice@"+p.Domain)

	// And the device asks carol for hers: carol is asked.
	dev.send("<presence to='" + carolHere + "' type='subscribe'/>")
	c.waitPresence("alice's request", stanza.SubscribePresence, "alice@"+p.Domain)
	phone.waitRoster("carol's subscription", func(m map[string]roster.Item) bool {
		return m[carol].Subscription == "from"
	})
}
