package fed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Limits of the protocol (docs/federation.md, sections 4 and 7).
const (
	MaxRequestBytes = 1 << 20  // a request body
	MaxBatch        = 256      // events in one request
	MaxTextBytes    = 64 << 10 // a message body
	maxIDLen        = 128
	maxAttachments  = 32
	maxURLLen       = 4096
	// An attachment's name and media type: without bounds one message
	// could be the whole request, far past MaxTextBytes.
	maxAttachmentName = 1024
	maxMediaTypeLen   = 255
)

// Event types.
const (
	TypeMessage  = "message"
	TypeTyping   = "typing"
	TypeReaction = "reaction"
	TypeRead     = "read"
)

// Limits of reactions (docs/federation.md, section 4.1).
const (
	maxReactions     = core.MaxReactions
	maxReactionBytes = core.MaxReactionBytes
)

// Result statuses.
const (
	StatusAccepted  = "accepted"
	StatusDuplicate = "duplicate"
	StatusRejected  = "rejected"
)

// Event is one federation event on the wire.
type Event struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	From         string       `json:"from"`
	To           string       `json:"to"`
	Time         time.Time    `json:"time"`
	Kind         string       `json:"kind,omitempty"`
	Body         string       `json:"body,omitempty"`
	ReplyTo      string       `json:"reply_to,omitempty"`
	CorrectionOf string       `json:"correction_of,omitempty"`
	Attachments  []Attachment `json:"attachments,omitempty"`
	State        string       `json:"state,omitempty"`
	// ReactsTo and Reactions are a reaction event's: the event reacted
	// to, and the sender's whole set of reactions to it (XEP-0444).
	ReactsTo  string   `json:"reacts_to,omitempty"`
	Reactions []string `json:"reactions,omitempty"`
	// Upto is a read event's: the last event of the conversation read.
	Upto string `json:"upto,omitempty"`
	// Sender and Seq are set on events a room's home fans out
	// (section 4.3): the member who spoke, joined or left, and the
	// event's place in the room.
	Sender string `json:"sender,omitempty"`
	Seq    int64  `json:"seq,omitempty"`
	// Invitee is an invite's: the user invited into the room.
	Invitee string `json:"invitee,omitempty"`
}

// Attachment is a file shared by URL.
type Attachment struct {
	URL       string `json:"url"`
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

// Batch is the body of POST events.
type Batch struct {
	Events []Event `json:"events"`
}

// Result is the receiver's answer for one event.
type Result struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// BatchResult is the body of the answer to POST events.
type BatchResult struct {
	Results []Result `json:"results"`
}

// ErrMalformed is wrapped by every error DecodeBatch returns for a body
// that is not a valid batch.
var ErrMalformed = errors.New("malformed request")

// DecodeBatch parses and checks a request body: valid JSON of the right
// shape, 1 to MaxBatch events, each with a valid id, type, addresses and
// time. What a single event may get wrong without spoiling the batch (an
// unknown type, an empty body) is left to the receiver to reject.
func DecodeBatch(body []byte) (Batch, error) {
	var b Batch
	if len(body) > MaxRequestBytes {
		return b, fmt.Errorf("%w: body of %d bytes exceeds %d", ErrMalformed, len(body), MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&b); err != nil {
		return Batch{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Batch{}, fmt.Errorf("%w: data after the JSON object", ErrMalformed)
	}
	if len(b.Events) == 0 || len(b.Events) > MaxBatch {
		return Batch{}, fmt.Errorf("%w: %d events; want 1 to %d", ErrMalformed, len(b.Events), MaxBatch)
	}
	for i := range b.Events {
		if err := b.Events[i].checkEnvelope(); err != nil {
			return Batch{}, fmt.Errorf("%w: event %d: %v", ErrMalformed, i, err)
		}
	}
	return b, nil
}

// checkEnvelope checks what every event needs, and normalizes addresses.
func (e *Event) checkEnvelope() error {
	if err := checkID(e.ID); err != nil {
		return fmt.Errorf("id: %w", err)
	}
	if e.Type == "" || len(e.Type) > 64 {
		return errors.New("type: missing or too long")
	}
	from, err := ParseAddress(e.From)
	if err != nil {
		return fmt.Errorf("from: %w", err)
	}
	to, err := ParseAddress(e.To)
	if err != nil {
		return fmt.Errorf("to: %w", err)
	}
	e.From, e.To = from.String(), to.String()
	if e.Time.IsZero() {
		return errors.New("time: missing")
	}
	return nil
}

// checkID allows 1 to maxIDLen characters of A-Z a-z 0-9 . _ - :.
func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return fmt.Errorf("%d characters; want 1 to %d", len(id), maxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == ':') {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// checkMessage checks a message event's content; an error rejects the
// event alone.
func (e *Event) checkMessage() error {
	switch e.Kind {
	case "chat", "action", "notice":
	default:
		return fmt.Errorf("unknown message kind %q", e.Kind)
	}
	if len(e.Body) > MaxTextBytes {
		return fmt.Errorf("body of %d bytes exceeds %d", len(e.Body), MaxTextBytes)
	}
	if e.Body == "" && len(e.Attachments) == 0 {
		return errors.New("empty message")
	}
	if len(e.Attachments) > maxAttachments {
		return fmt.Errorf("%d attachments exceed %d", len(e.Attachments), maxAttachments)
	}
	for i, a := range e.Attachments {
		if a.URL == "" || len(a.URL) > maxURLLen || a.Size < 0 {
			return fmt.Errorf("attachment %d: bad url or size", i)
		}
		if len(a.Name) > maxAttachmentName || len(a.MediaType) > maxMediaTypeLen {
			return fmt.Errorf("attachment %d: name over %d or media type over %d bytes", i, maxAttachmentName, maxMediaTypeLen)
		}
	}
	for _, ref := range []string{e.ReplyTo, e.CorrectionOf} {
		if ref != "" {
			if err := checkID(ref); err != nil {
				return fmt.Errorf("reference: %w", err)
			}
		}
	}
	return nil
}

// checkTyping checks a typing event's state.
func (e *Event) checkTyping() error {
	switch e.State {
	case "active", "composing", "paused", "inactive", "gone":
		return nil
	}
	return fmt.Errorf("unknown typing state %q", e.State)
}

// checkReaction checks a reaction event: the event reacted to, and up to
// maxReactions distinct reactions of valid UTF-8 (none withdraws them).
func (e *Event) checkReaction() error {
	if err := checkID(e.ReactsTo); err != nil {
		return fmt.Errorf("reacts_to: %w", err)
	}
	if len(e.Reactions) > maxReactions {
		return fmt.Errorf("%d reactions exceed %d", len(e.Reactions), maxReactions)
	}
	seen := make(map[string]bool, len(e.Reactions))
	for i, r := range e.Reactions {
		if !core.ValidReaction(r) {
			return fmt.Errorf("reaction %d: want 1 to %d bytes of printable UTF-8", i, maxReactionBytes)
		}
		if seen[r] {
			return fmt.Errorf("reaction %d: %q given twice", i, r)
		}
		seen[r] = true
	}
	return nil
}

// checkRead checks a read event's position.
func (e *Event) checkRead() error {
	if err := checkID(e.Upto); err != nil {
		return fmt.Errorf("upto: %w", err)
	}
	return nil
}
