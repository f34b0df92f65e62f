package fed

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]string{
		"bob@b.example": "bob@b.example", " Bob@B.Example ": "bob@b.example", "a.b_c@x-y.z": "a.b_c@x-y.z",
	} {
		a, err := ParseAddress(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseAddress(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
	for _, in := range []string{"", "bob", "@b.example", "bob@", "bob@b..example", "bob@-b.example", "b ob@b.example",
		"bob@b.example/res", "bob@b_x.example", "bob@" + strings.Repeat("a", 64) + ".example", ".bob@b.example"} {
		if a, err := ParseAddress(in); err == nil {
			t.Errorf("ParseAddress(%q) = %v, want an error", in, a)
		}
	}
}

const goodBatch = `{"events":[{"id":"e1","type":"message","from":"Alice@A.example","to":"bob@b.example",` +
	`"time":"2026-11-24T01:30:00Z","kind":"chat","body":"hi"}]}`

func TestDecodeBatch(t *testing.T) {
	b, err := DecodeBatch([]byte(goodBatch))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Events) != 1 || b.Events[0].From != "alice@a.example" || b.Events[0].Body != "hi" {
		t.Fatalf("decoded %+v", b)
	}
	if err := b.Events[0].checkMessage(); err != nil {
		t.Fatal(err)
	}
	many := `{"events":[` + strings.Repeat(`{"id":"e","type":"t","from":"a@a.example","to":"b@b.example","time":"2026-11-24T01:30:00Z"},`, MaxBatch)
	many = strings.TrimSuffix(many, ",") + `,{"id":"e","type":"t","from":"a@a.example","to":"b@b.example","time":"2026-11-24T01:30:00Z"}]}`
	for name, body := range map[string]string{
		"not json":      `{"events":`,
		"no events":     `{"events":[]}`,
		"too many":      many,
		"trailing data": goodBatch + `{}`,
		"bad id":        strings.Replace(goodBatch, `"e1"`, `"e 1"`, 1),
		"no time":       strings.Replace(goodBatch, `"time":"2026-11-24T01:30:00Z",`, ``, 1),
		"bad from":      strings.Replace(goodBatch, `Alice@A.example`, `alice`, 1),
		"bad to":        strings.Replace(goodBatch, `bob@b.example`, `bob@b.example/x`, 1),
		"wrong type":    `{"events":"x"}`,
		"too large":     `{"events":[],"pad":"` + strings.Repeat("x", MaxRequestBytes) + `"}`,
	} {
		if _, err := DecodeBatch([]byte(body)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err %v, want ErrMalformed", name, err)
		}
	}
	bad := b.Events[0]
	for name, mutate := range map[string]func(*Event){
		"kind":  func(e *Event) { e.Kind = "join" },
		"empty": func(e *Event) { e.Body = "" },
		"huge":  func(e *Event) { e.Body = strings.Repeat("x", MaxTextBytes+1) },
		"ref":   func(e *Event) { e.ReplyTo = "no spaces allowed" },
		"url":   func(e *Event) { e.Attachments = []Attachment{{URL: ""}} },
	} {
		e := bad
		mutate(&e)
		if err := e.checkMessage(); err == nil {
			t.Errorf("%s: checkMessage accepted %+v", name, e)
		}
	}
}

// FuzzDecodeBatch: any body either decodes into a batch whose every
// envelope is valid, or is refused as malformed; never a panic.
func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(goodBatch))
	f.Add([]byte(`{"events":[{"id":"x","type":"typing","from":"a@a.b","to":"b@c.d","time":"2026-01-01T00:00:00Z","state":"composing"}]}`))
	f.Add([]byte(`{"events":[{"attachments":[{"url":"https://x","size":-1}]}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"events":[{"id":"r","type":"reaction","from":"a@a.b","to":"b@c.d","time":"2026-01-01T00:00:00Z","reacts_to":"m1","reactions":["\u00f0\u009f","x"]}]}`))
	f.Add([]byte(`{"events":[{"id":"d","type":"read","from":"a@a.b","to":"b@c.d","time":"2026-01-01T00:00:00Z","upto":"m:1"}]}`))
	f.Add([]byte(`{"events":[{"id":"m","type":"message","from":"a@a.b","to":"b@c.d","time":"2026-01-01T00:00:00Z","kind":"chat","body":"x","reply_to":"a b","correction_of":"c"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBatch(body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(b.Events) == 0 || len(b.Events) > MaxBatch {
			t.Fatalf("%d events accepted", len(b.Events))
		}
		for _, e := range b.Events {
			if _, err := ParseAddress(e.From); err != nil {
				t.Fatalf("accepted from %q", e.From)
			}
			if checkID(e.ID) != nil || e.Time.IsZero() {
				t.Fatalf("accepted envelope %+v", e)
			}
			if e.checkContent() != nil {
				continue
			}
			// What the receiver accepts holds up to its promises.
			switch e.Type {
			case TypeReaction:
				if checkID(e.ReactsTo) != nil || len(e.Reactions) > maxReactions {
					t.Fatalf("accepted reaction %+v", e)
				}
				for _, r := range e.Reactions {
					if !utf8.ValidString(r) || r == "" || len(r) > maxReactionBytes {
						t.Fatalf("accepted reaction %q", r)
					}
				}
			case TypeRead:
				if checkID(e.Upto) != nil {
					t.Fatalf("accepted read %+v", e)
				}
			case TypeMessage:
				for _, ref := range []string{e.ReplyTo, e.CorrectionOf} {
					if ref != "" && checkID(ref) != nil {
						t.Fatalf("accepted reference %q", ref)
					}
				}
			}
		}
	})
}

// TestAttachmentFieldsBounded: a message body is at most 64 KiB, but an
// attachment's name and media type were not bounded at all: one message
// could be the whole 1 MiB request, in every recipient's history and, in
// a room, in the home's archive and every member server's queue.
func TestAttachmentFieldsBounded(t *testing.T) {
	ev := Event{Type: TypeMessage, Kind: "chat", Attachments: []Attachment{{URL: "https://x.test/a", Name: strings.Repeat("n", 512<<10)}}}
	if err := ev.checkMessage(); err == nil {
		t.Fatal("an attachment named with 512 KiB was accepted")
	}
	ev.Attachments[0] = Attachment{URL: "https://x.test/a", MediaType: strings.Repeat("m", 512<<10)}
	if err := ev.checkMessage(); err == nil {
		t.Fatal("a media type of 512 KiB was accepted")
	}
}
