package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// searchFixture gives alice the networks libera and oftc, both with a #go,
// and returns her messages in the order they were stored.
func searchFixture(t testing.TB) []*core.Message {
	t.Helper()
	mustRun(t, "", "user", "add", "alice")
	addIRC(t, "alice", "libera")
	addIRC(t, "alice", "oftc")
	day := func(m time.Month, d int) time.Time { return time.Date(2026, m, d, 12, 0, 0, 0, time.Local) }
	msgs := appendMessages(t, "alice", "libera",
		chat("#go", "bob", "deploy failed on staging", day(time.January, 5)),
		chat("#go", "dave", "unrelated chatter", day(time.January, 6)),
		chat("#rust", "bob", "we deploy tomorrow", day(time.February, 10)),
	)
	msgs = append(msgs, appendMessages(t, "alice", "oftc",
		chat("#go", "carol", "the deploy went fine", time.Date(2025, time.December, 20, 12, 0, 0, 0, time.Local)),
	)...)
	// Another user's matching message must never show.
	mustRun(t, "", "user", "add", "mallory")
	addIRC(t, "mallory", "libera")
	appendMessages(t, "mallory", "libera", chat("#go", "bob", "deploy secrets", day(time.March, 1)))
	return msgs
}

// searchLine is how search prints a result whose snippet is the whole body.
func searchLine(m *core.Message, network, marked string) string {
	return fmt.Sprintf("%s  %s@%s  <%s>  %s  [%s]", m.Time.Local().Format("2006-01-02 15:04"),
		m.Peer.Remote, network, m.Sender.Addr, marked, m.ID)
}

func TestSearch(t *testing.T) {
	msgs := searchFixture(t)
	lines := []string{
		searchLine(msgs[0], "libera", "*deploy* failed on staging"),
		searchLine(msgs[1], "libera", "unrelated chatter"),
		searchLine(msgs[2], "libera", "we *deploy* tomorrow"),
		searchLine(msgs[3], "oftc", "the *deploy* went fine"),
		searchLine(msgs[0], "libera", "*deploy failed* on staging"),
	}
	// Newest stored first.
	for _, c := range []struct {
		args []string
		want []int // indexes into lines
	}{
		{[]string{"deploy"}, []int{3, 2, 0}},
		{[]string{"deploy", "--in", "#go@libera"}, []int{0}},
		{[]string{"deploy", "--in", "#go@oftc"}, []int{3}},
		{[]string{"deploy", "--in", "#go", "--network", "oftc"}, []int{3}},
		{[]string{"deploy", "--in", "#RUST"}, []int{2}},
		{[]string{"deploy", "--network", "libera"}, []int{2, 0}},
		{[]string{"deploy", "--network", "oftc"}, []int{3}},
		{[]string{"deploy", "--from", "bob"}, []int{2, 0}},
		{[]string{"deploy", "--from", "BOB"}, []int{2, 0}},
		{[]string{"deploy", "--since", "2026-01-01"}, []int{2, 0}},
		{[]string{"deploy", "--until", "2026-01-01"}, []int{3}},
		{[]string{"deploy", "--since", "2026-01-01", "--until", "2026-02-01T00:00:00Z"}, []int{0}},
		{[]string{"deploy", "--limit", "1"}, []int{3}},
		{[]string{"deploy -staging"}, []int{3, 2}},
		{[]string{`"deploy failed"`}, []int{4}},
		{[]string{"dep*", "--relevance", "--in", "#go@libera"}, []int{0}},
	} {
		args := append([]string{"search", "alice"}, c.args...)
		out, errOut, err := run(t, "", args...)
		if err != nil {
			t.Fatalf("switchboard %s: %v", strings.Join(args, " "), err)
		}
		var want strings.Builder
		for _, i := range c.want {
			want.WriteString(lines[i] + "\n")
		}
		if out != want.String() || errOut != "" {
			t.Errorf("switchboard %s printed\n%s(stderr %q)\nwant\n%s", strings.Join(args, " "), out, errOut, want.String())
		}
	}

	out, errOut, err := run(t, "", "search", "alice", "nothingmatches")
	if err != nil || out != "" || errOut != "no messages match\n" {
		t.Fatalf("search without results: stdout %q, stderr %q, err %v", out, errOut, err)
	}
}

