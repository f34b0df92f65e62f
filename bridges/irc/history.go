package irc

import (
	"errors"
	"strconv"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// The CHATHISTORY gap fill. After a reconnect every channel, once joined,
// asks for what it received after the newest stored line, and CHATHISTORY
// TARGETS finds the private conversations that had lines meanwhile. The
// requests bypass the flood limit, which would make a fill of 50 channels
// take minutes, but are paced by their answers: at most historyWindow
// await their batch at once, so a server that counts commands (InspIRCd's
// Excess Flood) sees a few at a time, however many channels there are.

// historyWindow is how many CHATHISTORY requests may await their answer
// at once.
const historyWindow = 4

// historyTimeout is how long a request may go unanswered before its place
// in the window goes to the next one.
var historyTimeout = 10 * time.Second

// maxHistoryQueue bounds the requests waiting for a place in the window:
// TARGETS may name a conversation per nick.
const maxHistoryQueue = maxLastSeen

// gapState is one session's gap fill. The run goroutine owns it.
type gapState struct {
	// start is Bridge.lastSeen as it was when the session became ready,
	// before the bridge's own JOINs and the lines after them moved it:
	// each conversation's gap starts there.
	start map[string]time.Time
	// open holds the conversations (folded) whose fill has not finished.
	// When the session ends their lastSeen goes back to start, so the
	// next session fills the gap again rather than start after a live
	// line seen since.
	open     map[string]bool
	queue    []histReq // waiting for a place in the window
	inFlight []histReq // sent; their batch has not ended
	// timer fires when the oldest request in flight is due.
	timer *time.Timer
	// targetsFrom is where this session's TARGETS query starts;
	// targetsOpen is set until its answer ends, and targetsSeen counts
	// the conversations it named.
	targetsFrom time.Time
	targetsOpen bool
	targetsSeen int
}

// histReq is one CHATHISTORY request.
type histReq struct {
	sub    string // LATEST, AFTER or TARGETS
	target string // as sent; "" for TARGETS
	key    string // target folded
	from   string // where AFTER and TARGETS start: "msgid=..." or "timestamp=..."
	// after is the time of the newest line before this page, so the
	// page's last line shows whether the server made progress.
	after time.Time
	sent  time.Time
}

func newGapState() gapState {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return gapState{start: make(map[string]time.Time), open: make(map[string]bool), timer: t}
}

func (r histReq) msg(limit int) ircmsg.Message {
	switch r.sub {
	case "LATEST":
		return ircmsg.MakeMessage(nil, "", "CHATHISTORY", "LATEST", r.target, "*", itoa(limit))
	case "TARGETS":
		return ircmsg.MakeMessage(nil, "", "CHATHISTORY", "TARGETS", r.from,
			"timestamp="+formatTime(time.Now().Add(time.Minute)), itoa(limit))
	}
	return ircmsg.MakeMessage(nil, "", "CHATHISTORY", "AFTER", r.target, r.from, itoa(limit))
}

// chathistory says whether the gap can be filled: CHATHISTORY answers in
// batches, and without them its lines would pass for live ones.
func (s *session) chathistory() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return (s.caps["draft/chathistory"] || s.caps["chathistory"]) && s.caps["batch"]
}

func (s *session) historyLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(s.is.historyMax, 1000)
}

// startGapFill runs when the session becomes ready, before it sends any
// JOIN: it takes the gap starts and marks the channels about to be
// joined as not filled yet.
func (s *session) startGapFill(joins []channelJoin) {
	if !s.chathistory() {
		return
	}
	s.b.mu.Lock()
	for conv, t := range s.b.lastSeen {
		s.gap.start[conv] = t
	}
	s.b.mu.Unlock()
	for _, ch := range joins {
		s.gap.open[s.fold(ch.name)] = true
	}
}

