package history

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/core"
)

// TestCorrectionOnlyOfTheSameDirection: a correction given by origin id
// resolves only to a message of its own direction. A peer that knows the
// origin id of one of the user's messages (a federation event id stored
// before they stopped being recorded, beyond the bridge's own check of
// the latest messages) must not have its "correction" shown as an edit
// of the user's words; the user's own corrections still resolve.
func TestCorrectionOnlyOfTheSameDirection(t *testing.T) {
	s := openTest(t)
	f := newFixture(t, s, "alice")
	direct := func(dir core.Direction, origin, body string) *core.Message {
		m := f.msg("", body)
		m.Peer = core.Peer{Kind: core.Direct, Remote: "bob"}
		m.Direction, m.OriginID = dir, origin
		return m
	}
	mine := appendAll(t, s, direct(core.Outgoing, "ev-1", "the user's words"))[0].Message
	theirs := appendAll(t, s, direct(core.Incoming, "ev-2", "bob's words"))[0].Message

	forged := direct(core.Incoming, "ev-3", "words put in the user's mouth")
	forged.CorrectionOf = core.MessageRef{OriginID: "ev-1"}
	fix := direct(core.Incoming, "ev-4", "bob's better words")
	fix.CorrectionOf = core.MessageRef{OriginID: "ev-2"}
	own := direct(core.Outgoing, "ev-5", "the user's better words")
	own.CorrectionOf = core.MessageRef{OriginID: "ev-1"}
	appendAll(t, s, forged, fix, own)
	for _, c := range []struct {
		m    *core.Message
		want core.MessageID
	}{{forged, 0}, {fix, theirs.ID}, {own, mine.ID}} {
		got, err := s.Message(context.Background(), f.user.ID, c.m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.CorrectionOf.ID != c.want {
			t.Errorf("%q corrects message %v, want %v", got.Body, got.CorrectionOf.ID, c.want)
		}
	}
}
