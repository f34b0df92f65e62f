package fed

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
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

// TestReactionsAndReadEvents: a reaction shows as a reply carrying the
// reactions, both ways; a withdrawn set, and a read position on a message
// the receiver cannot find, are accepted and show nothing; bad ones are
// rejected alone.
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
		ms := c.at.waitMessages(t, 1)
		time.Sleep(50 * time.Millisecond)
		if ms = c.at.messages(); len(ms) != 1 || ms[0].Body != "👍 🎉" || ms[0].ReplyTo.OriginID != "m-1" || ms[0].OriginID != "re-1" {
			t.Errorf("%s got %+v", c.rcpt, ms)
		}
	}
}
