package irc

import (
	"math"
	"math/bits"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/ergochat/irc-go/ircfmt"

	"github.com/switchboard/switchboard/core"
)

// ircControls are the bytes dropped from bodies both ways: what IRC
// software interprets inside a message (the formatting codes, ircfmt's plus
// the \x04 hex colour it does not know, the CTCP delimiter, what ends or
// truncates a line), and every other control character but tab, which XML
// 1.0 cannot carry to an XMPP client and no chat client shows.
const ircControls = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0a\x0b\x0c\x0d\x0e\x0f" +
	"\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"

var isIRCControl = func() (t [256]bool) {
	for i := range len(ircControls) {
		t[ircControls[i]] = true
	}
	return t
}()

// styleCodes are the toggles for each core style, in the order they are
// written when several change at once.
var styleCodes = [...]struct {
	style core.Style
	code  byte
}{
	{core.Bold, '\x02'},
	{core.Italic, '\x1d'},
	{core.Underline, '\x1f'},
	{core.Strike, '\x1e'},
	{core.Monospace, '\x11'},
}

const allStyles = core.Bold | core.Italic | core.Underline | core.Strike | core.Monospace

// parseFormatting reads the mIRC codes in an incoming text into a plain body
// and the spans that style it. Colour numbers become their usual RGB
// (ircColours); reverse swaps the two colours; \x04 hex colours, which
// ircfmt does not read, are dropped. The spans do not overlap, are in
// order, and each covers a maximal run of one style and colours.
func parseFormatting(s string) (body string, spans []core.Span) {
	if strings.IndexAny(s, ircControls) < 0 {
		return s, nil
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, c := range ircfmt.Split(s) {
		start := b.Len()
		writePlain(&b, c.Content)
		sp := core.Span{Start: start, End: b.Len(), Style: chunkStyle(c)}
		sp.FG, sp.BG = ircColour(c.ForegroundColor), ircColour(c.BackgroundColor)
		if c.ReverseColor {
			sp.FG, sp.BG = sp.BG, sp.FG
		}
		if (sp.Style == 0 && sp.FG == "" && sp.BG == "") || b.Len() == start {
			continue
		}
		if n := len(spans); n > 0 && spans[n-1].End == start && spans[n-1].Style == sp.Style &&
			spans[n-1].FG == sp.FG && spans[n-1].BG == sp.BG {
			spans[n-1].End = b.Len()
		} else {
			spans = append(spans, sp)
		}
	}
	return b.String(), spans
}

func chunkStyle(c ircfmt.FormattedSubstring) core.Style {
	var st core.Style
	if c.Bold {
		st |= core.Bold
	}
	if c.Italic {
		st |= core.Italic
	}
	if c.Underline {
		st |= core.Underline
	}
	if c.Strikethrough {
		st |= core.Strike
	}
	if c.Monospace {
		st |= core.Monospace
	}
	return st
}

// ircColours are the RGB of the mIRC colour numbers: 0–15 as mIRC shows
// them, 16–98 the extended palette most clients (WeeChat, irssi, The
// Lounge) agree on. 99 is the reader's default.
var ircColours = [99]string{
	"#ffffff", "#000000", "#00007f", "#009300", "#ff0000", "#7f0000", "#9c009c", "#fc7f00",
	"#ffff00", "#00fc00", "#009393", "#00ffff", "#0000fc", "#ff00ff", "#7f7f7f", "#d2d2d2",
	"#470000", "#472100", "#474700", "#324700", "#004700", "#00472c", "#004747", "#002747", "#000047", "#2e0047", "#470047", "#47002a",
	"#740000", "#743a00", "#747400", "#517400", "#007400", "#007449", "#007474", "#004074", "#000074", "#4b0074", "#740074", "#740045",
	"#b50000", "#b56300", "#b5b500", "#7db500", "#00b500", "#00b571", "#00b5b5", "#0063b5", "#0000b5", "#7500b5", "#b500b5", "#b5006b",
	"#ff0000", "#ff8c00", "#ffff00", "#b2ff00", "#00ff00", "#00ffa0", "#00ffff", "#008cff", "#0000ff", "#a500ff", "#ff00ff", "#ff0098",
	"#ff5959", "#ffb459", "#ffff71", "#cfff60", "#6fff6f", "#65ffc9", "#6dffff", "#59b4ff", "#5959ff", "#c459ff", "#ff66ff", "#ff59bc",
	"#ff9c9c", "#ffd39c", "#ffff9c", "#e2ff9c", "#9cff9c", "#9cffdb", "#9cffff", "#9cd3ff", "#9c9cff", "#dc9cff", "#ff9cff", "#ff94d3",
	"#000000", "#131313", "#282828", "#363636", "#4d4d4d", "#656565", "#818181", "#9f9f9f", "#bcbcbc", "#e2e2e2", "#ffffff",
}

// ircColour is the RGB of a colour code, "" when unset or the default.
func ircColour(c ircfmt.ColorCode) string {
	if !c.IsSet || int(c.Value) >= len(ircColours) {
		return ""
	}
	return ircColours[c.Value]
}

// writePlain writes s without the controls ircfmt leaves in its chunks.
// A \x04 takes its hex colour with it; a chunk ends at every code ircfmt
// knows, so a colour cut short by one is rightly left as text.
func writePlain(b *strings.Builder, s string) {
	for {
		i := strings.IndexAny(s, ircControls)
		if i < 0 {
			b.WriteString(s)
			return
		}
		b.WriteString(s[:i])
		c := s[i]
		s = s[i+1:]
		if c == '\x04' && isHex6(s) {
			s = s[6:]
			if len(s) > 6 && s[0] == ',' && isHex6(s[1:]) {
				s = s[7:]
			}
		}
	}
}

func isHex6(s string) bool {
	if len(s) < 6 {
		return false
	}
	for _, c := range []byte(s[:6]) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// formatIRC renders body with the toggles that give each byte the styles of
// the spans covering it. Spans may overlap and come in any order; the parts
// outside body are ignored, and a boundary inside a UTF-8 sequence widens
// the span to the whole character. The codes of ircControls are removed
// from body, including \r and \n: a caller with several lines splits them
// first (splitMessage does). Styles still open at the end are not closed,
// as every IRC client resets formatting at the end of a message.
func formatIRC(body string, spans []core.Span) string {
	if len(spans) == 0 && strings.IndexAny(body, ircControls) < 0 {
		return body
	}
	r := renderer{body: body, changes: styleChanges(body, spans)}
	out, _ := r.piece(make([]byte, 0, len(body)+len(r.changes)*2), 0, len(body), math.MaxInt)
	return string(out)
}

// styleChange says that from byte at on, the body has style.
type styleChange struct {
	at    int
	style core.Style
}

// styleChanges flattens spans into the points where the combined style
// changes. Each style bit is counted, so overlapping spans of one style
// keep it until the last of them ends.
func styleChanges(body string, spans []core.Span) []styleChange {
	type edge struct {
		at    int
		style core.Style
		delta int
	}
	edges := make([]edge, 0, 2*len(spans))
	for _, sp := range spans {
		start, end, st := max(sp.Start, 0), min(sp.End, len(body)), sp.Style&allStyles
		if start >= end || st == 0 {
			continue
		}
		start = charStart(body, start)
		if c := charStart(body, end); c < end {
			_, size := utf8.DecodeRuneInString(body[c:])
			end = c + size
		}
		edges = append(edges, edge{start, st, 1}, edge{end, st, -1})
	}
	if len(edges) == 0 {
		return nil
	}
	slices.SortFunc(edges, func(a, b edge) int { return a.at - b.at })
	var (
		count   [8]int
		changes []styleChange
		cur     core.Style
	)
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at == at; i++ {
			for st := edges[i].style; st != 0; st &= st - 1 {
				count[bits.TrailingZeros8(uint8(st))] += edges[i].delta
			}
		}
		var next core.Style
		for b, n := range count {
			if n > 0 {
				next |= 1 << b
			}
		}
		if next != cur {
			changes = append(changes, styleChange{at, next})
			cur = next
		}
	}
	return changes
}

// charStart returns where the character holding byte at starts, reading s
// as range and the renderer do: a byte of no valid sequence stands alone.
func charStart(s string, at int) int {
	if at >= len(s) || utf8.RuneStart(s[at]) {
		return at
	}
	for j := at - 1; j >= 0 && j > at-utf8.UTFMax; j-- {
		if utf8.RuneStart(s[j]) {
			if _, size := utf8.DecodeRuneInString(s[j:]); j+size > at {
				return j
			}
			break
		}
	}
	return at
}

// appendToggles appends the codes that turn style from into style to,
// starting over with a reset where that is shorter.
func appendToggles(dst []byte, from, to core.Style) []byte {
	if from == to {
		return dst
	}
	diff := from ^ to
	if 1+bits.OnesCount8(uint8(to)) < bits.OnesCount8(uint8(diff)) {
		dst = append(dst, '\x0f')
		diff = to
	}
	for _, sc := range styleCodes {
		if diff&sc.style != 0 {
			dst = append(dst, sc.code)
		}
	}
	return dst
}
