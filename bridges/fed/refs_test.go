package fed

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

// TestReferencesReadTheHistoryOncePerBatch: references a peer sends
// (reply_to, correction_of, reacts_to, upto) are resolved from one read of
// the conversation's latest refScan messages per batch. Resolved one at a
// time, a batch of 256 naming nothing made the receiver read 384,000
// stored messages (up to 64 KiB each, which the peer itself sent).
func TestReferencesReadTheHistoryOncePerBatch(t *testing.T) {
	s := startServers(t, "a.test", "b.test")
	a, b := s["a.test"], s["b.test"]
	bob := b.user("bob")
	hist := bob.withHistory()
	toAlice := core.Peer{Kind: core.Direct, Remote: "alice@a.test"}
	for i := range refScan {
		hist.add(&core.Message{ID: core.MessageID(i + 1), Peer: toAlice, Direction: core.Incoming, OriginID: fmt.Sprintf("a-%d", i),
			Time: time.Now(), Kind: core.KindChat, Body: "x"})
	}
	var evs []Event
	for i := range MaxBatch {
		ev := Event{ID: fmt.Sprintf("rd-%d", i), Type: TypeRead, From: "alice@a.test", To: "bob@b.test", Time: time.Now().UTC(),
			Upto: fmt.Sprintf("nothing-%d", i)}
		if i%2 == 1 {
			ev = Event{ID: fmt.Sprintf("re-%d", i), Type: TypeMessage, From: "alice@a.test", To: "bob@b.test", Time: time.Now().UTC(),
				Kind: "chat", Body: "re", ReplyTo: fmt.Sprintf("nothing-%d", i), CorrectionOf: fmt.Sprintf("nothing-%d", i)}
		}
		evs = append(evs, ev)
	}
	post(t, a, b, evs...)
	hist.mu.Lock()
	read := hist.read
	hist.mu.Unlock()
	if read > 2*refScan {
		t.Fatalf("one batch of %d events made the receiver read %d stored messages", MaxBatch, read)
	}
}
