package history

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/switchboard/switchboard/core"
)

func TestRecordRoundTrip(t *testing.T) {
	m := &core.Message{
		ID: core.MessageIDAt(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), User: 1, Network: 2,
		Peer: core.Peer{Kind: core.Room, Remote: "#go"}, OriginID: "abc", Direction: core.Outgoing,
		Sender: core.Address{Addr: "alice", Name: "Alice"}, Time: time.Date(2026, 1, 2, 3, 4, 5, 600e6, time.UTC),
		Kind: core.KindAction, Body: "waves *hello*",
		Spans:        []core.Span{{Start: 6, End: 13, Style: core.Bold | core.Monospace, FG: "#ff0000", BG: "#000000"}},
		ReplyTo:      core.MessageRef{OriginID: "r1"},
		CorrectionOf: core.MessageRef{ID: 99},
		Attachments:  []core.Attachment{{URL: "https://x.example/f.png", Name: "f.png", MediaType: "image/png", Size: 3}},
	}
	b, err := json.Marshal(NewRecord(m, "libera"))
	if err != nil {
		t.Fatal(err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	got, err := r.Message(1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if got.Body != m.Body || got.Kind != m.Kind || got.Direction != m.Direction || !got.Time.Equal(m.Time) ||
		got.Spans[0] != m.Spans[0] || got.Attachments[0] != m.Attachments[0] || got.OriginID != "abc" ||
		got.ReplyTo.OriginID != "r1" || got.CorrectionOf.OriginID != importOriginPrefix+core.MessageID(99).String() {
		t.Fatalf("round trip:\n got %+v\nfrom %s", got, b)
	}
}

// FuzzRecord feeds arbitrary import lines through decoding and conversion:
// never a panic, and what is accepted is a valid message.
func FuzzRecord(f *testing.F) {
	f.Add(`{"network":"n","conversation":"#c","conversation_kind":"room","direction":"in","sender":"s","time":"2026-01-02T03:04:05Z","kind":"chat","body":"hi","spans":[{"start":0,"end":2,"style":["bold"]}]}`)
	f.Add(`{"network":"n","conversation":"c","conversation_kind":"direct","direction":"out","time":"2026-01-02T03:04:05Z","kind":"notice","body":"","attachments":[{"url":"x:y"}]}`)
	f.Add(`{"spans":[{"start":-1,"end":99,"style":["x"]}]}`)
	f.Fuzz(func(t *testing.T, line string) {
		var r Record
		if json.Unmarshal([]byte(line), &r) != nil {
			return
		}
		m, err := r.Message(1, 1)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid message: %v", err)
		}
	})
}
