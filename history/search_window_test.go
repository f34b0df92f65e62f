package history

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// windowCorpus appends messages whose sent times disagree with their ids
// in every way a window must survive: appended live with times in any
// order and years before their archive time, imported (ids from their
// own times), on both sides of hour boundaries, before 1970, and another
// user's in the same hours.
func windowCorpus(t *testing.T, s *Store, alice, bob fixture) []*core.Message {
	t.Helper()
	ctx := context.Background()
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"build", "bug", "budget", "deploy", "deadline", "coffee"}
	var all []*core.Message
	mk := func(f fixture, at time.Time) *core.Message {
		m := f.msg([]string{"#go", "#ops"}[rng.IntN(2)],
			words[rng.IntN(len(words))]+" "+words[rng.IntN(len(words))]+fmt.Sprint(" n", len(all)))
		m.Time = at
		all = append(all, m)
		return m
	}
	var live []core.Write
	for i := 0; i < 120; i++ {
		// Minutes apart within a few days, shuffled: ids ascend in
		// append order, sent times do not.
		at := base.Add(time.Duration(rng.IntN(4*24*60)) * time.Minute)
		live = append(live, core.Write{Message: mk(alice, at)})
	}
	edges := []time.Time{
		base, base.Add(-time.Millisecond), base.Add(time.Hour - time.Millisecond), base.Add(time.Hour),
		base.Add(90 * time.Minute), time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC),
		time.Date(1970, 1, 1, 0, 30, 0, 0, time.UTC),
	}
	for _, at := range edges {
		live = append(live, core.Write{Message: mk(alice, at)})
	}
	if err := s.Append(ctx, live); err != nil {
		t.Fatal(err)
	}
	var imported []core.Write
	for i := 0; i < 40; i++ {
		at := base.Add(time.Duration(rng.IntN(4*24*60)) * time.Minute)
		imported = append(imported, core.Write{Message: mk(alice, at)})
	}
	if err := s.Import(ctx, imported); err != nil {
		t.Fatal(err)
	}
	var others []core.Write
	for i := 0; i < 30; i++ {
		others = append(others, core.Write{Message: mk(bob, base.Add(time.Duration(rng.IntN(4*24*60))*time.Minute))})
	}
	if err := s.Append(ctx, others); err != nil {
		t.Fatal(err)
	}
	return all
}

// wantWindow is the answer worked out on the messages themselves: the
// user's messages sent in [since, until) with a word that starts with
// prefix, newest id first, before the cursor.
func wantWindow(all []*core.Message, user core.UserID, prefix string, since, until time.Time, before core.MessageID, limit int) []string {
	var hits []*core.Message
	for _, m := range all {
		if m.User != user || (!since.IsZero() && m.Time.Before(since)) || (!until.IsZero() && !m.Time.Before(until)) {
			continue
		}
		if before != 0 && m.ID >= before {
			continue
		}
		if slices.ContainsFunc(strings.Fields(m.Body), func(w string) bool { return strings.HasPrefix(w, prefix) }) {
			hits = append(hits, m)
		}
	}
	slices.SortFunc(hits, func(a, b *core.Message) int { return cmp.Compare(b.ID, a.ID) })
	out := []string{}
	for _, m := range hits[:min(limit, len(hits))] {
		out = append(out, m.Body)
	}
	return out
}

