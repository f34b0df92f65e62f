package history

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
	"github.com/switchboard/switchboard/history/ftsquery"
)

func searchFixture(t testing.TB) (*Store, fixture, fixture, core.ConversationID) {
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	msgs := []*core.Message{
		alice.msg("#go", "the build is broken again"),
		alice.msg("#go", "fixed the broken build"),
		alice.msg("#go", "Café au lait at the meetup"),
		alice.msg("#rust", "borrow checker says no"),
		alice.msg("#rust", "the build passes on rust"),
	}
	msgs[3].Sender = core.Address{Addr: "carol", Name: "Carol"}
	for i, m := range msgs {
		m.Time = time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)
	}
	ws := appendAll(t, s, msgs...)
	appendAll(t, s, bob.msg("#go", "bob has a secret build too"))
	return s, alice, bob, ws[0].Message.Conversation
}

func TestSearchSemantics(t *testing.T) {
	s, alice, _, goConv := searchFixture(t)
	ctx := context.Background()
	cases := []struct {
		name string
		q    core.SearchQuery
		want []string // newest first
	}{
		{"word across conversations", core.SearchQuery{Text: "build"},
			[]string{"the build passes on rust", "fixed the broken build", "the build is broken again"}},
		{"two words", core.SearchQuery{Text: "build broken"},
			[]string{"fixed the broken build", "the build is broken again"}},
		{"phrase", core.SearchQuery{Text: `"broken build"`}, []string{"fixed the broken build"}},
		// Within one conversation phrases are checked on the text.
		{"phrase in one conversation", core.SearchQuery{Text: `"broken build"`, Conversation: goConv},
			[]string{"fixed the broken build"}},
		{"phrase checked after its words", core.SearchQuery{Text: `"build is" fixed`, Conversation: goConv}, []string{}},
		{"phrase against folded text", core.SearchQuery{Text: `"cafe au"`, Conversation: goConv},
			[]string{"Café au lait at the meetup"}},
		{"phrase against folded text, all conversations", core.SearchQuery{Text: `"cafe au"`},
			[]string{"Café au lait at the meetup"}},
		{"phrase in an or", core.SearchQuery{Text: `"build is" OR meetup`},
			[]string{"Café au lait at the meetup", "the build is broken again"}},
		{"phrase excluded", core.SearchQuery{Text: `build -"broken build"`},
			[]string{"the build passes on rust", "the build is broken again"}},
		{"prefix", core.SearchQuery{Text: "bor*"}, []string{"borrow checker says no"}},
		{"or", core.SearchQuery{Text: "borrow OR meetup"},
			[]string{"borrow checker says no", "Café au lait at the meetup"}},
		{"not", core.SearchQuery{Text: "build -rust"},
			[]string{"fixed the broken build", "the build is broken again"}},
		{"diacritics folded", core.SearchQuery{Text: "cafe"}, []string{"Café au lait at the meetup"}},
		{"in one conversation", core.SearchQuery{Text: "build", Conversation: goConv},
			[]string{"fixed the broken build", "the build is broken again"}},
		{"in one network", core.SearchQuery{Text: "borrow", Network: alice.net.ID}, []string{"borrow checker says no"}},
		{"by sender", core.SearchQuery{Text: "says OR build", Sender: "Carol"}, []string{"borrow checker says no"}},
		{"time range", core.SearchQuery{Text: "build",
			Since: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)},
			[]string{"fixed the broken build"}},
		{"limit", core.SearchQuery{Text: "build", Limit: 1}, []string{"the build passes on rust"}},
		{"no match", core.SearchQuery{Text: "nonexistentword"}, []string{}},
	}
	// Both plans (see fewMatches) must give the same answers: a probe
	// limit of 1 calls every match "many" and keeps the scope in the index.
	for _, plan := range []struct {
		name  string
		limit int
	}{{"scope in the index", 1}, {"scope on the messages", probeLimit}} {
		s.probeLimit = plan.limit
		for _, c := range cases {
			t.Run(plan.name+"/"+c.name, func(t *testing.T) {
				c.q.User = alice.user.ID
				rs, err := s.Search(ctx, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if got := resultBodies(rs); !equal(got, c.want) {
					t.Fatalf("got %q, want %q", got, c.want)
				}
			})
		}
	}
}

