package xmpp

import (
	"testing"

	"github.com/switchboard/switchboard/core"
)

func TestRenderStyling(t *testing.T) {
	for _, c := range []struct {
		body  string
		spans []core.Span
		want  string
	}{
		{"plain", nil, "plain"},
		{"bold and italic", []core.Span{{Start: 0, End: 4, Style: core.Bold}, {Start: 9, End: 15, Style: core.Italic}}, "*bold* and _italic_"},
		{"a bold word", []core.Span{{Start: 1, End: 7, Style: core.Bold}}, "a *bold* word"}, // whitespace trimmed
		{"outer inner", []core.Span{{Start: 0, End: 11, Style: core.Bold}, {Start: 6, End: 11, Style: core.Italic}}, "*outer _inner_*"},
		{"crossing", []core.Span{{Start: 0, End: 5, Style: core.Bold}, {Start: 3, End: 8, Style: core.Italic}}, "*cross*ing"},
		{"code", []core.Span{{Start: 0, End: 4, Style: core.Monospace | core.Bold}}, "`*code*`"},
		{"under", []core.Span{{Start: 0, End: 5, Style: core.Underline}}, "under"},
		{"héllo", []core.Span{{Start: 0, End: 2, Style: core.Bold}}, "héllo"}, // ends inside é: not a character boundary
		{"x", []core.Span{{Start: -3, End: 99, Style: core.Strike}}, "~x~"},
	} {
		if got := renderStyling(c.body, c.spans); got != c.want {
			t.Errorf("renderStyling(%q, %v) = %q, want %q", c.body, c.spans, got, c.want)
		}
	}
}