// A time window narrows the walk of the index to the ids sent in its
// hours (message_hours) and still filters on each message's own time:
// every window, prefix and page gives what the messages themselves say,
// in both plans of fewMatches.
func TestSearchTimeWindows(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	all := windowCorpus(t, s, alice, bob)
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	type window struct{ since, until time.Time }
	windows := []window{
		{base, base.Add(time.Hour)},
		{base.Add(-time.Millisecond), base},
		{base.Add(30 * time.Minute), base.Add(100 * time.Minute)}, // inside and across hours
		{base.Add(24 * time.Hour), base.Add(48 * time.Hour)},
		{base.Add(-48 * time.Hour), base.Add(-24 * time.Hour)}, // nothing sent
		{time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(1970, 1, 1, 1, 0, 0, 0, time.UTC)},
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), time.Time{}},
		{time.Time{}, base.Add(12 * time.Hour)},
		{base.Add(36 * time.Hour), time.Time{}},
		{base.Add(time.Hour), base}, // empty: until before since
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 20; i++ {
		since := base.Add(time.Duration(rng.IntN(4*24*60)) * time.Minute)
		windows = append(windows, window{since, since.Add(time.Duration(1+rng.IntN(24*60)) * time.Minute)})
	}
	for _, limit := range []int{1, probeLimit} {
		s.probeLimit = limit
		for _, w := range windows {
			for _, prefix := range []string{"bu", "bud", "budg", "deploy", "coffee"} {
				text := prefix + "*"
				if len(prefix) > 4 {
					text = prefix
				}
				q := core.SearchQuery{User: alice.user.ID, Text: text, Since: w.since, Until: w.until, Limit: 7}
				var before core.MessageID
				for page := 0; page < 40; page++ {
					q.Before = before
					rs, err := s.Search(ctx, q)
					if err != nil {
						t.Fatalf("%q %v: %v", text, w, err)
					}
					want := wantWindow(all, alice.user.ID, prefix, w.since, w.until, before, q.Limit)
					if got := resultBodies(rs); !equal(got, want) {
						t.Fatalf("probe limit %d, %q in [%v, %v) before %v:\n got %q\nwant %q", limit, text, w.since, w.until, before, got, want)
					}
					if len(rs) < q.Limit {
						break
					}
					before = rs[len(rs)-1].Message.ID
				}
			}
		}
	}
	// Relevance ranks the window's matches only.
	w := windows[2]
	rs, err := s.Search(ctx, core.SearchQuery{User: alice.user.ID, Text: "bu*", Since: w.since, Until: w.until, Ranking: core.ByRelevance})
	want := wantWindow(all, alice.user.ID, "bu", w.since, w.until, 0, 50)
	if err != nil || len(rs) != len(want) {
		t.Fatalf("relevance in a window: %q, %v; want the %d of %q", resultBodies(rs), err, len(want), want)
	}
	for _, r := range rs {
		if !slices.Contains(want, r.Message.Body) {
			t.Fatalf("relevance in a window found %q, outside %q", r.Message.Body, want)
		}
	}
}

// Both plans of a relevance-ranked search (see relevanceWindowIDs) rank
// the same rows the same way: the scope column weighs nothing in bm25.
func TestSearchRelevancePlansAgree(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	alice := newFixture(t, s, "alice")
	bob := newFixture(t, s, "bob")
	all := windowCorpus(t, s, alice, bob)
	goConv := all[0].Conversation
	if all[1].Conversation != goConv {
		goConv = all[1].Conversation
	}
	base := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	queries := []core.SearchQuery{
		{Text: "bu*"}, {Text: "deploy OR coffee"}, {Text: "budget -build"},
		{Text: "deploy", Conversation: goConv}, {Text: "bu*", Network: alice.net.ID},
		{Text: "coffee", Since: base, Until: base.Add(30 * time.Hour)},
		{Text: "deadline", Sender: "bob"},
	}
	for _, window := range []int{5, relevanceWindow} {
		s.relevanceWindow = window
		for _, q := range queries {
			q.User, q.Ranking, q.Limit = alice.user.ID, core.ByRelevance, 10
			s.relevanceSpread = relevanceSpread
			scored, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			s.relevanceSpread = 0 // the scope stays in the ranking query
			scoped, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(scored) == 0 || !equal(resultBodies(scored), resultBodies(scoped)) {
				t.Errorf("window %d, %+v:\nwords alone %q\n with scope %q", window, q, resultBodies(scored), resultBodies(scoped))
			}
		}
	}
}