func TestSearchPagesWithBefore(t *testing.T) {
	s, alice, _, _ := searchFixture(t)
	ctx := context.Background()
	for _, limit := range []int{1, 2, probeLimit} {
		s.probeLimit = limit
		first, err := s.Search(ctx, core.SearchQuery{User: alice.user.ID, Text: "build", Limit: 2})
		if err != nil || len(first) != 2 {
			t.Fatalf("probe limit %d, first page: %v, %v", limit, resultBodies(first), err)
		}
		rest, err := s.Search(ctx, core.SearchQuery{User: alice.user.ID, Text: "build", Before: first[1].Message.ID})
		if err != nil || !equal(resultBodies(rest), []string{"the build is broken again"}) {
			t.Fatalf("probe limit %d, second page: %v, %v", limit, resultBodies(rest), err)
		}
	}
}

func TestSearchRanksByRelevance(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	appendAll(t, s, f.msg("#a", "deploy deploy deploy today"), f.msg("#a", "one deploy among many other words in a long line here"))
	rs, err := s.Search(context.Background(), core.SearchQuery{User: f.user.ID, Text: "deploy", Ranking: core.ByRelevance})
	if err != nil || len(rs) != 2 || rs[0].Message.Body != "deploy deploy deploy today" {
		t.Fatalf("relevance order: %v, %v", resultBodies(rs), err)
	}
}

func TestSearchHighlights(t *testing.T) {
	s, alice, _, _ := searchFixture(t)
	rs, err := s.Search(context.Background(), core.SearchQuery{User: alice.user.ID, Text: "meetup"})
	if err != nil || len(rs) != 1 {
		t.Fatalf("%v %v", rs, err)
	}
	r := rs[0]
	if r.Snippet != "Café au lait at the meetup" || len(r.Highlights) != 1 {
		t.Fatalf("snippet %q highlights %v", r.Snippet, r.Highlights)
	}
	if h := r.Highlights[0]; r.Snippet[h.Start:h.End] != "meetup" {
		t.Fatalf("highlight covers %q", r.Snippet[h.Start:h.End])
	}
}

func TestSearchIsolatesUsers(t *testing.T) {
	s, alice, bob, goConv := searchFixture(t)
	ctx := context.Background()
	rs, err := s.Search(ctx, core.SearchQuery{User: bob.user.ID, Text: "build"})
	if err != nil || !equal(resultBodies(rs), []string{"bob has a secret build too"}) {
		t.Fatalf("bob sees %v, %v", resultBodies(rs), err)
	}
	rs, _ = s.Search(ctx, core.SearchQuery{User: alice.user.ID, Text: "secret"})
	if len(rs) != 0 {
		t.Fatalf("alice sees bob's message: %v", resultBodies(rs))
	}
	// Naming another user's conversation or network is refused.
	if _, err := s.Search(ctx, core.SearchQuery{User: bob.user.ID, Text: "build", Conversation: goConv}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob searching alice's conversation: %v", err)
	}
	if _, err := s.Search(ctx, core.SearchQuery{User: bob.user.ID, Text: "build", Network: alice.net.ID}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bob searching alice's network: %v", err)
	}
	page, err := s.Messages(ctx, core.PageQuery{User: bob.user.ID, Conversation: goConv})
	if err != nil || len(page) != 0 {
		t.Fatalf("bob paging alice's conversation: %v, %v", bodies(page), err)
	}
	if _, err := s.Message(ctx, bob.user.ID, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Message of another user: %v", err)
	}
}

func TestSearchRejectsBadQueries(t *testing.T) {
	s, alice, _, _ := searchFixture(t)
	for _, q := range []string{`"unclosed`, "-only", "a OR", "(((", "!!!", ""} {
		_, err := s.Search(context.Background(), core.SearchQuery{User: alice.user.ID, Text: q})
		var qe *core.QueryError
		if !errors.As(err, &qe) || qe.Reason == "" {
			t.Errorf("query %q: err = %v, want *core.QueryError with a reason", q, err)
			continue
		}
		var fe *ftsquery.Error
		if !errors.As(err, &fe) || fe.Offset != qe.Offset {
			t.Errorf("query %q: err = %v, want it to wrap the parser's *ftsquery.Error", q, err)
		}
		if !strings.HasPrefix(err.Error(), "search query: ") {
			t.Errorf("query %q: %q lost the text ports match on", q, err)
		}
	}
}

