package httpapi

import (
	"fmt"
	"strings"
	"testing"
)

// convOf finds the conversation with remote in the caller's list.
func (e *env) convOf(token, remote string) conversationJSON {
	e.t.Helper()
	var list struct{ Conversations []conversationJSON }
	e.mustDo("GET", "/api/v1/conversations", token, nil, 200, &list)
	for _, c := range list.Conversations {
		if c.Peer.Remote == remote {
			return c
		}
	}
	e.t.Fatalf("no conversation %s in %+v", remote, list.Conversations)
	return conversationJSON{}
}

func bodiesOf(ms []messageJSON) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Body
	}
	return out
}

func TestConversationsAndPaging(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	b.incoming(t, "#a", "1", "2", "3", "4", "5")
	b.incoming(t, "#b", "only")
	c := e.convOf(tok, "#a")
	if c.Last == nil || c.Last.Body != "5" || c.Unread != 5 || c.ReadUpto != "" {
		t.Fatalf("#a: %+v", c)
	}
	base := fmt.Sprintf("/api/v1/conversations/%d/messages", c.ID)
	var page messagesPage
	e.mustDo("GET", base+"?limit=2", tok, nil, 200, &page)
	if fmt.Sprint(bodiesOf(page.Messages)) != "[4 5]" || !page.More {
		t.Fatalf("newest 2: %v more=%v", bodiesOf(page.Messages), page.More)
	}
	e.mustDo("GET", base+"?limit=2&before="+page.Messages[0].ID, tok, nil, 200, &page)
	if fmt.Sprint(bodiesOf(page.Messages)) != "[2 3]" || !page.More {
		t.Fatalf("before: %v more=%v", bodiesOf(page.Messages), page.More)
	}
	first := page.Messages[0].ID
	e.mustDo("GET", base+"?after="+first, tok, nil, 200, &page)
	if fmt.Sprint(bodiesOf(page.Messages)) != "[3 4 5]" || page.More {
		t.Fatalf("after: %v more=%v", bodiesOf(page.Messages), page.More)
	}
	e.wantProblem(e.do("GET", base+"?before=nope", tok, nil), 400, "before")
	e.wantProblem(e.do("GET", base+"?limit=0", tok, nil), 400, "limit")
	e.wantProblem(e.do("GET", base+"?limit=501", tok, nil), 400, "limit")
	e.wantProblem(e.do("GET", "/api/v1/conversations/999/messages", tok, nil), 404, "")
	e.wantProblem(e.do("GET", "/api/v1/conversations/x/messages", tok, nil), 400, "id")

	// Reading up to "2" leaves three unread, and every stream hears of it.
	sse := e.events(tok, "")
	sse.next("ready")
	e.mustDo("PUT", fmt.Sprintf("/api/v1/conversations/%d/read", c.ID), tok, map[string]string{"upto": first}, 204, nil)
	ev := sse.next("read")
	if want := fmt.Sprintf(`"conversation":%d,"upto":"%s"`, c.ID, first); !strings.Contains(ev.data, want) {
		t.Fatalf("read event %s, want %s", ev.data, want)
	}
	if c := e.convOf(tok, "#a"); c.Unread != 3 || c.ReadUpto != first {
		t.Fatalf("after marking: %+v", c)
	}
	other := e.convOf(tok, "#b")
	e.wantProblem(e.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/read", c.ID), tok, map[string]string{"upto": other.Last.ID}), 400, "upto")
	e.wantProblem(e.do("PUT", fmt.Sprintf("/api/v1/conversations/%d/read", c.ID), tok, map[string]string{"upto": "x"}), 400, "upto")
}

func TestSendIdempotent(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	b.incoming(t, "#a", "hi")
	c := e.convOf(tok, "#a")
	path := fmt.Sprintf("/api/v1/conversations/%d/messages", c.ID)
	sse := e.events(tok, "")
	sse.next("ready")

	var first, again messageJSON
	e.mustDo("POST", path, tok, map[string]any{"body": "hello there"}, 201, &first, "Idempotency-Key", "k1")
	resp := e.mustDo("POST", path, tok, map[string]any{"body": "hello there"}, 201, &again, "Idempotency-Key", "k1")
	if again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" || first.Direction != "out" {
		t.Fatalf("retry: first %+v, again %+v (%v)", first, again, resp.Header)
	}
	// The same key for another request is refused.
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "other"}, "Idempotency-Key", "k1"), 422, "Idempotency-Key")
	// An action replying to the first.
	var act messageJSON
	e.mustDo("POST", path, tok, map[string]any{"body": "waves", "kind": "action", "reply_to": first.ID}, 201, &act)
	if act.Kind != "action" || act.ReplyTo != first.ID {
		t.Fatalf("action: %+v", act)
	}
	// Stored once, carbon once on the stream, sent to the network once.
	if m := messageOf(t, sse.next("message")); m.ID != first.ID || m.Body != "hello there" {
		t.Fatalf("SSE carbon: %+v", m)
	}
	if m := messageOf(t, sse.next("message")); m.ID != act.ID {
		t.Fatalf("second SSE message: %+v, want the action", m)
	}
	for range 200 {
		if len(b.sentBodies()) == 2 {
			break
		}
		sleepMs(5)
	}
	if got := fmt.Sprint(b.sentBodies()); got != "[hello there waves]" {
		t.Fatalf("the network got %s", got)
	}

	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "  "}), 400, "body")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "x", "kind": "join"}), 400, "kind")
	// Reactions: the whole set, one a line, for a message of this
	// conversation; none withdraws them.
	var react messageJSON
	e.mustDo("POST", path, tok, map[string]any{"body": "👍\n🎉", "kind": "reaction", "reply_to": first.ID}, 201, &react)
	if react.Kind != "reaction" || react.ReplyTo != first.ID || react.Body != "👍\n🎉" {
		t.Fatalf("reaction: %+v", react)
	}
	e.mustDo("POST", path, tok, map[string]any{"body": "", "kind": "reaction", "reply_to": first.ID}, 201, &react)
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "👍", "kind": "reaction"}), 400, "reply_to")
	// A network whose rooms carry no reactions refuses one before it is
	// stored.
	_, pb := e.network(tok, "plainirc")
	pb.incoming(t, "#p", "no reactions here")
	pc := e.convOf(tok, "#p")
	ppath := fmt.Sprintf("/api/v1/conversations/%d/messages", pc.ID)
	e.wantProblem(e.do("POST", ppath, tok, map[string]any{"body": "👍", "kind": "reaction", "reply_to": pc.Last.ID}), 409, "kind")
	if got := pb.sentBodies(); len(got) != 0 {
		t.Errorf("the plain network was sent %q", got)
	}
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "👍\n👍", "kind": "reaction", "reply_to": first.ID}), 400, "body")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": strings.Repeat("x\n", 17) + "x", "kind": "reaction", "reply_to": first.ID}), 400, "body")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "x", "reply_to": "0000000000001"}), 400, "reply_to")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "x"}, "Idempotency-Key", strings.Repeat("k", 300)), 400, "Idempotency-Key")

	// A disabled network takes no sends.
	e.mustDo("PATCH", fmt.Sprintf("/api/v1/networks/%d", b.env.Network.ID), tok, map[string]any{"enabled": false}, 200, nil)
	e.wantProblem(e.do("POST", path, tok, map[string]any{"body": "x"}), 409, "")
}

