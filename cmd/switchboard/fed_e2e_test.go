package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fedMessage is a message as the HTTP API shows it, with what federation
// tests look at.
type fedMessage struct {
	ID           string `json:"id"`
	Conversation int64  `json:"conversation"`
	Body         string `json:"body"`
	Direction    string `json:"direction"`
	Peer         struct{ Remote string }
	Sender       struct{ Addr string }
}

// loginAPI creates user with password through the CLI and returns an API
// client holding a token for it.
func loginAPI(t *testing.T, dir, addr, user, password string) *apiClient {
	t.Helper()
	if out, _, err := runIn(t, dir, password+"\n", "user", "add", user, "--password-stdin"); err != nil {
		t.Fatalf("user add %s: %q %v", user, out, err)
	}
	api := newAPIClient(t, addr, dir)
	var login struct{ Token string }
	api.do("POST", "/api/v1/tokens", map[string]string{"username": user, "password": password}, 201, &login)
	api.token = login.Token
	return api
}

// waitFedNetwork waits until the daemon gave the user its fed network
// and returns its id.
func waitFedNetwork(t *testing.T, api *apiClient) int64 {
	t.Helper()
	var id int64
	waitFor(t, func() bool {
		var nets struct {
			Networks []struct {
				ID         int64
				Name, Kind string
			}
		}
		api.do("GET", "/api/v1/networks", nil, 200, &nets)
		for _, n := range nets.Networks {
			if n.Kind == "fed" {
				id = n.ID
				return true
			}
		}
		return false
	})
	return id
}

// conversationWith returns the messages of the user's conversation with
// remote, oldest first.
func conversationWith(t *testing.T, api *apiClient, remote string) []fedMessage {
	t.Helper()
	var convs struct {
		Conversations []struct {
			ID   int64
			Peer struct{ Remote string }
		}
	}
	api.do("GET", "/api/v1/conversations", nil, 200, &convs)
	for _, c := range convs.Conversations {
		if c.Peer.Remote == remote {
			var page struct{ Messages []fedMessage }
			api.do("GET", fmt.Sprintf("/api/v1/conversations/%d/messages?limit=100", c.ID), nil, 200, &page)
			return page.Messages
		}
	}
	return nil
}

// nextFedMessage returns the next message event on an SSE stream.
func nextFedMessage(t *testing.T, ch <-chan e2eEvent) fedMessage {
	t.Helper()
	m, _ := nextMessage(t, ch)
	var full fedMessage
	full.ID, full.Conversation, full.Body, full.Direction = m.ID, m.Conversation, m.Body, m.Direction
	return full
}

// TestFedSameDomain: two users of one server write to each other as
// user@domain, from a real XMPP client (mellium) and through the HTTP API;
// every device of both sees the message and both histories hold it.
func TestFedSameDomain(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d, addr := startDaemon(t, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.logText())
		}
	})
	alice := loginAPI(t, dir, addr, "alice", "pw-a")
	bob := loginAPI(t, dir, addr, "bob", "pw-b")
	// Users the CLI adds get their fed network from the running daemon.
	aliceFed := waitFedNetwork(t, alice)
	waitFedNetwork(t, bob)
	aliceEvents, closeA := alice.events("")
	defer closeA()
	bobEvents, closeB := bob.events("")
	defer closeB()
	aliceX := dialXMPP(t, d.xmpp[0], "alice", "localhost", "pw-a")
	bobX := dialXMPP(t, d.xmpp[0], "bob", "localhost", "pw-b")

	// alice writes from XMPP: bob's XMPP client and bob's API stream get
	// it, alice's API stream gets the carbon of her own message.
	aliceX.send("bob@localhost", "hello bob, from XMPP")
	got := bobX.expect(func(m xmppMessage) bool { return m.Body == "hello bob, from XMPP" })
	if got.From != "alice@localhost" {
		t.Errorf("bob's XMPP client got the message from %q, want alice@localhost", got.From)
	}
	if m := nextFedMessage(t, bobEvents); m.Body != "hello bob, from XMPP" || m.Direction != "in" {
		t.Errorf("bob's API stream: %+v", m)
	}
	if m := nextFedMessage(t, aliceEvents); m.Body != "hello bob, from XMPP" || m.Direction != "out" {
		t.Errorf("alice's API stream: %+v", m)
	}

	// bob answers through the API, in the conversation the message made.
	conv := conversationWith(t, bob, "alice@localhost")
	if len(conv) != 1 || conv[0].Sender.Addr != "alice@localhost" {
		t.Fatalf("bob's history with alice: %+v", conv)
	}
	bob.do("POST", fmt.Sprintf("/api/v1/conversations/%d/messages", conv[0].Conversation),
		map[string]string{"body": "hi alice, from the API"}, 201, nil, "Idempotency-Key", "fed-1")
	got = aliceX.expect(func(m xmppMessage) bool { return m.Body == "hi alice, from the API" })
	if got.From != "bob@localhost" {
		t.Errorf("alice's XMPP client got the answer from %q, want bob@localhost", got.From)
	}
	if m := nextFedMessage(t, aliceEvents); m.Body != "hi alice, from the API" || m.Direction != "in" {
		t.Errorf("alice's API stream: %+v", m)
	}

	// alice writes through the API by address, on her fed network.
	alice.do("POST", fmt.Sprintf("/api/v1/networks/%d/messages", aliceFed),
		map[string]string{"to": "Bob@localhost", "body": "and from alice's API"}, 201, nil)
	bobX.expect(func(m xmppMessage) bool { return m.Body == "and from alice's API" && m.From == "alice@localhost" })

	// Both histories hold every message, once each, in order.
	for _, h := range []struct {
		api    *apiClient
		remote string
		want   string
	}{
		{alice, "bob@localhost", "[out:hello bob, from XMPP in:hi alice, from the API out:and from alice's API]"},
		{bob, "alice@localhost", "[in:hello bob, from XMPP out:hi alice, from the API in:and from alice's API]"},
	} {
		waitFor(t, func() bool { return len(conversationWith(t, h.api, h.remote)) == 3 })
		var seq []string
		for _, m := range conversationWith(t, h.api, h.remote) {
			seq = append(seq, m.Direction+":"+m.Body)
		}
		if fmt.Sprint(seq) != h.want {
			t.Errorf("history with %s: %s, want %s", h.remote, seq, h.want)
		}
	}

	// A message to nobody fails and says so on the sender's stream.
	aliceX.sendID("nobody@localhost", "anyone there?", "nobody-1")
	// Her XMPP client sees the message fail, by its id.
	if m := aliceX.expectAny(func(m xmppMessage) bool { return m.Type == "error" }); m.ID != "nobody-1" ||
		m.From != "nobody@localhost" || !strings.Contains(m.Error.Text, "no such user") {
		t.Errorf("error for the message to nobody: %+v", m)
	}
	if ev := nextEvent(t, aliceEvents, "send_failed"); !strings.Contains(ev.data, "no such user") {
		t.Errorf("send_failed %s", ev.data)
	}
	d.stop("nobody@localhost refused the message: no such user")
}

// nextEvent returns the next event called name on an SSE stream.
func nextEvent(t *testing.T, ch <-chan e2eEvent, name string) e2eEvent {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				t.Fatalf("event stream ended before a %s event", name)
			}
			if ev.name == name {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 20 s", name)
		}
	}
}
