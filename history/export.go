package history

import (
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// Record is one message in Switchboard's JSON-lines export format, the
// format `switchboard export` writes and `switchboard import` reads. Its
// field names are a public contract: add fields, never rename them.
type Record struct {
	ID           string       `json:"id,omitempty"`
	Network      string       `json:"network"`
	Conversation string       `json:"conversation"`
	ConvKind     string       `json:"conversation_kind"`
	OriginID     string       `json:"origin_id,omitempty"`
	Direction    string       `json:"direction"`
	Sender       string       `json:"sender"`
	SenderName   string       `json:"sender_name,omitempty"`
	Time         time.Time    `json:"time"`
	Kind         string       `json:"kind"`
	Body         string       `json:"body"`
	Spans        []RecordSpan `json:"spans,omitempty"`
	ReplyTo      string       `json:"reply_to,omitempty"`
	CorrectionOf string       `json:"correction_of,omitempty"`
	Attachments  []RecordFile `json:"attachments,omitempty"`
}

// RecordSpan is a styled range of the body, in UTF-8 byte offsets.
type RecordSpan struct {
	Start int      `json:"start"`
	End   int      `json:"end"`
	Style []string `json:"style"`
	FG    string   `json:"fg,omitempty"` // #rrggbb
	BG    string   `json:"bg,omitempty"`
}

// RecordFile is an attachment.
type RecordFile struct {
	URL       string `json:"url"`
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

var styleNames = []struct {
	style core.Style
	name  string
}{{core.Bold, "bold"}, {core.Italic, "italic"}, {core.Underline, "underline"}, {core.Strike, "strike"}, {core.Monospace, "monospace"}}

// importOriginPrefix marks origin ids made up on import for messages that
// had none, so importing the same file twice adds nothing the second time.
const importOriginPrefix = "switchboard-export:"

// NewRecord converts a stored message of the network called network.
func NewRecord(m *core.Message, network string) Record {
	r := Record{
		ID:           m.ID.String(),
		Network:      network,
		Conversation: m.Peer.Remote,
		ConvKind:     string(m.Peer.Kind),
		OriginID:     m.OriginID,
		Direction:    m.Direction.String(),
		Sender:       m.Sender.Addr,
		SenderName:   m.Sender.Name,
		Time:         m.Time.UTC(),
		Kind:         string(m.Kind),
		Body:         m.Body,
		ReplyTo:      refString(m.ReplyTo),
		CorrectionOf: refString(m.CorrectionOf),
	}
	for _, s := range m.Spans {
		rs := RecordSpan{Start: s.Start, End: s.End, FG: s.FG, BG: s.BG}
		for _, n := range styleNames {
			if s.Style&n.style != 0 {
				rs.Style = append(rs.Style, n.name)
			}
		}
		r.Spans = append(r.Spans, rs)
	}
	for _, a := range m.Attachments {
		r.Attachments = append(r.Attachments, RecordFile(a))
	}
	return r
}

// refString exports a reference by the network's id, which survives a move
// to another server; the server id is used only when there is none.
func refString(r core.MessageRef) string {
	if r.OriginID != "" {
		return r.OriginID
	}
	if r.ID != 0 {
		return importOriginPrefix + r.ID.String()
	}
	return ""
}

// Message converts the record into a message of user on network. Errors
// name the offending field.
func (r Record) Message(user core.UserID, network core.NetworkID) (*core.Message, error) {
	m := &core.Message{
		User:         user,
		Network:      network,
		Peer:         core.Peer{Kind: core.ConversationKind(r.ConvKind), Remote: r.Conversation},
		OriginID:     r.OriginID,
		Sender:       core.Address{Addr: r.Sender, Name: r.SenderName},
		Time:         r.Time,
		Kind:         core.MessageKind(r.Kind),
		Body:         r.Body,
		ReplyTo:      core.MessageRef{OriginID: r.ReplyTo},
		CorrectionOf: core.MessageRef{OriginID: r.CorrectionOf},
	}
	switch {
	case r.Network == "":
		return nil, fmt.Errorf("network: missing")
	case r.Conversation == "":
		return nil, fmt.Errorf("conversation: missing")
	case m.Peer.Kind != core.Direct && m.Peer.Kind != core.Room:
		return nil, fmt.Errorf("conversation_kind: %q is not %q or %q", r.ConvKind, core.Direct, core.Room)
	case r.Time.IsZero():
		return nil, fmt.Errorf("time: missing")
	case !m.Kind.Valid():
		return nil, fmt.Errorf("kind: unknown kind %q", r.Kind)
	}
	switch r.Direction {
	case "in":
		m.Direction = core.Incoming
	case "out":
		m.Direction = core.Outgoing
	default:
		return nil, fmt.Errorf("direction: %q is not \"in\" or \"out\"", r.Direction)
	}
	if m.OriginID == "" && r.ID != "" {
		m.OriginID = importOriginPrefix + r.ID
	}
	for i, s := range r.Spans {
		span := core.Span{Start: s.Start, End: s.End, FG: s.FG, BG: s.BG}
		if !core.ValidColour(s.FG) || !core.ValidColour(s.BG) {
			return nil, fmt.Errorf("spans[%d]: colours %q, %q: want #rrggbb in lower case", i, s.FG, s.BG)
		}
	styles:
		for _, name := range s.Style {
			for _, n := range styleNames {
				if n.name == name {
					span.Style |= n.style
					continue styles
				}
			}
			return nil, fmt.Errorf("spans[%d].style: unknown style %q", i, name)
		}
		m.Spans = append(m.Spans, span)
	}
	for i, a := range r.Attachments {
		if !strings.Contains(a.URL, ":") {
			return nil, fmt.Errorf("attachments[%d].url: %q is not a URL", i, a.URL)
		}
		m.Attachments = append(m.Attachments, core.Attachment(a))
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}