// TestMessagesAround is the page a search result opens: the message with
// older ones before it and newer ones after, and whether each side goes on.
func TestMessagesAround(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, b := e.network(tok, "lab")
	b.incoming(t, "#a", "1", "2", "3", "4", "5", "6", "7")
	c := e.convOf(tok, "#a")
	base := fmt.Sprintf("/api/v1/conversations/%d/messages", c.ID)
	var all messagesPage
	e.mustDo("GET", base, tok, nil, 200, &all)
	id := func(body string) string {
		for _, m := range all.Messages {
			if m.Body == body {
				return m.ID
			}
		}
		t.Fatalf("no message %q", body)
		return ""
	}
	for _, tc := range []struct {
		around, limit, want string
		more, moreAfter     bool
	}{
		{"4", "4", "[2 3 4 5]", true, true},
		{"4", "3", "[3 4 5]", true, true},
		{"2", "6", "[1 2 3 4]", false, true},
		{"7", "4", "[5 6 7]", true, false},
		{"4", "50", "[1 2 3 4 5 6 7]", false, false},
	} {
		var page messagesPage
		e.mustDo("GET", base+"?around="+id(tc.around)+"&limit="+tc.limit, tok, nil, 200, &page)
		if got := fmt.Sprint(bodiesOf(page.Messages)); got != tc.want || page.More != tc.more || page.MoreAfter != tc.moreAfter {
			t.Errorf("around %s limit %s: %s more=%v more_after=%v, want %s %v %v", tc.around, tc.limit,
				got, page.More, page.MoreAfter, tc.want, tc.more, tc.moreAfter)
		}
	}
	e.wantProblem(e.do("GET", base+"?around=nope", tok, nil), 400, "around")
	e.wantProblem(e.do("GET", base+"?around="+id("4")+"&before="+id("5"), tok, nil), 400, "around")
	// Another user's conversation stays unseen, around or not.
	_, bob := e.user("bob")
	e.wantProblem(e.do("GET", base+"?around="+id("4"), bob, nil), 404, "")
}

// TestSendToAddress starts a conversation by address on a network; the
// same address again finds it, and a keyed retry sends nothing twice.
func TestSendToAddress(t *testing.T) {
	e := newEnv(t)
	_, tok := e.user("alice")
	_, tokB := e.user("bob")
	nw, b := e.network(tok, "lab")
	path := fmt.Sprintf("/api/v1/networks/%d/messages", nw.ID)
	var first, again, second messageJSON
	e.mustDo("POST", path, tok, map[string]any{"to": "carol", "body": "hello carol"}, 201, &first, "Idempotency-Key", "t1")
	resp := e.mustDo("POST", path, tok, map[string]any{"to": "carol", "body": "hello carol"}, 201, &again, "Idempotency-Key", "t1")
	if again.ID != first.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry: first %+v, again %+v", first, again)
	}
	e.wantProblem(e.do("POST", path, tok, map[string]any{"to": "dave", "body": "hello carol"}, "Idempotency-Key", "t1"), 422, "Idempotency-Key")
	e.mustDo("POST", path, tok, map[string]any{"to": "carol", "body": "again"}, 201, &second)
	if first.Peer.Remote != "carol" || first.Direction != "out" || second.Conversation != first.Conversation || first.Conversation == 0 {
		t.Fatalf("first %+v, second %+v", first, second)
	}
	for range 200 {
		if len(b.sentBodies()) == 2 {
			break
		}
		sleepMs(5)
	}
	if got := fmt.Sprint(b.sentBodies()); got != "[hello carol again]" {
		t.Fatalf("the network got %s", got)
	}
	e.wantProblem(e.do("POST", path, tok, map[string]any{"to": " ", "body": "x"}), 400, "to")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"to": "a\nb", "body": "x"}), 400, "to")
	e.wantProblem(e.do("POST", path, tok, map[string]any{"to": "carol", "body": ""}), 400, "body")
	// Another user's network is not found.
	e.wantProblem(e.do("POST", path, tokB, map[string]any{"to": "carol", "body": "x"}), 404, "")
}
