package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/bridges/fed/httpsig"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// fedNode is one daemon of a federation test: its domain, data directory,
// configuration file and HTTPS port.
type fedNode struct {
	domain, dir, config string
	port                int
	d                   *daemon
	addr                string
}

// fedNodes writes the configuration of one daemon per domain, each with
// its HTTPS port fixed and every other one in its static peer map.
func fedNodes(t *testing.T, domains ...string) map[string]*fedNode {
	t.Helper()
	ports := testpeer.FreeLoopbackPorts(t, len(domains))
	nodes := make(map[string]*fedNode)
	for i, d := range domains {
		dir := filepath.Join(t.TempDir(), d)
		nodes[d] = &fedNode{domain: d, dir: dir, config: filepath.Join(t.TempDir(), d+".toml"), port: ports[i]}
	}
	for _, n := range nodes {
		var b strings.Builder
		fmt.Fprintf(&b, "domain = %q\ndata_dir = %q\n[http]\naddr = \"127.0.0.1:%d\"\npublic_url = \"https://127.0.0.1:%d\"\n",
			n.domain, n.dir, n.port, n.port)
		fmt.Fprintf(&b, "[federation]\ndiscover = false\n")
		for _, o := range nodes {
			if o != n {
				fmt.Fprintf(&b, "[federation.peers.%q]\nurl = \"https://127.0.0.1:%d\"\nca_file = %q\n",
					o.domain, o.port, filepath.Join(o.dir, "tls", "cert.pem"))
			}
		}
		if err := os.WriteFile(n.config, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return nodes
}

func (n *fedNode) start(t *testing.T) {
	t.Helper()
	n.d, n.addr = startDaemonWith(t, "--config", n.config)
	d := n.d
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", n.domain, d.logText())
		}
	})
}

// waitLong is waitFor with room for a retry's backoff.
func waitLong(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: not within 60 s", what)
}

func bodiesOf(ms []fedMessage) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Direction+":"+m.Body)
	}
	return out
}

