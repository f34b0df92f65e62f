package irc

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// readySession is a registered session with CHATHISTORY, wanting
// channels, that has not yet seen the end of the MOTD.
func readySession(t *testing.T, channels ...string) (*session, *wire) {
	s, w := wireSession(t)
	s.ready = false
	withCaps(s, "draft/chathistory", "batch", "server-time", "message-tags")
	for _, ch := range channels {
		s.b.joined[ch] = channelJoin{name: ch}
	}
	return s, w
}

// TestOwnJoinDoesNotMoveGapStart: the bridge's own JOIN, and a live line
// before the member list ends, carry server-time; the gap fill must
// still ask for what came after the newest stored line, and for a
// channel never seen, for its latest lines.
func TestOwnJoinDoesNotMoveGapStart(t *testing.T) {
	s, w := readySession(t, "#c", "#new")
	s.b.lastSeen["#c"] = ts("2024-01-01T00:00:00.000Z")
	feed(t, s, ":srv 376 alice :End of MOTD")
	feed(t, s,
		"@time=2024-06-01T00:00:00.000Z :alice!u@h JOIN #c",
		"@time=2024-06-01T00:00:01.000Z;msgid=L1 :bob!u@h PRIVMSG #c :live",
		":srv 366 alice #c :End of /NAMES list.",
		"@time=2024-06-01T00:00:02.000Z :alice!u@h JOIN #new",
		":srv 366 alice #new :End of /NAMES list.",
	)
	got := withPrefix(w.written(), "CHATHISTORY")
	want := []string{
		"CHATHISTORY TARGETS timestamp=2024-01-01T00:00:00.000Z",
		"CHATHISTORY AFTER #c timestamp=2024-01-01T00:00:00.000Z 100",
		"CHATHISTORY LATEST #new * 100",
	}
	if len(got) != len(want) {
		t.Fatalf("requests %q, want %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("request %d is %q, want %q", i, got[i], want[i])
		}
	}
	// Live lines still move lastSeen, for the reconnect after this one.
	if s.b.lastSeen["#c"] != ts("2024-06-01T00:00:01.000Z") {
		t.Errorf("lastSeen of #c is %v after a live line", s.b.lastSeen["#c"])
	}
}

// TestUnfinishedGapIsFilledAgain: a session that ends before a
// channel's gap is filled gives the gap start back, so the next one
// asks again from there rather than from the live lines seen since;
// one that finished keeps the newest line.
func TestUnfinishedGapIsFilledAgain(t *testing.T) {
	start := ts("2024-01-01T00:00:00.000Z")
	for _, finished := range []bool{false, true} {
		s, w := readySession(t, "#c")
		s.b.lastSeen["#c"] = start
		s.b.lastSeen["dave"] = start
		feed(t, s, ":srv 376 alice :End of MOTD",
			"@time=2024-06-01T00:00:00.000Z :alice!u@h JOIN #c",
			":srv 366 alice #c :End",
			"@time=2024-06-01T00:00:01.000Z;msgid=L1 :bob!u@h PRIVMSG #c :live")
		if finished {
			feed(t, s, ":srv BATCH +h chathistory #c",
				"@batch=h;time=2024-03-01T00:00:00.000Z;msgid=H1 :bob!u@h PRIVMSG #c :missed",
				":srv BATCH -h",
				":srv BATCH +t draft/chathistory-targets",
				":srv BATCH -t")
		}
		w.written()
		s.saveOpenGaps()
		want, wantTargets := start, start
		if finished {
			want, wantTargets = ts("2024-06-01T00:00:01.000Z"), time.Time{}
		}
		if got := s.b.lastSeen["#c"]; !got.Equal(want) {
			t.Errorf("finished=%v: lastSeen of #c is %v, want %v", finished, got, want)
		}
		if got := s.b.targetsFrom; !got.Equal(wantTargets) {
			t.Errorf("finished=%v: the next TARGETS starts at %v, want %v", finished, got, wantTargets)
		}
	}
}

// TestChathistoryRequestsArePaced: 20 channels joined at once send only
// historyWindow requests; each answer, failure or timeout lets one more
// go.
func TestChathistoryRequestsArePaced(t *testing.T) {
	var names []string
	for i := range 20 {
		names = append(names, fmt.Sprintf("#c%d", i))
	}
	s, w := readySession(t, names...)
	feed(t, s, ":srv 376 alice :End of MOTD")
	for _, ch := range names {
		feed(t, s, ":alice!u@h JOIN "+ch, ":srv 366 alice "+ch+" :End")
	}
	sent := withPrefix(w.written(), "CHATHISTORY")
	if len(sent) != historyWindow {
		t.Fatalf("%d requests went out at once, want %d: %q", len(sent), historyWindow, sent)
	}
	first := strings.Fields(sent[0])[2]
	feed(t, s, ":srv BATCH +a chathistory "+first, ":srv BATCH -a")
	if n := len(withPrefix(w.written(), "CHATHISTORY")); n != 1 {
		t.Errorf("an answer let %d requests go, want 1", n)
	}
	second := strings.Fields(sent[1])[2]
	feed(t, s, "FAIL CHATHISTORY INVALID_TARGET AFTER "+second+" :no history here")
	if n := len(withPrefix(w.written(), "CHATHISTORY")); n != 1 {
		t.Errorf("a FAIL let %d requests go, want 1", n)
	}
	defer func(d time.Duration) { historyTimeout = d }(historyTimeout)
	historyTimeout = 0
	s.historyTimedOut()
	if n := len(withPrefix(w.written(), "CHATHISTORY")); n != historyWindow {
		t.Errorf("timing out %d requests let %d go", historyWindow, n)
	}
}

