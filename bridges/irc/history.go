package irc

import (
	"strconv"
	"time"

	"github.com/ergochat/irc-go/ircmsg"
)

// batch is an open IRCv3 BATCH. Lines of a history batch (CHATHISTORY,
// event-playback) are stored as history and change no live state; lines
// of other batches (netsplit, labeled-response) are handled as live.
type batch struct {
	typ     string
	target  string
	history bool
	lines   int
	lastID  string
	last    time.Time
}

// maxOpenBatches bounds the batches a server can hold open at once.
const maxOpenBatches = 64

func (s *session) handleBatch(msg ircmsg.Message) {
	if len(msg.Params) < 1 || len(msg.Params[0]) < 2 {
		return
	}
	ref := msg.Params[0]
	id := ref[1:]
	switch ref[0] {
	case '+':
		if len(s.batches) >= maxOpenBatches || len(msg.Params) < 2 {
			s.log.Warn("ignoring a batch", "open", len(s.batches))
			return
		}
		b := &batch{typ: msg.Params[1]}
		if len(msg.Params) > 2 {
			b.target = msg.Params[2]
		}
		b.history = b.typ == "chathistory" || b.typ == "draft/chathistory"
		s.batches[id] = b
	case '-':
		b := s.batches[id]
		delete(s.batches, id)
		if b != nil && b.history {
			s.historyPageDone(b)
		}
	}
}

// note counts a line of a batch and remembers where it ends, for
// paging.
func (b *batch) note(msg ircmsg.Message) {
	b.lines++
	if ok, id := msg.GetTag("msgid"); ok {
		b.lastID = id
	}
	if ok, ts := msg.GetTag("time"); ok {
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			b.last = t
		}
	}
}

func (s *session) chathistory() bool {
	return s.hasCap("draft/chathistory") || s.hasCap("chathistory")
}

func (s *session) historyLimit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return min(s.is.historyMax, 1000)
}

// fetchHistory asks the server for what target received after the newest
// stored message: the gap of a disconnect or a daemon restart. Without
// anything stored it fetches the latest page, a new channel's backlog.
// Duplicates cost nothing: the store keeps one message per msgid.
func (s *session) fetchHistory(target string) {
	if !s.chathistory() {
		return
	}
	s.b.mu.Lock()
	since := s.b.lastSeen[s.fold(target)]
	s.b.mu.Unlock()
	limit := itoa(s.historyLimit())
	var m ircmsg.Message
	if since.IsZero() {
		m = ircmsg.MakeMessage(nil, "", "CHATHISTORY", "LATEST", target, "*", limit)
	} else {
		m = ircmsg.MakeMessage(nil, "", "CHATHISTORY", "AFTER", target, "timestamp="+formatTime(since), limit)
	}
	_ = s.c.writeMsg(m)
}

// fetchTargets asks which direct conversations had messages since the
// newest stored message; each gets its own gap fill.
func (s *session) fetchTargets() {
	if !s.chathistory() {
		return
	}
	var newest time.Time
	s.b.mu.Lock()
	for _, t := range s.b.lastSeen {
		if t.After(newest) {
			newest = t
		}
	}
	s.b.mu.Unlock()
	if newest.IsZero() {
		return // nothing stored yet: no gap to fill
	}
	_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "CHATHISTORY", "TARGETS",
		"timestamp="+formatTime(newest), "timestamp="+formatTime(time.Now().Add(time.Minute)), itoa(s.historyLimit())))
}

// handleChathistoryLine reads "CHATHISTORY TARGETS <target> <timestamp>".
func (s *session) handleChathistoryLine(msg ircmsg.Message) {
	if len(msg.Params) < 2 || msg.Params[0] != "TARGETS" {
		return
	}
	target := msg.Params[1]
	if s.isChannelName(target) {
		return // channels fill their own gap when joined
	}
	s.fetchHistory(target)
}

// historyPageDone asks for the next page when a full one came back.
func (s *session) historyPageDone(b *batch) {
	if b.target == "" || b.lines < s.historyLimit() {
		return
	}
	var from string
	switch {
	case b.lastID != "":
		from = "msgid=" + b.lastID
	case !b.last.IsZero():
		from = "timestamp=" + formatTime(b.last)
	default:
		return
	}
	_ = s.c.writeMsg(ircmsg.MakeMessage(nil, "", "CHATHISTORY", "AFTER", b.target, from, itoa(s.historyLimit())))
}

func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

func itoa(n int) string { return strconv.Itoa(n) }
