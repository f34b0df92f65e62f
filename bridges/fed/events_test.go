package fed

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// typings returns the typing events r received.
func (r *recorder) typings() []core.TypingEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []core.TypingEvent
	for _, e := range r.events {
		if te, ok := e.(core.TypingEvent); ok {
			out = append(out, te)
		}
	}
	return out
}

func (r *recorder) typing(t *testing.T, to string, st core.ChatState) {
	t.Helper()
	e := core.TypingEvent{Peer: core.Peer{Kind: core.Direct, Remote: to}, Direction: core.Outgoing, State: st}
	if err := r.b.SendTyping(context.Background(), e); err != nil {
		t.Fatalf("typing to %s: %v", to, err)
	}
}

// TestTypingBothWays: typing goes a → b and b → a by a direct request,
// and within a domain in-process; it is shown as the sender's, incoming.
func TestTypingBothWays(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob, aliceBob := a.user("alice"), b.user("bob"), a.user("bob")
	for _, c := range []struct {
		from     *recorder
		to, want string
		at       *recorder
	}{{alice, "bob@b.test", "alice@a.test", bob}, {bob, "alice@a.test", "bob@b.test", alice}, {alice, "bob@a.test", "alice@a.test", aliceBob}} {
		t.Logf("%s → %s", c.want, c.to)
		c.from.typing(t, c.to, core.StateComposing)
		waitFor(t, func() bool { return len(c.at.typings()) > 0 })
		got := c.at.typings()[0]
		if got.State != core.StateComposing || got.Direction != core.Incoming || got.Sender != c.want ||
			got.Peer != (core.Peer{Kind: core.Direct, Remote: c.want}) {
			t.Errorf("%s → %s: got %+v", c.want, c.to, got)
		}
	}
	// Nothing was queued: typing is not retried.
	if n := a.queue.pending() + b.queue.pending(); n != 0 {
		t.Errorf("%d typing events queued", n)
	}
}

// TestTypingRateLimited: a burst of typing notifications is cut to the
// user's limit, in-process too.
func TestTypingRateLimited(t *testing.T) {
	s := startServers(t, "a.test")
	a := s["a.test"]
	alice, bob := a.user("alice"), a.user("bob")
	for range 40 {
		alice.typing(t, "bob@a.test", core.StateComposing)
	}
	if n := len(bob.typings()); n < typingBurst || n > typingBurst+2 {
		t.Errorf("bob got %d of 40 typing events, want about %d", n, typingBurst)
	}
}