// TestHistoryPagingStopsWithoutProgress: a server that answers a full
// page that gets no further than the one before is not asked forever.
func TestHistoryPagingStopsWithoutProgress(t *testing.T) {
	for _, timed := range []bool{true, false} {
		s, w := wireSession(t)
		withCaps(s, "draft/chathistory", "batch")
		feed(t, s, ":srv 005 alice CHATHISTORY=2 :are supported")
		s.gap.start["#c"] = ts("2024-01-01T00:00:00.000Z")
		s.fetchHistory("#c")
		page := func() {
			tag := func(id, at string) string {
				if timed {
					return "@batch=p;msgid=" + id + ";time=" + at
				}
				return "@batch=p;msgid=" + id
			}
			feed(t, s, ":srv BATCH +p chathistory #c",
				tag("a", "2024-01-02T00:00:00.000Z")+" :bob!u@h PRIVMSG #c :one",
				tag("b", "2024-01-03T00:00:00.000Z")+" :bob!u@h PRIVMSG #c :two",
				":srv BATCH -p")
		}
		var asked []string
		for range 5 {
			page()
			asked = append(asked, withPrefix(w.written(), "CHATHISTORY")...)
		}
		want := []string{"CHATHISTORY AFTER #c timestamp=2024-01-01T00:00:00.000Z 2", "CHATHISTORY AFTER #c msgid=b 2"}
		if !slices.Equal(asked, want) {
			t.Errorf("timed=%v: the same page five times asked %q, want %q", timed, asked, want)
		}
		if s.gap.open["#c"] {
			t.Errorf("timed=%v: the gap stays open after the server stopped moving on", timed)
		}
	}
}

// TestAbandonedBatchesExpire: batches a server never closes are
// forgotten once old, so they cannot use up the open batch limit.
func TestAbandonedBatchesExpire(t *testing.T) {
	s := testSession(t)
	for i := range maxOpenBatches {
		feed(t, s, fmt.Sprintf(":srv BATCH +b%d netsplit a b", i))
	}
	for _, b := range s.batches {
		b.opened = time.Now().Add(-batchMaxAge - time.Second)
	}
	feed(t, s, ":srv BATCH +fresh chathistory #c")
	if len(s.batches) != 1 || s.batches["fresh"] == nil {
		t.Errorf("open batches after a new one: %d, want only the new one", len(s.batches))
	}
}

// TestLastSeenIsBounded: every nick that sends a private message adds a
// conversation; the oldest are forgotten past maxLastSeen.
func TestLastSeenIsBounded(t *testing.T) {
	b := testBridge(t, nil)
	base := time.Now().Add(-time.Hour)
	for i := range maxLastSeen + 1 {
		b.noteSeen(fmt.Sprintf("nick%d", i), base.Add(time.Duration(i)*time.Millisecond))
	}
	if n := len(b.lastSeen); n > maxLastSeen {
		t.Errorf("lastSeen holds %d conversations, more than %d", n, maxLastSeen)
	}
	if _, ok := b.lastSeen[fmt.Sprintf("nick%d", maxLastSeen)]; !ok {
		t.Error("the newest conversation was forgotten")
	}
	if _, ok := b.lastSeen["nick0"]; ok {
		t.Error("the oldest conversation was kept")
	}
}

// TestFutureServerTimeIsClamped: a server clock far ahead moves the gap
// start at most a minute past now.
func TestFutureServerTimeIsClamped(t *testing.T) {
	s := testSession(t)
	future := time.Now().Add(24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000Z")
	feed(t, s, "@time="+future+";msgid=F :bob!u@h PRIVMSG alice :from the future")
	if got := s.b.lastSeen["bob"]; got.After(time.Now().Add(time.Minute)) || got.IsZero() {
		t.Errorf("lastSeen of bob is %v", got)
	}
}

// TestUnaskedTargetsAreIgnored: TARGETS lines count only as the answer to
// the bridge's own query, and no more of them than it asked for.
func TestUnaskedTargetsAreIgnored(t *testing.T) {
	s, w := readySession(t)
	feed(t, s, ":srv 005 alice CHATHISTORY=2 :are supported",
		"CHATHISTORY TARGETS mallory 2024-01-01T00:00:00.000Z")
	s.b.lastSeen["dave"] = ts("2024-01-01T00:00:00.000Z")
	feed(t, s, ":srv 376 alice :End of MOTD")
	for _, nick := range []string{"ann", "ben", "cy", "dee"} {
		feed(t, s, "CHATHISTORY TARGETS "+nick+" 2024-01-02T00:00:00.000Z")
	}
	var asked []string
	for _, l := range withPrefix(w.written(), "CHATHISTORY") {
		asked = append(asked, strings.Fields(l)[1]+" "+strings.Fields(l)[2])
	}
	want := []string{"TARGETS timestamp=2024-01-01T00:00:00.000Z", "LATEST ann", "LATEST ben"}
	if !slices.Equal(asked, want) {
		t.Errorf("asked %q, want %q", asked, want)
	}
}
