package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/bridges/fed"
	"github.com/switchboard/switchboard/bridges/fed/httpsig"
)

// sendRaw writes a stanza given as XML.
func (c *xmppClient) sendRaw(stanza string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.sess.Send(ctx, xml.NewDecoder(strings.NewReader(stanza))); err != nil {
		c.t.Fatal(err)
	}
}

// signedFedRequest is a POST events from origin (whose daemon's data
// directory is dir) to the daemon at port, signed with origin's newest key.
func signedFedRequest(t *testing.T, dir, origin string, port int, body []byte) *http.Request {
	t.Helper()
	keys, err := fed.LoadKeys(filepath.Join(dir, "federation", "keys"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(fmt.Sprintf("https://127.0.0.1:%d%sevents", port, fed.APIPath))
	req, _ := http.NewRequest("POST", u.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Switchboard-Origin", origin)
	req.Header.Set("Content-Digest", httpsig.ContentDigest(body))
	k := keys[len(keys)-1]
	now := time.Now()
	in, sig, err := httpsig.Sign(httpsig.Message{Method: "POST", URL: u, Header: req.Header}, "sb",
		[]string{"@method", "@target-uri", "content-digest", "switchboard-origin"},
		// Ed25519 is deterministic: a distinct expiry makes each request's
		// signature new, as a real retry's later created time would.
		httpsig.Params{Created: now, Expires: now.Add(time.Minute + time.Duration(signedCount.Add(1))*time.Second), KeyID: k.ID, Alg: "ed25519"}, k.Private)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Signature-Input", in)
	req.Header.Set("Signature", sig)
	return req
}

var signedCount atomic.Int64

// postFedEvents sends events signed by from's daemon to to's and returns
// the statuses of the results.
func postFedEvents(t *testing.T, api *apiClient, from, to *fedNode, events ...fed.Event) []string {
	t.Helper()
	body, _ := json.Marshal(fed.Batch{Events: events})
	resp, err := api.http.Do(signedFedRequest(t, from.dir, from.domain, to.port, body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	var res fed.BatchResult
	if resp.StatusCode != 200 || json.Unmarshal(answer, &res) != nil {
		t.Fatalf("POST events: %d %s", resp.StatusCode, answer)
	}
	var out []string
	for _, r := range res.Results {
		out = append(out, r.Status)
	}
	return out
}

// TestFedEventsXMPP runs two daemons and real XMPP clients: a correction
// (XEP-0308) made on a shows on b as a correction of the message; a reply
// (XEP-0461) from b shows on a as a reply to alice's message; typing
// (XEP-0085) and displayed markers (XEP-0333) go both ways; an event
// delivered twice is answered duplicate; reactions (XEP-0444) go both
// ways, and a withdrawn set too.
func TestFedEventsXMPP(t *testing.T) {
	nodes := fedNodes(t, "a.test", "b.test")
	a, b := nodes["a.test"], nodes["b.test"]
	for _, n := range nodes {
		n.start(t)
	}
	alice := loginAPI(t, a.dir, a.addr, "alice", "pw-a")
	bob := loginAPI(t, b.dir, b.addr, "bob", "pw-b")
	waitFedNetwork(t, alice)
	waitFedNetwork(t, bob)
	aliceX := dialXMPP(t, a.d.xmpp[0], "alice", "a.test", "pw-a")
	bobX := dialXMPP(t, b.d.xmpp[0], "bob", "b.test", "pw-b")

	// A message and its correction, a → b.
	aliceX.sendID("bob@b.test", "helo bob", "m1")
	first := bobX.expect(func(m xmppMessage) bool { return m.Body == "helo bob" })
	aliceX.sendRaw(`<message xmlns="jabber:client" to="bob@b.test" type="chat" id="m2"><body>hello bob</body>` +
		`<replace xmlns="urn:xmpp:message-correct:0" id="m1"/></message>`)
	fix := bobX.expect(func(m xmppMessage) bool { return m.Body == "hello bob" })
	if fix.Replace.ID == "" || fix.Replace.ID != first.ID || fix.From != "alice@a.test" {
		t.Errorf("bob's client got the correction %+v of %+v; want it to replace %q", fix, first, first.ID)
	}

	// A reply b → a to alice's first message, which bob knows by its
	// archive id on b and alice by hers on a.
	bobX.sendRaw(`<message xmlns="jabber:client" to="alice@a.test" type="chat" id="r1"><body>hi alice</body>` +
		`<reply xmlns="urn:xmpp:reply:0" to="alice@a.test" id="` + first.ID + `"/></message>`)
	reply := aliceX.expect(func(m xmppMessage) bool { return m.Body == "hi alice" })
	history := conversationWith(t, alice, "bob@b.test")
	var aliceFirst string
	for _, m := range history {
		if m.Body == "helo bob" {
			aliceFirst = m.ID
		}
	}
	if aliceFirst == "" || reply.Reply.ID != aliceFirst {
		t.Errorf("alice's client got the reply %+v; want it to name %q (history %+v)", reply, aliceFirst, history)
	}

	// Typing both ways.
	aliceX.sendRaw(`<message xmlns="jabber:client" to="bob@b.test" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`)
	bobX.expectAny(func(m xmppMessage) bool { return m.Composing != nil && m.From == "alice@a.test" })
	bobX.sendRaw(`<message xmlns="jabber:client" to="alice@a.test" type="chat"><composing xmlns="http://jabber.org/protocol/chatstates"/></message>`)
	aliceX.expectAny(func(m xmppMessage) bool { return m.Composing != nil && m.From == "bob@b.test" })

	// Read both ways: bob displayed alice's correction, which alice's
	// client knows by its own id m2; alice displayed bob's reply (r1).
	bobX.sendRaw(`<message xmlns="jabber:client" to="alice@a.test" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="` + fix.ID + `"/></message>`)
	aliceX.expectAny(func(m xmppMessage) bool { return m.Displayed.ID == "m2" && m.From == "bob@b.test" })
	aliceX.sendRaw(`<message xmlns="jabber:client" to="bob@b.test" type="chat"><displayed xmlns="urn:xmpp:chat-markers:0" id="` + reply.ID + `"/></message>`)
	bobX.expectAny(func(m xmppMessage) bool { return m.Displayed.ID == "r1" && m.From == "alice@a.test" })

	// An event delivered twice (its answer lost) is answered duplicate
	// and stored once; a reaction to it arrives as one (XEP-0444).
	now := time.Now().UTC()
	ev := fed.Event{ID: "again-1", Type: fed.TypeMessage, From: "alice@a.test", To: "bob@b.test", Time: now, Kind: "chat", Body: "twice"}
	if got := postFedEvents(t, bob, a, b, ev); fmt.Sprint(got) != "[accepted]" {
		t.Errorf("first delivery: %v", got)
	}
	twice := bobX.expect(func(m xmppMessage) bool { return m.Body == "twice" })
	if got := postFedEvents(t, bob, a, b, ev); fmt.Sprint(got) != "[duplicate]" {
		t.Errorf("second delivery: %v, want duplicate", got)
	}
	react := fed.Event{ID: "react-1", Type: fed.TypeReaction, From: "alice@a.test", To: "bob@b.test", Time: now,
		ReactsTo: "again-1", Reactions: []string{"👍"}}
	if got := postFedEvents(t, bob, a, b, react); fmt.Sprint(got) != "[accepted]" {
		t.Errorf("reaction: %v", got)
	}
	if m := bobX.expectAny(func(m xmppMessage) bool { return m.Reactions.ID != "" }); m.Reactions.ID != twice.ID ||
		strings.Join(m.Reactions.Items, " ") != "👍" || m.Body != "" {
		t.Errorf("the reaction %+v; want 👍 to %q and no body", m, twice.ID)
	}

	// Reactions (XEP-0444) from the clients, both ways, each naming the
	// message by the id the other side's client knows it by: its own
	// stanza id for what it sent.
	aliceX.sendRaw(`<message xmlns="jabber:client" to="bob@b.test" type="chat" id="x1"><reactions xmlns="urn:xmpp:reactions:0" id="` +
		reply.ID + `"><reaction>🎉</reaction><reaction>👀</reaction></reactions></message>`)
	if m := bobX.expectAny(func(m xmppMessage) bool { return m.Reactions.ID == "r1" }); strings.Join(m.Reactions.Items, " ") != "🎉 👀" || m.From != "alice@a.test" {
		t.Errorf("bob's client got alice's reactions as %+v", m)
	}
	bobX.sendRaw(`<message xmlns="jabber:client" to="alice@a.test" type="chat" id="x2"><reactions xmlns="urn:xmpp:reactions:0" id="` +
		fix.ID + `"><reaction>❤️</reaction></reactions></message>`)
	if m := aliceX.expectAny(func(m xmppMessage) bool { return m.Reactions.ID == "m2" }); strings.Join(m.Reactions.Items, " ") != "❤️" || m.From != "bob@b.test" {
		t.Errorf("alice's client got bob's reaction as %+v", m)
	}
	// Withdrawn: an empty set.
	bobX.sendRaw(`<message xmlns="jabber:client" to="alice@a.test" type="chat" id="x3"><reactions xmlns="urn:xmpp:reactions:0" id="` +
		fix.ID + `"/></message>`)
	if m := aliceX.expectAny(func(m xmppMessage) bool { return m.Reactions.ID == "m2" }); len(m.Reactions.Items) != 0 {
		t.Errorf("alice's client got bob's withdrawal as %+v", m)
	}
	n := 0
	for _, m := range conversationWith(t, bob, "alice@a.test") {
		if m.Body == "twice" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("bob's history holds %d copies of the message delivered twice", n)
	}
	for _, n := range []*fedNode{b, a} {
		n.d.stop()
	}
}
