package xmpp

import (
	"context"
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/internal/testpeer"
)

// send writes a chat message from c with the given payload.
func (c *client) send(to, id string, payload ...xml.TokenReader) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.xs.Send(ctx, stanza.Message{ID: id, To: jid.MustParse(to), Type: stanza.ChatMessage}.Wrap(xmlstream.MultiReader(payload...))); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) waitMessage(timeout time.Duration, what string, match func(stanzaMessage) bool) stanzaMessage {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-c.msgs:
			if match(m) {
				return m
			}
		case <-deadline:
			c.t.Fatalf("bob got no %s within %s", what, timeout)
		}
	}
}

// waitOrigin waits until the runner recorded the network id of a sent
// message, and returns it.
func (s *stack) waitOrigin(peer string, id core.MessageID) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, m := range s.stored(peer) {
			if m.ID == id && m.OriginID != "" {
				return m.OriginID
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("message %d was never sent", id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestProsodyChatExtras carries what rides with chat messages through a
// real server both ways: chat states become typing events and back,
// receipts are requested and answered (the bridge's answer after the
// message is stored), corrections and replies point at the stored
// message they name, and out-of-band links become attachments and back.
func TestProsodyChatExtras(t *testing.T) {
	p := testpeer.StartProsody(t, map[string]string{"alice": "pw", "bob": "pw"})
	alice, bob := "alice@"+p.Domain, "bob@"+p.Domain
	s := newStack(t, accountSettings(t, p, "alice", "pw"))
	s.waitState(20*time.Second, core.StateConnected)
	b := dialClient(t, p, "bob", "pw", "laptop")
	b.presence("", "", "")
	ctx := context.Background()

	// Upstream to the device.
	b.send(alice, "typing-1", emptyElement(nsChatStates, "composing"))
	typing := s.waitEvent(10*time.Second, "bob typing", func(e core.Event) bool { _, ok := e.(core.TypingEvent); return ok }).(core.TypingEvent)
	if typing.Direction != core.Incoming || typing.State != core.StateComposing || typing.Peer.Remote != bob {
		t.Errorf("typing event %+v", typing)
	}
	b.send(alice, "b-1", textElement("body", "hello"), emptyElement(nsReceipts, "request"), emptyElement(nsChatStates, "active"))
	first := s.waitMessage(10*time.Second, "bob's message", func(m *core.Message) bool { return m.Body == "hello" })
	b.waitMessage(10*time.Second, "the receipt", func(m stanzaMessage) bool { return m.Receipt != nil && m.Receipt.ID == "b-1" })

	b.send(alice, "b-2", textElement("body", "hello, fixed"), emptyElement(nsCorrect, "replace", "id", "b-1"))
	fixed := s.waitMessage(10*time.Second, "bob's correction", func(m *core.Message) bool { return m.Body == "hello, fixed" })
	if fixed.CorrectionOf.ID != first.ID {
		t.Errorf("correction points at %+v, want message %d", fixed.CorrectionOf, first.ID)
	}
	b.send(alice, "b-3", textElement("body", "> hello\nand more"), emptyElement(nsReply, "reply", "to", alice, "id", "b-1"))
	reply := s.waitMessage(10*time.Second, "bob's reply", func(m *core.Message) bool { return m.Body == "> hello\nand more" })
	if reply.ReplyTo.ID != first.ID {
		t.Errorf("reply points at %+v, want message %d", reply.ReplyTo, first.ID)
	}
	const url = "https://files.example/cat.png"
	b.send(alice, "b-4", textElement("body", url), xmlstream.Wrap(xmlstream.MultiReader(textElement("url", url), textElement("desc", "a cat")), element(nsOOB, "x")))
	link := s.waitMessage(10*time.Second, "bob's link", func(m *core.Message) bool { return m.Body == url })
	if len(link.Attachments) != 1 || link.Attachments[0].URL != url || link.Attachments[0].Name != "a cat" {
		t.Errorf("attachments %+v", link.Attachments)
	}

	// The device to upstream.
	if err := s.hub.Typing(ctx, s.dev, core.TypingEvent{Network: s.net.ID, Peer: parsePeer(bob), State: core.StateComposing}); err != nil {
		t.Fatal(err)
	}
	b.waitMessage(10*time.Second, "alice typing", func(m stanzaMessage) bool { return m.Composing != nil && len(m.Bodies) == 0 })

	send := func(m *core.Message) *core.Message {
		t.Helper()
		m.Network, m.Peer, m.Kind = s.net.ID, parsePeer(bob), core.KindChat
		sent, err := s.hub.Send(ctx, s.dev, m)
		if err != nil {
			t.Fatal(err)
		}
		return sent
	}
	mine := send(&core.Message{Body: "my text"})
	got := b.waitMessage(10*time.Second, "alice's message", func(m stanzaMessage) bool { return m.body() == "my text" })
	if got.ReceiptRequest == nil || got.Active == nil {
		t.Errorf("alice's message asks no receipt or has no chat state: %+v", got.extensions)
	}
	receipts := counterValue(t, metricReceipts)
	b.send(alice, "r-1", emptyElement(nsReceipts, "received", "id", got.ID))
	// bob's receipt is the message's delivered state on the devices.
	s.waitEvent(10*time.Second, "alice's message delivered", func(e core.Event) bool {
		d, ok := e.(core.DeliveredEvent)
		return ok && d.Message == mine.ID
	})
	upstreamID := s.waitOrigin(bob, mine.ID)
	if upstreamID != got.ID {
		t.Fatalf("stored network id %q, bob saw %q", upstreamID, got.ID)
	}
	send(&core.Message{Body: "my text, fixed", CorrectionOf: core.MessageRef{ID: mine.ID}})
	corr := b.waitMessage(10*time.Second, "alice's correction", func(m stanzaMessage) bool { return m.body() == "my text, fixed" })
	if corr.Replace == nil || corr.Replace.ID != got.ID {
		t.Errorf("correction replaces %+v, want %q", corr.Replace, got.ID)
	}
	send(&core.Message{Body: "answering you", ReplyTo: core.MessageRef{ID: first.ID}})
	ans := b.waitMessage(10*time.Second, "alice's reply", func(m stanzaMessage) bool { return m.body() == "answering you" })
	if ans.Reply == nil || ans.Reply.ID != "b-1" || ans.Reply.To != bob {
		t.Errorf("reply %+v, want to b-1 of %s", ans.Reply, bob)
	}
	send(&core.Message{Attachments: []core.Attachment{{URL: "https://files.example/dog.png", Name: "a dog"}}})
	file := b.waitMessage(10*time.Second, "alice's link", func(m stanzaMessage) bool { return len(m.Links) > 0 })
	if file.body() != "https://files.example/dog.png" || file.Links[0].URL != file.body() || file.Links[0].Desc != "a dog" {
		t.Errorf("link message %q %+v", file.body(), file.Links)
	}

	// Reactions (XEP-0444) both ways, each naming the message by the id
	// its side of the network knows it by.
	b.send(alice, "b-5", xmlstream.Wrap(xmlstream.MultiReader(textElement("reaction", "👍"), textElement("reaction", "🎉")),
		element(nsReactions, "reactions", "id", got.ID)))
	theirs := s.waitMessage(10*time.Second, "bob's reactions", func(m *core.Message) bool { return m.Kind == core.KindReaction })
	if theirs.ReplyTo.ID != mine.ID || theirs.Body != "👍\n🎉" {
		t.Errorf("bob's reactions stored as %+v, want 👍 🎉 to message %d", theirs, mine.ID)
	}
	sent, err := s.hub.Send(ctx, s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(bob), Kind: core.KindReaction,
		Body: "🍕", ReplyTo: core.MessageRef{ID: first.ID}})
	if err != nil || sent.ReplyTo.ID != first.ID {
		t.Fatalf("sending a reaction: %+v, %v", sent, err)
	}
	rx := b.waitMessage(10*time.Second, "alice's reaction", func(m stanzaMessage) bool { return m.Reactions != nil })
	if rx.Reactions.ID != "b-1" || strings.Join(rx.Reactions.Items, " ") != "🍕" || len(rx.Bodies) != 0 {
		t.Errorf("alice's reaction reached bob as %+v", rx.Reactions)
	}
	if got := counterValue(t, metricReceipts); got != receipts+1 {
		t.Errorf("%v receipts counted, want 1", got-receipts)
	}
}

// TestProsodyBurstOfSends: a device's burst of messages goes out in
// order on one stream, none lost, and the stream survives it. (mellium
// arms a write deadline for every Send and disarms it from a goroutine
// racing the caller's cancel; unguarded, a later write could find the
// deadline in the past and the stream broke: see boundedConn.)
func TestProsodyBurstOfSends(t *testing.T) {
	const n = 1500
	p := testpeer.StartProsodyQuiet(t, map[string]string{"alice": "pw", "bob": "pw"})
	bob := "bob@" + p.Domain
	s := newStack(t, accountSettings(t, p, "alice", "pw"))
	s.waitState(20*time.Second, core.StateConnected)
	b := dialClient(t, p, "bob", "pw", "laptop")
	b.presence("", "", "")
	b.msgs = make(chan stanzaMessage, 2*n)
	ctx := context.Background()
	for i := range n {
		if _, err := s.hub.Send(ctx, s.dev, &core.Message{Network: s.net.ID, Peer: parsePeer(bob), Kind: core.KindChat, Body: "burst " + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		want := "burst " + strconv.Itoa(i)
		m := b.waitMessage(30*time.Second, want, func(m stanzaMessage) bool { return len(m.Bodies) > 0 })
		if m.body() != want {
			t.Fatalf("bob got %q, want %q", m.body(), want)
		}
	}
	for _, ns := range s.hub.NetworkStates(s.user.ID) {
		if ns.State != core.StateConnected {
			t.Errorf("network state %+v after the burst", ns)
		}
	}
}

// TestSentMessagesTakeOnlyTheAddresseesReceipt: a receipt counts once,
// only from the contact the message went to, and the memory is bounded.
func TestSentMessagesTakeOnlyTheAddresseesReceipt(t *testing.T) {
	var r sentMessages
	bob, eve := jid.MustParse("bob@example.net"), jid.MustParse("eve@example.net")
	r.add("s1", bob, 42)
	if _, ok := r.take("s1", eve); ok {
		t.Error("eve's receipt for a message to bob counted")
	}
	if id, ok := r.take("s1", bob); !ok || id != 42 {
		t.Errorf("bob's receipt: %v, %v", id, ok)
	}
	if _, ok := r.take("s1", bob); ok {
		t.Error("a second receipt for the same message counted")
	}
	for i := range maxSentRemembered + 10 {
		r.add(fmt.Sprint("m", i), bob, core.MessageID(i+1))
	}
	if len(r.byID) != maxSentRemembered || len(r.order) != maxSentRemembered {
		t.Errorf("remembering %d ids (%d in order), want %d", len(r.byID), len(r.order), maxSentRemembered)
	}
	if _, ok := r.take("m0", bob); ok {
		t.Error("the oldest id was not forgotten")
	}
}