// post sends a signed batch from one server to another and returns the
// results.
func post(t *testing.T, from, to *testServer, events ...Event) []Result {
	t.Helper()
	body, _ := json.Marshal(Batch{Events: events})
	p, _ := from.svc.peer(to.domain)
	c, _ := p.httpClient()
	resp, err := c.Do(signedRequest(t, from, to, body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	var res BatchResult
	if resp.StatusCode != http.StatusOK || json.Unmarshal(answer, &res) != nil || len(res.Results) != len(events) {
		t.Fatalf("%d %s", resp.StatusCode, answer)
	}
	return res.Results
}

// TestReactionsAndReadEvents: a reaction arrives as a reaction message
// naming the message reacted to, both ways, and so does a withdrawn
// (empty) set; a read position on a message the receiver cannot find is
// accepted and shows nothing; bad ones are rejected alone.
func TestReactionsAndReadEvents(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	now := time.Now().UTC()
	for _, c := range []struct {
		from, to *testServer
		sender   string
		rcpt     string
		at       *recorder
	}{{a, b, "alice@a.test", "bob@b.test", bob}, {b, a, "bob@b.test", "alice@a.test", alice}} {
		ev := func(id, typ string) Event { return Event{ID: id, Type: typ, From: c.sender, To: c.rcpt, Time: now} }
		react := ev("re-1", TypeReaction)
		react.ReactsTo, react.Reactions = "m-1", []string{"👍", "🎉"}
		withdrawn := ev("re-2", TypeReaction)
		withdrawn.ReactsTo = "m-1"
		read := ev("rd-1", TypeRead)
		read.Upto = "m-1"
		twice := ev("re-3", TypeReaction)
		twice.ReactsTo, twice.Reactions = "m-1", []string{"👍", "👍"}
		noTarget := ev("rd-2", TypeRead)
		badState := ev("ty-1", TypeTyping)
		badState.State = "dancing"
		res := post(t, c.from, c.to, react, withdrawn, read, twice, noTarget, badState)
		want := []string{StatusAccepted, StatusAccepted, StatusAccepted, StatusRejected, StatusRejected, StatusRejected}
		for i, r := range res {
			if r.Status != want[i] {
				t.Errorf("%s: event %s: %+v, want %s", c.sender, r.ID, r, want[i])
			}
		}
		ms := c.at.waitMessages(t, 2)
		time.Sleep(50 * time.Millisecond)
		if ms = c.at.messages(); len(ms) != 2 {
			t.Fatalf("%s got %d messages, want the reaction and its withdrawal: %+v", c.rcpt, len(ms), ms)
		}
		if m := ms[0]; m.Kind != core.KindReaction || m.Body != "👍\n🎉" || m.ReplyTo.OriginID != "m-1" || m.OriginID != "re-1" {
			t.Errorf("%s got the reaction as %+v", c.rcpt, m)
		}
		if m := ms[1]; m.Kind != core.KindReaction || m.Body != "" || m.ReplyTo.OriginID != "m-1" {
			t.Errorf("%s got the withdrawal as %+v", c.rcpt, m)
		}
	}
}

// fakeHistory is the little of a user's store references need: messages
// by id, and one direct conversation per peer address.
type fakeHistory struct {
	mu   sync.Mutex
	msgs []*core.Message // oldest first
	// read counts the messages Messages returned.
	read int
}

func (h *fakeHistory) add(m *core.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, m)
}

func (h *fakeHistory) Message(_ context.Context, _ core.UserID, id core.MessageID) (*core.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.msgs {
		if m.ID == id {
			return m, nil
		}
	}
	return nil, core.ErrNotFound
}

func (h *fakeHistory) UserMessages(context.Context, core.UserPageQuery) ([]*core.Message, error) {
	return nil, nil
}

func (h *fakeHistory) Search(context.Context, core.SearchQuery) ([]core.SearchResult, error) {
	return nil, nil
}

// convID numbers conversations by the peer's address.
func convID(remote string) core.ConversationID { return core.ConversationID(len(remote)) }

func (h *fakeHistory) Conversations(context.Context, core.UserID) ([]core.Conversation, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []core.Conversation
	for _, m := range h.msgs {
		out = append(out, core.Conversation{ID: convID(m.Peer.Remote), Network: m.Network, Peer: m.Peer})
	}
	return out, nil
}

func (h *fakeHistory) Messages(_ context.Context, q core.PageQuery) ([]*core.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*core.Message
	for i := len(h.msgs) - 1; i >= 0; i-- {
		if m := h.msgs[i]; convID(m.Peer.Remote) == q.Conversation && (q.Before == 0 || m.ID < q.Before) && len(out) < q.Limit {
			out = append(out, m)
		}
	}
	h.read += len(out)
	return out, nil
}

// withHistory gives r's bridge a fakeHistory.
func (r *recorder) withHistory() *fakeHistory {
	h := &fakeHistory{}
	r.b.svc.mu.Lock() // the Service finds the bridge under its lock
	r.b.env.History = h
	r.b.svc.mu.Unlock()
	return h
}

// TestReferencesBothWays: a correction names the corrected message by the
// event id the peer stored it under, and a reply from the other side
// names it by the same id, which the first side resolves to its own
// message.
func TestReferencesBothWays(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	alice, bob := a.user("alice"), b.user("bob")
	aliceHist, bobHist := alice.withHistory(), bob.withHistory()
	toBob := core.Peer{Kind: core.Direct, Remote: "bob@b.test"}
	toAlice := core.Peer{Kind: core.Direct, Remote: "alice@a.test"}

	first := &core.Message{ID: 1, Peer: toBob, Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "helo"}
	aliceHist.add(first)
	// The origin id recorded for a direct message is none: its event id
	// is computed, so a peer cannot name it in the store.
	if oid, err := alice.b.Send(context.Background(), first); err != nil || oid != "" {
		t.Fatalf("Send: %q, %v", oid, err)
	}
	e1 := eventID(alice.b.self, 1)
	got := bob.waitMessages(t, 1)[0]
	bobHist.add(&core.Message{ID: 100, Peer: toAlice, Direction: core.Incoming, OriginID: got.OriginID, Time: time.Now(),
		Kind: core.KindChat, Body: got.Body})

	fix := &core.Message{ID: 2, Peer: toBob, Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "hello",
		CorrectionOf: core.MessageRef{ID: 1, OriginID: "xmpp-origin:c1"}}
	aliceHist.add(fix)
	if _, err := alice.b.Send(context.Background(), fix); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitMessages(t, 2)[1]; got.CorrectionOf.OriginID != e1 || got.Body != "hello" {
		t.Fatalf("bob got the correction %+v; want it to name %s", got, e1)
	}

	reply := &core.Message{ID: 7, Peer: toAlice, Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "hi",
		ReplyTo: core.MessageRef{ID: 100}}
	bobHist.add(reply)
	if _, err := bob.b.Send(context.Background(), reply); err != nil {
		t.Fatal(err)
	}
	if got := alice.waitMessages(t, 1)[0]; got.ReplyTo != (core.MessageRef{ID: 1, OriginID: e1}) {
		t.Fatalf("alice got the reply %+v; want it to name her message 1 (%s)", got, e1)
	}

	// A reference to a message of another network is left out, and the
	// message goes as a plain one.
	aliceHist.add(&core.Message{ID: 3, Network: 99, Peer: toBob, Direction: core.Incoming, OriginID: "irc-1", Time: time.Now()})
	other := &core.Message{ID: 4, Peer: toBob, Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "plain",
		ReplyTo: core.MessageRef{ID: 3}}
	if _, err := alice.b.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if got := bob.waitMessages(t, 3)[2]; !got.ReplyTo.IsZero() {
		t.Fatalf("bob got %+v, want no reference", got)
	}

	// A read position on bob's reply travels to alice as the position of
	// her copy of it, resolved by its event id.
	bobReplyEvent := alice.waitMessages(t, 1)[0].OriginID
	aliceHist.add(&core.Message{ID: 8, Peer: toBob, Direction: core.Incoming, OriginID: bobReplyEvent, Time: time.Now()})
	if err := alice.b.SendReadMarker(context.Background(), core.ReadMarker{Upto: 8}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		bob.mu.Lock()
		defer bob.mu.Unlock()
		for _, e := range bob.events {
			if r, ok := e.(core.PeerReadEvent); ok {
				return r.Upto == 7 && r.Peer == toAlice
			}
		}
		return false
	})
}

