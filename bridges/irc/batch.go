package irc

import (
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
	// label is the labeled-response label of the command the batch
	// answers: the BATCH line carries it, the lines inside do not.
	// answers is set when this batch is the whole response, not one
	// nested in it.
	label   string
	answers bool
	opened  time.Time
	lines   int
	lastID  string
	last    time.Time
}

// maxOpenBatches bounds the batches a server can hold open at once.
const maxOpenBatches = 64

// batchMaxAge is how long a batch may stay open before the next one to
// open takes it for abandoned: a server that never closes its batches
// must not use up maxOpenBatches for good.
var batchMaxAge = 2 * time.Minute

func (s *session) handleBatch(msg ircmsg.Message) {
	if len(msg.Params) < 1 || len(msg.Params[0]) < 2 {
		return
	}
	ref := msg.Params[0]
	id := ref[1:]
	switch ref[0] {
	case '+':
		s.expireBatches()
		if len(s.batches) >= maxOpenBatches || len(msg.Params) < 2 {
			s.log.Warn("ignoring a batch", "open", len(s.batches))
			return
		}
		b := &batch{typ: msg.Params[1], opened: time.Now()}
		if len(msg.Params) > 2 {
			b.target = msg.Params[2]
		}
		b.history = b.typ == "chathistory" || b.typ == "draft/chathistory"
		if ok, label := msg.GetTag("label"); ok {
			b.label, b.answers = label, true
		} else if ok, outer := msg.GetTag("batch"); ok && s.batches[outer] != nil {
			// A batch nested in a labeled response is part of it.
			b.label = s.batches[outer].label
		}
		s.batches[id] = b
	case '-':
		b := s.batches[id]
		delete(s.batches, id)
		if b == nil {
			return
		}
		switch {
		case b.history:
			s.historyPageDone(b)
		case b.typ == "draft/chathistory-targets" || b.typ == "chathistory-targets":
			s.targetsDone()
		}
		if b.answers {
			s.labelDone(b.label)
		}
	}
}

// expireBatches forgets batches open longer than batchMaxAge.
func (s *session) expireBatches() {
	for id, b := range s.batches {
		if time.Since(b.opened) > batchMaxAge {
			s.log.Warn("forgetting a batch the server never closed", "type", b.typ, "target", b.target)
			delete(s.batches, id)
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