// fetchHistory asks the server for what target received after the gap
// start: the gap of a disconnect or a daemon restart. Without anything
// stored it fetches the latest page, a new conversation's backlog.
// Duplicates cost nothing: the store keeps one message per msgid.
func (s *session) fetchHistory(target string) {
	if !s.chathistory() {
		return
	}
	key := s.fold(target)
	if s.historyPending(key) {
		return
	}
	s.gap.open[key] = true
	r := histReq{sub: "LATEST", target: target, key: key}
	if since := s.gap.start[key]; !since.IsZero() {
		r.sub, r.from, r.after = "AFTER", "timestamp="+formatTime(since), since
	}
	s.queueHistory(r, false)
}

// fetchTargets asks which private conversations had lines since the
// newest stored one; each then fills its own gap.
func (s *session) fetchTargets() {
	if !s.chathistory() {
		return
	}
	var from time.Time
	for _, t := range s.gap.start {
		if t.After(from) {
			from = t
		}
	}
	s.b.mu.Lock()
	if t := s.b.targetsFrom; !t.IsZero() && (from.IsZero() || t.Before(from)) {
		from = t // an earlier session did not finish its private gaps
	}
	s.b.mu.Unlock()
	if from.IsZero() {
		return // nothing stored yet: no gap to fill
	}
	s.gap.targetsFrom, s.gap.targetsOpen = from, true
	s.queueHistory(histReq{sub: "TARGETS", from: "timestamp=" + formatTime(from)}, false)
}

// handleChathistoryLine reads "CHATHISTORY TARGETS <target> <timestamp>",
// the answer to fetchTargets. Unasked ones, and any past the limit the
// query gave, are ignored.
func (s *session) handleChathistoryLine(msg ircmsg.Message) {
	if len(msg.Params) < 2 || msg.Params[0] != "TARGETS" || !s.gap.targetsOpen || s.gap.targetsSeen >= s.historyLimit() {
		return
	}
	s.gap.targetsSeen++
	target := msg.Params[1]
	if s.isChannelName(target) {
		return // channels fill their own gap when joined
	}
	s.fetchHistory(target)
}

// historyPending says whether a request for the conversation is queued
// or awaits its answer.
func (s *session) historyPending(key string) bool {
	for _, r := range s.gap.queue {
		if r.key == key {
			return true
		}
	}
	for _, r := range s.gap.inFlight {
		if r.key == key {
			return true
		}
	}
	return false
}

// queueHistory adds a request, at the front for the next page of a
// conversation being filled, so one finishes before others start.
func (s *session) queueHistory(r histReq, front bool) {
	switch {
	case len(s.gap.queue) >= maxHistoryQueue:
		s.log.Warn("too many CHATHISTORY requests waiting; dropping one", "target", r.target)
	case front:
		s.gap.queue = append([]histReq{r}, s.gap.queue...)
	default:
		s.gap.queue = append(s.gap.queue, r)
	}
	s.pumpHistory()
}

// pumpHistory sends queued requests while the window has room.
func (s *session) pumpHistory() {
	for len(s.gap.inFlight) < historyWindow && len(s.gap.queue) > 0 {
		r := s.gap.queue[0]
		s.gap.queue = s.gap.queue[1:]
		r.sent = time.Now()
		if err := s.c.writeMsg(r.msg(s.historyLimit())); errors.Is(err, errBadLine) {
			// A target the server named that IRC cannot carry back.
			s.log.Warn("cannot ask for history", "target", r.target, "err", err)
			delete(s.gap.open, r.key)
			continue
		}
		// Other write errors end the session; the request is left to
		// time out meanwhile.
		s.gap.inFlight = append(s.gap.inFlight, r)
	}
	if len(s.gap.inFlight) > 0 {
		s.gap.timer.Reset(max(historyTimeout-time.Since(s.gap.inFlight[0].sent), 0))
	} else {
		s.gap.timer.Stop()
	}
}

// takeInFlight removes and returns the first request in flight that
// match accepts.
func (s *session) takeInFlight(match func(histReq) bool) (histReq, bool) {
	for i, r := range s.gap.inFlight {
		if match(r) {
			s.gap.inFlight = append(s.gap.inFlight[:i], s.gap.inFlight[i+1:]...)
			return r, true
		}
	}
	return histReq{}, false
}

