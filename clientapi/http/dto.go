package httpapi

import (
	"html"
	"strings"
	"time"

	"github.com/switchboard/switchboard/core"
)

// The API's JSON types, kept apart from core's so that a change of the
// model never silently changes the wire. Message ids are the 13-character
// base32 form of core.MessageID (it sorts like the ids); other ids are
// numbers.

type peerJSON struct {
	Kind   core.ConversationKind `json:"kind"`
	Remote string                `json:"remote"`
}

type addressJSON struct {
	Addr string `json:"addr"`
	Name string `json:"name,omitempty"`
}

type spanJSON struct {
	Start int      `json:"start"`
	End   int      `json:"end"`
	Style []string `json:"style,omitempty"`
	FG    string   `json:"fg,omitempty"`
	BG    string   `json:"bg,omitempty"`
}

type attachmentJSON struct {
	URL       string `json:"url"`
	Name      string `json:"name,omitempty"`
	MediaType string `json:"media_type,omitempty"`
	Size      int64  `json:"size,omitempty"`
}

type messageJSON struct {
	ID           string           `json:"id"`
	Conversation int64            `json:"conversation"`
	Network      int64            `json:"network"`
	Peer         peerJSON         `json:"peer"`
	Direction    string           `json:"direction"`
	Sender       addressJSON      `json:"sender"`
	Time         time.Time        `json:"time"`
	Kind         core.MessageKind `json:"kind"`
	Body         string           `json:"body"`
	Spans        []spanJSON       `json:"spans,omitempty"`
	ReplyTo      string           `json:"reply_to,omitempty"`
	CorrectionOf string           `json:"correction_of,omitempty"`
	Attachments  []attachmentJSON `json:"attachments,omitempty"`
}

var styleNames = []struct {
	s    core.Style
	name string
}{{core.Bold, "bold"}, {core.Italic, "italic"}, {core.Underline, "underline"}, {core.Strike, "strike"}, {core.Monospace, "monospace"}}

func styleList(st core.Style) []string {
	var out []string
	for _, n := range styleNames {
		if st&n.s != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

func idString(id core.MessageID) string {
	if id == 0 {
		return ""
	}
	return id.String()
}

func toMessageJSON(m *core.Message) messageJSON {
	out := messageJSON{
		ID: idString(m.ID), Conversation: int64(m.Conversation), Network: int64(m.Network),
		Peer:      peerJSON{m.Peer.Kind, m.Peer.Remote},
		Direction: m.Direction.String(),
		Sender:    addressJSON{m.Sender.Addr, m.Sender.Name},
		Time:      m.Time.UTC(), Kind: m.Kind, Body: m.Body,
		ReplyTo: idString(m.ReplyTo.ID), CorrectionOf: idString(m.CorrectionOf.ID),
	}
	for _, s := range m.Spans {
		out.Spans = append(out.Spans, spanJSON{s.Start, s.End, styleList(s.Style), s.FG, s.BG})
	}
	for _, a := range m.Attachments {
		out.Attachments = append(out.Attachments, attachmentJSON(a))
	}
	return out
}

func toMessagesJSON(ms []*core.Message) []messageJSON {
	out := make([]messageJSON, len(ms))
	for i, m := range ms {
		out[i] = toMessageJSON(m)
	}
	return out
}

type conversationJSON struct {
	ID       int64        `json:"id"`
	Network  int64        `json:"network"`
	Peer     peerJSON     `json:"peer"`
	Name     string       `json:"name,omitempty"`
	Last     *messageJSON `json:"last_message"`
	Unread   int          `json:"unread"`
	ReadUpto string       `json:"read_upto,omitempty"`
}

func toConversationJSON(c core.ConversationSummary) conversationJSON {
	out := conversationJSON{
		ID: int64(c.ID), Network: int64(c.Network), Peer: peerJSON{c.Kind, c.Remote}, Name: c.Name,
		Unread: c.Unread, ReadUpto: idString(c.ReadUpto),
	}
	if c.Last != nil {
		m := toMessageJSON(c.Last)
		out.Last = &m
	}
	return out
}

type stateJSON struct {
	State core.ConnState `json:"state"`
	Error string         `json:"error,omitempty"`
	Since time.Time      `json:"since,omitzero"`
}

type networkJSON struct {
	ID       int64             `json:"id"`
	Name     string            `json:"name"`
	Kind     core.NetworkKind  `json:"kind"`
	Enabled  bool              `json:"enabled"`
	Settings map[string]string `json:"settings"`
	// Secrets lists the secret settings that are set; their values are
	// never sent back.
	Secrets []string   `json:"secrets,omitempty"`
	State   *stateJSON `json:"state"`
	Created time.Time  `json:"created"`
}

func toNetworkJSON(n core.Network, st *core.NetworkStateEvent) networkJSON {
	out := networkJSON{ID: int64(n.ID), Name: n.Name, Kind: n.Kind, Enabled: n.Enabled,
		Settings: map[string]string{}, Created: n.Created.UTC()}
	for k, v := range n.Settings {
		if core.SecretSettingKeys[k] {
			out.Secrets = append(out.Secrets, k)
			continue
		}
		out.Settings[k] = v
	}
	if st != nil {
		out.State = &stateJSON{st.State, st.Err, st.At.UTC()}
	}
	return out
}

type tokenJSON struct {
	ID       int64     `json:"id"`
	Name     string    `json:"name,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
	LastUsed time.Time `json:"last_used,omitzero"`
	Current  bool      `json:"current"`
}

type searchResultJSON struct {
	Message messageJSON `json:"message"`
	Snippet string      `json:"snippet"`
	// Highlights are byte offsets into Snippet; SnippetHTML is the same
	// text escaped for HTML with each highlight in <mark>.
	Highlights  []spanJSON `json:"highlights"`
	SnippetHTML string     `json:"snippet_html"`
}

func toSearchResultJSON(r core.SearchResult) searchResultJSON {
	out := searchResultJSON{Message: toMessageJSON(r.Message), Snippet: r.Snippet, Highlights: []spanJSON{}}
	var b strings.Builder
	at := 0
	for _, h := range r.Highlights {
		if h.Start < at || h.End > len(r.Snippet) || h.Start >= h.End {
			continue // never trust offsets enough to slice out of range
		}
		out.Highlights = append(out.Highlights, spanJSON{Start: h.Start, End: h.End})
		b.WriteString(html.EscapeString(r.Snippet[at:h.Start]))
		b.WriteString("<mark>")
		b.WriteString(html.EscapeString(r.Snippet[h.Start:h.End]))
		b.WriteString("</mark>")
		at = h.End
	}
	b.WriteString(html.EscapeString(r.Snippet[at:]))
	out.SnippetHTML = b.String()
	return out
}