// TestPeerCannotRewriteUsersWords: a peer's correction of the user's own
// message, or of one it cannot be shown to have sent, is shown as a plain
// message; ids in the prefixes the server keeps for its own messages are
// refused as event ids and ignored as references.
func TestPeerCannotRewriteUsersWords(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	bob := b.user("bob")
	hist := bob.withHistory()
	toAlice := core.Peer{Kind: core.Direct, Remote: "alice@a.test"}
	hist.add(&core.Message{ID: 7, Peer: toAlice, Direction: core.Outgoing, Time: time.Now(), Kind: core.KindChat, Body: "bob's words"})
	hist.add(&core.Message{ID: 8, Peer: toAlice, Direction: core.Incoming, OriginID: "alices-1", Time: time.Now(), Kind: core.KindChat})
	bobsEvent := eventID(Address{Local: "bob", Domain: "b.test"}, 7)
	msg := func(id, correctionOf, replyTo string) Event {
		return Event{ID: id, Type: TypeMessage, From: "alice@a.test", To: "bob@b.test", Time: time.Now().UTC(), Kind: "chat",
			Body: "text of " + id, CorrectionOf: correctionOf, ReplyTo: replyTo}
	}
	res := post(t, a, b, msg("c1", bobsEvent, ""), msg("c2", "alices-1", ""), msg("c3", "unknown-1", "http-idem:x"),
		msg("xmpp-origin:abc", "", ""), msg("r1", "", bobsEvent))
	want := []string{StatusAccepted, StatusAccepted, StatusAccepted, StatusRejected, StatusAccepted}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("event %s: %+v, want %s", r.ID, r, want[i])
		}
	}
	ms := bob.waitMessages(t, 4)
	for _, c := range []struct {
		m                 *core.Message
		correction, reply core.MessageRef
	}{
		{ms[0], core.MessageRef{}, core.MessageRef{}},                            // of bob's own message
		{ms[1], core.MessageRef{ID: 8, OriginID: "alices-1"}, core.MessageRef{}}, // of alice's own
		{ms[2], core.MessageRef{}, core.MessageRef{}},                            // unknown, reserved
		{ms[3], core.MessageRef{}, core.MessageRef{ID: 7, OriginID: bobsEvent}},  // a reply may name bob's
	} {
		if c.m.CorrectionOf != c.correction || c.m.ReplyTo != c.reply {
			t.Errorf("%s: correction %+v reply %+v, want %+v %+v", c.m.Body, c.m.CorrectionOf, c.m.ReplyTo, c.correction, c.reply)
		}
	}
	// A message and its correction in one batch: the store resolves it in
	// the same transaction.
	if res := post(t, a, b, msg("n1", "", ""), msg("n2", "n1", "")); res[0].Status != StatusAccepted || res[1].Status != StatusAccepted {
		t.Fatalf("message and correction: %+v", res)
	}
	if ms := bob.waitMessages(t, 6); ms[5].CorrectionOf != (core.MessageRef{OriginID: "n1"}) {
		t.Errorf("the correction in the batch of its message: %+v", ms[5].CorrectionOf)
	}
}