// historyTimedOut gives the places of unanswered requests to the next
// ones. Their conversations stay open, to be filled after the next
// reconnect.
func (s *session) historyTimedOut() {
	kept := s.gap.inFlight[:0]
	for _, r := range s.gap.inFlight {
		if time.Since(r.sent) >= historyTimeout {
			s.log.Warn("no answer to a CHATHISTORY request", "request", r.sub, "target", r.target, "waited", historyTimeout)
		} else {
			kept = append(kept, r)
		}
	}
	s.gap.inFlight = kept
	s.pumpHistory()
}

// historyFailed reads "FAIL CHATHISTORY <code> ... :text": the request it
// names (or else the oldest) is answered. Its conversation stays open.
func (s *session) historyFailed(msg ircmsg.Message) {
	named := make(map[string]bool)
	for _, p := range msg.Params[1:] {
		named[s.fold(p)] = true
	}
	r, ok := s.takeInFlight(func(r histReq) bool { return named[r.key] || (r.sub == "TARGETS" && named["targets"]) })
	if !ok {
		r, ok = s.takeInFlight(func(histReq) bool { return true })
	}
	if ok && r.sub == "TARGETS" {
		s.gap.targetsOpen = false
	}
	s.pumpHistory()
}

// historyPageDone asks for the next page when a full one came back, and
// otherwise closes the conversation's gap.
func (s *session) historyPageDone(b *batch) {
	key := s.fold(b.target)
	r, ok := s.takeInFlight(func(r histReq) bool { return r.sub != "TARGETS" && r.key == key })
	if !ok {
		return // not an answer to us (InspIRCd replays history on join): nothing to page
	}
	if next, more := s.nextPage(r, b); more {
		s.queueHistory(next, true)
		return
	}
	delete(s.gap.open, key)
	s.pumpHistory()
}

// nextPage is the request for the lines after page b, the answer to r,
// if there may be more: r asked for the lines AFTER a point, the page is
// full, and it got further than the page before. A server that sends the
// same page again is not asked forever.
func (s *session) nextPage(r histReq, b *batch) (histReq, bool) {
	// LATEST is a new conversation's backlog: what came before it is not
	// wanted, and what comes after arrives live.
	if r.sub != "AFTER" || b.lines < s.historyLimit() {
		return histReq{}, false
	}
	next := histReq{sub: "AFTER", target: r.target, key: r.key, after: b.last}
	switch {
	case !b.last.IsZero():
		if !b.last.After(r.after) {
			s.log.Warn("the server's history does not move on; not asking for more", "target", r.target)
			return histReq{}, false
		}
		next.from = "timestamp=" + formatTime(b.last)
		if b.lastID != "" {
			next.from = "msgid=" + b.lastID
		}
	case b.lastID != "" && "msgid="+b.lastID != r.from:
		next.from, next.after = "msgid="+b.lastID, r.after
	default:
		s.log.Warn("the server's history does not move on; not asking for more", "target", r.target)
		return histReq{}, false
	}
	return next, true
}

// targetsDone runs when the answer to TARGETS ends.
func (s *session) targetsDone() {
	if _, ok := s.takeInFlight(func(r histReq) bool { return r.sub == "TARGETS" }); ok {
		s.gap.targetsOpen = false
	}
	s.pumpHistory()
}

// saveOpenGaps runs when the session ends: the conversations whose fill
// did not finish get their gap start back, and if private ones are among
// them, or TARGETS went unanswered, the next TARGETS starts where this
// one did.
func (s *session) saveOpenGaps() {
	privateOpen := false
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	for key := range s.gap.open {
		// A conversation without a start was new: its fill was only
		// the backlog before the bridge came, not worth the lines
		// seen since, which the next gap then starts after.
		if t := s.gap.start[key]; !t.IsZero() {
			s.b.lastSeen[key] = t
		}
		privateOpen = privateOpen || !s.is.isChannel(key)
	}
	switch {
	case s.gap.targetsFrom.IsZero():
		// No TARGETS this session: what an earlier one left stands.
	case s.gap.targetsOpen || privateOpen:
		s.b.targetsFrom = s.gap.targetsFrom
	default:
		s.b.targetsFrom = time.Time{}
	}
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func itoa(n int) string { return strconv.Itoa(n) }