func TestSearchJSON(t *testing.T) {
	msgs := searchFixture(t)
	out := mustRun(t, "", "search", "alice", "deploy", "--json", "--network", "libera")
	var got []struct {
		ID           string    `json:"id"`
		Network      string    `json:"network"`
		Conversation string    `json:"conversation"`
		Time         time.Time `json:"time"`
		Sender       string    `json:"sender"`
		Body         string    `json:"body"`
		Snippet      string    `json:"snippet"`
		Highlights   [][2]int  `json:"highlights"`
		Kind         string    `json:"kind"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("search --json printed %q: %v", out, err)
	}
	want := []*core.Message{msgs[2], msgs[0]}
	if len(got) != len(want) {
		t.Fatalf("search --json returned %d results, want %d: %s", len(got), len(want), out)
	}
	for i, m := range want {
		g := got[i]
		id, err := core.ParseMessageID(g.ID)
		if err != nil || id != m.ID {
			t.Errorf("result %d: id %q (%v), want %s", i, g.ID, err, m.ID)
		}
		if g.Network != "libera" || g.Conversation != m.Peer.Remote || !g.Time.Equal(m.Time) ||
			g.Sender != m.Sender.Addr || g.Body != m.Body || g.Snippet != m.Body || g.Kind != "chat" {
			t.Errorf("result %d: %+v, want %+v", i, g, m)
		}
		if len(g.Highlights) != 1 || g.Snippet[g.Highlights[0][0]:g.Highlights[0][1]] != "deploy" {
			t.Errorf("result %d: highlights %v of %q", i, g.Highlights, g.Snippet)
		}
	}

	// No results are an empty list, not null.
	out = mustRun(t, "", "search", "alice", "nothingmatches", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("search --json without results printed %q", out)
	}
	if !json.Valid(bytes.TrimSpace([]byte(out))) {
		t.Fatalf("invalid JSON %q", out)
	}
}

func TestSearchErrors(t *testing.T) {
	searchFixture(t)
	s := func(args ...string) []string { return append([]string{"search", "alice"}, args...) }
	for _, c := range []struct {
		args []string
		want string
	}{
		{s(`"unclosed`), "QUERY: search query: unclosed quote at offset 0"},
		{s("--", "-deploy"), "QUERY: search query: a query needs at least one word that is not excluded at offset 0"},
		{s(""), "QUERY: search query: query has no searchable words at offset 0"},
		{s("deploy", "--since", "last tuesday"),
			`--since "last tuesday": want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (36h, 7d)`},
		{s("deploy", "--until", "2026-13-01"),
			`--until "2026-13-01": want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02) or an age (36h, 7d)`},
		{s("deploy", "--network", "efnet"),
			`--network: NETWORK: user "alice" has no network "efnet" (see "switchboard network list alice")`},
		{s("deploy", "--in", "#go"), `--in "#go": ambiguous, name the network: #go@libera, #go@oftc`},
		{s("deploy", "--in", "#haskell"), `--in "#haskell": alice has no such conversation`},
		{s("deploy", "--in", "#go@efnet"), `--in "#go@efnet": alice has no such conversation`},
		{s("deploy", "--in", "#rust", "--network", "oftc"), `--in "#rust": alice has no such conversation`},
		{s("deploy", "--limit", "0"), "--limit 0: must be 1 to 500"},
		{s("deploy", "--limit", "501"), "--limit 501: must be 1 to 500"},
		{[]string{"search", "zed", "deploy"}, `USER: no user "zed" (see "switchboard user list")`},
	} {
		wantErr(t, "", c.want, c.args...)
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2026-01-02T15:04:05Z", time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC)},
		{"2026-01-02", time.Date(2026, 1, 2, 0, 0, 0, 0, time.Local)},
		{"36h", now.Add(-36 * time.Hour)},
		{"7d", now.AddDate(0, 0, -7)},
	} {
		got, err := parseWhen("--since", c.in, now)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	if _, err := parseWhen("--since", "-7d", now); err == nil {
		t.Error("parseWhen accepted a negative age")
	}
}

// An XMPP remote has an "@" of its own: --in takes the network after the
// last one, and the network's name in any case.
func TestSearchInAddress(t *testing.T) {
	msgs := searchFixture(t)
	for _, n := range []string{"work", "home"} {
		mustRun(t, "pw\n", "network", "add", "alice", n, "--kind", "xmpp", "--jid", "alice@example.net", "--password-stdin")
	}
	direct := func(from, body string, day int) *core.Message {
		return &core.Message{Peer: core.Peer{Kind: core.Direct, Remote: from}, Sender: core.Address{Addr: from},
			Time: time.Date(2026, time.April, day, 12, 0, 0, 0, time.Local), Kind: core.KindChat, Body: body}
	}
	work := appendMessages(t, "alice", "work", direct("bob@example.net", "deploy at noon", 1))
	home := appendMessages(t, "alice", "home", direct("bob@example.net", "deploy the shed", 2))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--in", "bob@example.net@work"}, searchLine(work[0], "work", "*deploy* at noon")},
		{[]string{"--in", "Bob@Example.NET@WORK"}, searchLine(work[0], "work", "*deploy* at noon")},
		{[]string{"--in", "bob@example.net@home"}, searchLine(home[0], "home", "*deploy* the shed")},
		{[]string{"--in", "bob@example.net", "--network", "work"}, searchLine(work[0], "work", "*deploy* at noon")},
		{[]string{"--in", "#go@Libera"}, searchLine(msgs[0], "libera", "*deploy* failed on staging")},
		{[]string{"--in", "#GO@OFTC"}, searchLine(msgs[3], "oftc", "the *deploy* went fine")},
	} {
		args := append([]string{"search", "alice", "deploy"}, c.args...)
		out, errOut, err := run(t, "", args...)
		if err != nil {
			t.Errorf("switchboard %s: %v", strings.Join(args, " "), err)
			continue
		}
		if out != c.want+"\n" || errOut != "" {
			t.Errorf("switchboard %s printed\n%s(stderr %q)\nwant\n%s", strings.Join(args, " "), out, errOut, c.want+"\n")
		}
	}
	wantErr(t, "", `--in "bob@example.net": ambiguous, name the network: bob@example.net@work, bob@example.net@home`,
		"search", "alice", "deploy", "--in", "bob@example.net")
	wantErr(t, "", `--in "bob@example.net@efnet": alice has no such conversation`,
		"search", "alice", "deploy", "--in", "bob@example.net@efnet")
}