// TestFedThreeServers runs three daemons on loopback with different
// domains and a static peer map: messages go both ways to every device
// and both histories; a message sent while the peer is down arrives once,
// in order, when it is back; forged, badly signed and replayed requests
// are refused.
func TestFedThreeServers(t *testing.T) {
	nodes := fedNodes(t, "a.test", "b.test", "c.test")
	a, b, c := nodes["a.test"], nodes["b.test"], nodes["c.test"]
	for _, n := range nodes {
		n.start(t)
	}
	alice := loginAPI(t, a.dir, a.addr, "alice", "pw-a")
	bob := loginAPI(t, b.dir, b.addr, "bob", "pw-b")
	carol := loginAPI(t, c.dir, c.addr, "carol", "pw-c")
	for _, api := range []*apiClient{alice, bob, carol} {
		waitFedNetwork(t, api)
	}
	aliceX := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	bobX := dialXMPP(t, b.d.xmpp[0], "bob", "b.test", "pw-b")
	bobEvents, closeBob := bob.events("")
	aliceEvents, closeAlice := alice.events("")

	// a → b from XMPP: bob's XMPP client and API stream get it; alice's
	// stream shows her message, then that b stored it.
	aliceX.sendID("bob@b.test", "hello bob on b", "hello-1")
	out := nextFedMessage(t, aliceEvents)
	if ev := nextEvent(t, aliceEvents, "delivered"); out.Direction != "out" || !strings.Contains(ev.data, `"message":"`+out.ID+`"`) {
		t.Errorf("alice's stream: %+v then delivered %s", out, ev.data)
	}
	closeAlice()
	// alice's XMPP client gets the chat marker for her message's id.
	aliceX.expectAny(func(m xmppMessage) bool { return m.Received.ID == "hello-1" && m.From == "bob@b.test" })
	if m := bobX.expect(func(m xmppMessage) bool { return m.Body == "hello bob on b" }); m.From != "alice@a.test" {
		t.Errorf("bob's XMPP client got it from %q", m.From)
	}
	if m := nextFedMessage(t, bobEvents); m.Body != "hello bob on b" || m.Direction != "in" {
		t.Errorf("bob's stream: %+v", m)
	}
	closeBob()
	// b → a through the API, in the conversation the message made.
	conv := conversationWith(t, bob, "alice@a.test")
	if len(conv) != 1 {
		t.Fatalf("bob's history with alice: %+v", conv)
	}
	bob.do("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv[0].Conversation),
		map[string]string{"body": "hi alice on a"}, 201, nil)
	if m := aliceX.expect(func(m xmppMessage) bool { return m.Body == "hi alice on a" }); m.From != "bob@b.test" {
		t.Errorf("alice's XMPP client got it from %q", m.From)
	}
	// c → a: the third server.
	carolX := dialXMPP(t, c.d.xmpp[0], "carol", "c.test", "pw-c")
	carolX.send("alice@a.test", "carol here")
	aliceX.expect(func(m xmppMessage) bool { return m.Body == "carol here" && m.From == "carol@c.test" })

	// b goes down; alice writes five messages; b comes back.
	b.d.stop()
	var sent []string
	for i := 1; i <= 5; i++ {
		sent = append(sent, fmt.Sprintf("in:while you were away %d", i))
		aliceX.send("bob@b.test", fmt.Sprintf("while you were away %d", i))
	}
	// They are stored and queued on a before b returns.
	waitLong(t, "alice's history holds the five", func() bool { return len(conversationWith(t, alice, "bob@b.test")) == 7 })
	// a tried while b was down, and keeps the events until b answers.
	waitLong(t, "a retries", func() bool { return strings.Contains(a.d.logText(), "federation delivery failed; will retry") })
	b.start(t)
	want := append([]string{"in:hello bob on b", "out:hi alice on a"}, sent...)
	waitLong(t, "bob's history after b returned", func() bool { return len(conversationWith(t, bob, "alice@a.test")) >= len(want) })
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show up
	if got := bodiesOf(conversationWith(t, bob, "alice@a.test")); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("bob's history:\n%q\nwant\n%q", got, want)
	}

	// Bad requests at b.
	keys, err := fed.LoadKeys(filepath.Join(c.dir, "federation", "keys"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	signAsC := func(body []byte) *http.Request {
		u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d%sevents", b.port, fed.APIPath))
		req, _ := http.NewRequest("POST", u.String(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Switchboard-Origin", "c.test")
		req.Header.Set("Content-Digest", httpsig.ContentDigest(body))
		k := keys[len(keys)-1]
		now := time.Now()
		in, sig, err := httpsig.Sign(httpsig.Message{Method: "POST", URL: u, Header: req.Header}, "sb",
			[]string{"@method", "@target-uri", "content-digest", "switchboard-origin"},
			httpsig.Params{Created: now, Expires: now.Add(time.Minute), KeyID: k.ID, Alg: "ed25519"}, k.Private)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Signature-Input", in)
		req.Header.Set("Signature", sig)
		return req
	}
	batch := func(id, from string) []byte {
		out, _ := json.Marshal(fed.Batch{Events: []fed.Event{{ID: id, Type: fed.TypeMessage, From: from, To: "bob@b.test",
			Time: time.Now().UTC(), Kind: "chat", Body: "from " + from + " " + id}}})
		return out
	}
	send := func(name string, req *http.Request, wantStatus int, wantType string) {
		t.Helper()
		resp, err := bob.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p struct{ Type string }
		_ = json.Unmarshal(body, &p)
		if resp.StatusCode != wantStatus || !strings.HasSuffix(p.Type, wantType) {
			t.Errorf("%s: %d %s, want %d %s", name, resp.StatusCode, body, wantStatus, wantType)
		}
		if wantStatus != 200 && resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", name, resp.Header.Get("Content-Type"))
		}
	}
	unsigned, _ := http.NewRequest("POST", fmt.Sprintf("https://127.0.0.1:%d%sevents", b.port, fed.APIPath), bytes.NewReader(batch("u1", "carol@c.test")))
	unsigned.Header.Set("Content-Type", "application/json")
	send("unsigned", unsigned, 401, "/unsigned")
	send("forged sender", signAsC(batch("f1", "alice@a.test")), 403, "/wrong-domain")
	// The headers signed for one body, sent with another.
	signed := signAsC(batch("s1", "carol@c.test"))
	bad, _ := http.NewRequest("POST", signed.URL.String(), bytes.NewReader(batch("s2", "carol@c.test")))
	bad.Header = signed.Header.Clone()
	send("bad signature", bad, 401, "/bad-signature")
	good := signAsC(batch("ok1", "carol@c.test"))
	replay := good.Clone(good.Context())
	replay.Body = io.NopCloser(bytes.NewReader(mustBody(t, good)))
	send("valid", good, 200, "")
	send("replayed", replay, 401, "/replayed")
	if got := bodiesOf(conversationWith(t, bob, "carol@c.test")); fmt.Sprint(got) != "[in:from carol@c.test ok1]" {
		t.Errorf("bob's history with carol: %q", got)
	}
	if got := conversationWith(t, bob, "alice@a.test"); len(got) != len(want) {
		t.Errorf("a forged message reached bob's history with alice: %q", bodiesOf(got))
	}
	for _, n := range []*fedNode{c, b, a} {
		n.d.stop()
	}
}

// mustBody returns a copy of req's body and puts it back.
func mustBody(t *testing.T, req *http.Request) []byte {
	t.Helper()
	b, err := io.ReadAll(req.Body)
	if err != nil {
		t.Fatal(err)
	}
	req.Body = io.NopCloser(bytes.NewReader(b))
	return b
}
