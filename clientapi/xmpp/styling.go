package xmpp

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

// Message styling (XEP-0393) is plain text that clients render: *bold*,
// _italic_, ~strike~, `monospace`. Formatting from the networks (IRC's
// control codes, as spans) is written into the body that way. Bodies from
// XMPP clients are kept as typed: the markers read naturally on IRC too,
// and turning them into codes would lose them for readers without
// formatting.

// styleMarkers in the order they open; underline has no marker.
var styleMarkers = []struct {
	style  core.Style
	marker string
}{
	{core.Monospace, "`"}, {core.Bold, "*"}, {core.Italic, "_"}, {core.Strike, "~"},
}

// renderStyling writes spans into body as XEP-0393 markers. A marker must
// touch text, not whitespace, so spans are trimmed to their non-space
// content; spans that cross another span without nesting are left out,
// since markers cannot express that.
func renderStyling(body string, spans []core.Span) string {
	if len(spans) == 0 {
		return body
	}
	type mark struct {
		start, end int
		markers    string
	}
	var marks []mark
	for _, sp := range spans {
		start, end := max(sp.Start, 0), min(sp.End, len(body))
		for start < end {
			r, n := utf8.DecodeRuneInString(body[start:])
			if !unicode.IsSpace(r) {
				break
			}
			start += n
		}
		for end > start {
			r, n := utf8.DecodeLastRuneInString(body[:end])
			if !unicode.IsSpace(r) {
				break
			}
			end -= n
		}
		if start >= end || !utf8.RuneStart(body[start]) || (end < len(body) && !utf8.RuneStart(body[end])) {
			continue
		}
		var m strings.Builder
		for _, sm := range styleMarkers {
			if sp.Style&sm.style != 0 {
				m.WriteString(sm.marker)
			}
		}
		if m.Len() == 0 {
			continue
		}
		marks = append(marks, mark{start, end, m.String()})
	}
	sort.Slice(marks, func(i, j int) bool {
		if marks[i].start != marks[j].start {
			return marks[i].start < marks[j].start
		}
		return marks[i].end > marks[j].end // outer first
	})
	// Keep only properly nested or disjoint spans.
	var kept []mark
	var open []mark
	for _, m := range marks {
		for len(open) > 0 && open[len(open)-1].end <= m.start {
			open = open[:len(open)-1]
		}
		if len(open) > 0 && m.end > open[len(open)-1].end {
			continue // crosses its enclosing span
		}
		kept = append(kept, m)
		open = append(open, m)
	}
	if len(kept) == 0 {
		return body
	}
	// Insert openers and closers; closers of inner spans come first.
	type insert struct {
		at    int
		text  string
		close bool
		depth int
	}
	var ins []insert
	for i, m := range kept {
		ins = append(ins, insert{m.start, m.markers, false, i}, insert{m.end, reverse(m.markers), true, i})
	}
	sort.SliceStable(ins, func(i, j int) bool {
		if ins[i].at != ins[j].at {
			return ins[i].at < ins[j].at
		}
		if ins[i].close != ins[j].close {
			return ins[i].close // close before open at the same place
		}
		if ins[i].close {
			return ins[i].depth > ins[j].depth // inner closes first
		}
		return ins[i].depth < ins[j].depth // outer opens first
	})
	var b strings.Builder
	prev := 0
	for _, in := range ins {
		b.WriteString(body[prev:in.at])
		b.WriteString(in.text)
		prev = in.at
	}
	b.WriteString(body[prev:])
	return b.String()
}

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