// FuzzSearch runs arbitrary user input through translation and the real
// FTS5 index: a query either fails with a query error or runs.
func FuzzSearch(f *testing.F) {
	for _, q := range []string{"build", `"a b"`, "a* OR -b", "NEAR(a b)", "body:x", "{scope}: u1", "a AND (b OR NOT c)", "\x00", "é*"} {
		f.Add(q)
	}
	s, alice, _, _ := searchFixture(f)
	since := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, q string) {
		for _, sq := range []core.SearchQuery{
			{Text: q, Sender: q},
			{Text: q, Ranking: core.ByRelevance},
			{Text: q, Since: since, Until: since.AddDate(0, 0, 2), Ranking: core.ByRelevance},
		} {
			sq.User = alice.user.ID
			_, err := s.Search(context.Background(), sq)
			var qe *core.QueryError
			if err != nil && !errors.As(err, &qe) {
				t.Fatalf("query %+v: %v", sq, err)
			}
		}
	})
}

func TestSearchRelevanceScoresTheNewestWindow(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	appendAll(t, s, f.msg("#a", "deploy deploy deploy, the best match, but old"))
	appendAll(t, s, f.msg("#a", "one deploy among many other words in a long line"), f.msg("#a", "deploy again among other words"))
	q := core.SearchQuery{User: f.user.ID, Text: "deploy", Ranking: core.ByRelevance}
	rs, err := s.Search(context.Background(), q)
	if err != nil || len(rs) != 3 || rs[0].Message.Body != "deploy deploy deploy, the best match, but old" {
		t.Fatalf("all matches in the window: %v, %v", resultBodies(rs), err)
	}
	s.relevanceWindow = 2
	rs, err = s.Search(context.Background(), q)
	if err != nil || !equal(resultBodies(rs), []string{"deploy again among other words", "one deploy among many other words in a long line"}) {
		t.Fatalf("window of 2: %v, %v", resultBodies(rs), err)
	}
}

// A word in most messages is checked on the text, not looked up in the
// index, when a search within one conversation has another term: the
// answers are the same.
func TestSearchChecksDenseWordsOnTheText(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	f := newFixture(t, s, "alice")
	var msgs []*core.Message
	for i := 0; i < denseSample+50; i++ {
		msgs = append(msgs, f.msg("#go", fmt.Sprintf("the line %d", i)))
	}
	msgs = append(msgs, f.msg("#go", "failing without it"), f.msg("#go", "The build is failing"), f.msg("#rust", "the failing rust"))
	ws := appendAll(t, s, msgs...)
	if dense, err := s.denseWord(ctx, "the"); err != nil || !dense {
		t.Fatalf(`denseWord("the") = %v, %v; want true`, dense, err)
	}
	if dense, err := s.denseWord(ctx, "failing"); err != nil || dense {
		t.Fatalf(`denseWord("failing") = %v, %v; want false`, dense, err)
	}
	conv := ws[0].Message.Conversation
	for _, limit := range []int{1, probeLimit} {
		s.probeLimit = limit
		for _, c := range []struct {
			text string
			want []string
		}{
			{"the failing", []string{"The build is failing"}},
			{`"is failing" the`, []string{"The build is failing"}},
			{"the -line", []string{"The build is failing"}},
			{"the line 7", []string{"the line 7"}},
		} {
			rs, err := s.Search(ctx, core.SearchQuery{User: f.user.ID, Conversation: conv, Text: c.text, Limit: 5})
			if err != nil || !equal(resultBodies(rs), c.want) {
				t.Errorf("probe limit %d, %q: %q, %v; want %q", limit, c.text, resultBodies(rs), err, c.want)
			}
		}
	}
}
