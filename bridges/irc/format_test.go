package irc

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

const (
	stB = core.Bold
	stI = core.Italic
	stU = core.Underline
	stS = core.Strike
	stM = core.Monospace
)

func fspan(start, end int, st core.Style) core.Span {
	return core.Span{Start: start, End: end, Style: st}
}

func cspan(start, end int, st core.Style, fg, bg string) core.Span {
	return core.Span{Start: start, End: end, Style: st, FG: fg, BG: bg}
}

// styleOnly is spans without their colours, which formatIRC does not
// write: nothing but IRC itself gives a message colours.
func styleOnly(spans []core.Span) []core.Span {
	var out []core.Span
	for _, sp := range spans {
		sp.FG, sp.BG = "", ""
		switch n := len(out); {
		case sp.Style == 0:
		case n > 0 && out[n-1].End == sp.Start && out[n-1].Style == sp.Style:
			out[n-1].End = sp.End
		default:
			out = append(out, sp)
		}
	}
	return out
}

func TestParseFormatting(t *testing.T) {
	tests := []struct {
		name, in, body string
		spans          []core.Span
	}{
		{"plain", "hello world", "hello world", nil},
		{"empty", "", "", nil},
		{"bold", "a \x02bold\x02 b", "a bold b", []core.Span{fspan(2, 6, stB)}},
		{"unclosed at end", "a \x1ditalic", "a italic", []core.Span{fspan(2, 8, stI)}},
		{"each style", "\x02b\x02\x1di\x1d\x1fu\x1f\x1es\x1e\x11m\x11", "biusm",
			[]core.Span{fspan(0, 1, stB), fspan(1, 2, stI), fspan(2, 3, stU), fspan(3, 4, stS), fspan(4, 5, stM)}},
		{"nested", "\x02ab\x1dcd\x02ef\x1d", "abcdef",
			[]core.Span{fspan(0, 2, stB), fspan(2, 4, stB|stI), fspan(4, 6, stI)}},
		{"adjacent chunks merge", "\x02ab\x02\x02cd\x02 \x02\x1e\x1eef", "abcd ef",
			[]core.Span{fspan(0, 4, stB), fspan(5, 7, stB)}},
		{"colour splits a style run", "\x02ab\x0304cd\x03ef", "abcdef",
			[]core.Span{fspan(0, 2, stB), cspan(2, 4, stB, "#ff0000", ""), fspan(4, 6, stB)}},
		{"reset", "\x02\x1dab\x0fcd", "abcd", []core.Span{fspan(0, 2, stB|stI)}},
		{"colour fg", "\x034red\x03 \x0312blue", "red blue", []core.Span{cspan(0, 3, 0, "#ff0000", ""), cspan(4, 8, 0, "#0000fc", "")}},
		{"colour fg,bg", "\x0304,12on blue\x03", "on blue", []core.Span{cspan(0, 7, 0, "#ff0000", "#0000fc")}},
		{"extended colour", "\x0352,88x", "x", []core.Span{cspan(0, 1, 0, "#ff0000", "#000000")}},
		{"colour 99 is the default", "\x0399,04x", "x", []core.Span{cspan(0, 1, 0, "", "#ff0000")}},
		{"colour takes two digits at most", "\x031234", "34", []core.Span{cspan(0, 2, 0, "#0000fc", "")}},
		{"colour bg takes two digits at most", "\x031,234 ", "4 ", []core.Span{cspan(0, 2, 0, "#000000", "#002747")}},
		{"comma without bg stays", "\x0312,x", ",x", []core.Span{cspan(0, 2, 0, "#0000fc", "")}},
		{"reverse swaps colours", "\x0304,12\x16x", "x", []core.Span{cspan(0, 1, 0, "#0000fc", "#ff0000")}},
		{"bare colour resets", "\x03,5", ",5", nil},
		{"hex colour", "\x04FF0000red\x04 x", "red x", nil},
		{"hex colour fg,bg", "\x04ff0000,00FF00rg", "rg", nil},
		{"hex colour cut short is text", "\x04FF00 x", "FF00 x", nil},
		{"hex colour cut by a code", "\x04FF0\x02000x", "FF0000x", []core.Span{fspan(3, 7, stB)}},
		{"hex bg needs six digits", "\x04FF0000,12x", ",12x", nil},
		{"reverse dropped", "\x16rev\x16 \x02b", "rev b", []core.Span{fspan(4, 5, stB)}},
		{"other IRC controls dropped", "a\x01b\x00c\rd\ne", "abcde", nil},
		{"tab kept, bell and DEL dropped", "a\tb\a\x7f", "a\tb", nil},
		{"only codes", "\x02\x1d\x0f\x03", "", nil},
		{"utf-8 offsets are bytes", "caf\x02é\x02 ☕\x1f!", "café ☕!",
			[]core.Span{fspan(3, 5, stB), fspan(9, 10, stU)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, spans := parseFormatting(tt.in)
			if body != tt.body || !slices.Equal(spans, tt.spans) {
				t.Errorf("parseFormatting(%q) = %q, %v; want %q, %v", tt.in, body, spans, tt.body, tt.spans)
			}
		})
	}
}

func TestParseFormattingPlainDoesNotAllocate(t *testing.T) {
	in := strings.Repeat("plain text without codes ", 20)
	if n := testing.AllocsPerRun(100, func() { parseFormatting(in) }); n != 0 {
		t.Errorf("parseFormatting of plain text allocated %v times", n)
	}
}

func TestFormatIRC(t *testing.T) {
	tests := []struct {
		name, body string
		spans      []core.Span
		want       string
	}{
		{"plain", "hello", nil, "hello"},
		{"one span", "a bold b", []core.Span{fspan(2, 6, stB)}, "a \x02bold\x02 b"},
		{"open at end is not closed", "a bold", []core.Span{fspan(2, 6, stB)}, "a \x02bold"},
		{"whole body", "xy", []core.Span{fspan(0, 2, stI)}, "\x1dxy"},
		{"overlapping", "abcdef", []core.Span{fspan(0, 4, stB), fspan(2, 6, stI)}, "\x02ab\x1dcd\x02ef"},
		{"unsorted", "abcdef", []core.Span{fspan(4, 6, stU), fspan(0, 2, stS)}, "\x1eab\x1ecd\x1fef"},
		{"same style overlapping", "abcdef", []core.Span{fspan(0, 4, stB), fspan(2, 5, stB)}, "\x02abcde\x02f"},
		{"nested same style", "abcdef", []core.Span{fspan(0, 6, stB), fspan(2, 3, stB)}, "\x02abcdef"},
		{"several bits in one span", "abc", []core.Span{fspan(1, 2, stB|stM)}, "a\x02\x11b\x0fc"},
		{"reset where shorter than toggles", "abcd", []core.Span{fspan(0, 1, stB|stI|stU), fspan(1, 2, stS), fspan(2, 3, stB|stI|stU)},
			"\x02\x1d\x1fa\x0f\x1eb\x02\x1d\x1f\x1ec\x0fd"},
		{"out of range ignored", "abc", []core.Span{fspan(-5, -1, stB), fspan(3, 9, stB), fspan(2, 1, stB), fspan(1, 1, stB)}, "abc"},
		{"clamped", "abc", []core.Span{fspan(-2, 1, stB), fspan(2, 99, stI)}, "\x02a\x02b\x1dc"},
		{"unknown style bits ignored", "abc", []core.Span{fspan(0, 3, 0x80)}, "abc"},
		{"boundary inside a rune widens", "aéb", []core.Span{fspan(2, 3, stB)}, "a\x02é\x02b"},
		{"end inside a rune widens", "aéb", []core.Span{fspan(0, 2, stB)}, "\x02aé\x02b"},
		{"a stray continuation byte stands alone", "a\x80b", []core.Span{fspan(1, 2, stB)}, "a\x02\x80\x02b"},
		{"a cut-short sequence stands alone", "a\xe2\x82b", []core.Span{fspan(2, 3, stB)}, "a\xe2\x02\x82\x02b"},
		{"controls removed", "a\x02b\x03c\x00\x01\r\nd\x04\x0f\x11\x16\x1d\x1e\x1fe", nil, "abcde"},
		{"controls removed inside a span", "a\x02b", []core.Span{fspan(0, 3, stI)}, "\x1dab"},
		{"tab kept", "a\tb", nil, "a\tb"},
		{"digits after a code stay text", "12", []core.Span{fspan(0, 1, stB)}, "\x021\x022"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatIRC(tt.body, tt.spans); got != tt.want {
				t.Errorf("formatIRC(%q, %v) = %q, want %q", tt.body, tt.spans, got, tt.want)
			}
		})
	}
}

func TestFormatRoundTrip(t *testing.T) {
	tests := []struct {
		body  string
		spans []core.Span
	}{
		{"hello world", []core.Span{fspan(0, 5, stB), fspan(6, 11, stI)}},
		{"overlap of three", []core.Span{fspan(0, 10, stB), fspan(3, 16, stU), fspan(5, 7, stS|stM)}},
		{"unsorted ☕ café", []core.Span{fspan(9, 12, stI), fspan(0, 8, stB), fspan(13, 18, stB|stI|stU|stS|stM)}},
		{"12,34 after codes", []core.Span{fspan(0, 2, stB), fspan(3, 5, stM)}},
	}
	for _, tt := range tests {
		out := formatIRC(tt.body, tt.spans)
		body, spans := parseFormatting(out)
		if body != tt.body {
			t.Errorf("%q: round trip body = %q", tt.body, body)
		}
		if got, want := styleMask(body, spans), styleMask(tt.body, tt.spans); !slices.Equal(got, want) {
			t.Errorf("%q: round trip styles = %v, want %v (via %q)", tt.body, got, want, out)
		}
	}
}

// styleMask gives the style of each byte of body as formatIRC means it:
// each character, as range reads body, has the styles of every span that
// touches any of its bytes.
func styleMask(body string, spans []core.Span) []core.Style {
	mask := make([]core.Style, len(body))
	for k := 0; k < len(body); {
		_, size := utf8.DecodeRuneInString(body[k:])
		var st core.Style
		for _, sp := range spans {
			if max(sp.Start, k) < min(sp.End, k+size) {
				st |= sp.Style & allStyles
			}
		}
		for j := k; j < k+size; j++ {
			mask[j] = st
		}
		k += size
	}
	return mask
}

// exactMask gives the style of each byte of body by its spans alone.
func exactMask(body string, spans []core.Span) []core.Style {
	mask := make([]core.Style, len(body))
	for _, sp := range spans {
		for k := max(sp.Start, 0); k < min(sp.End, len(body)); k++ {
			mask[k] |= sp.Style
		}
	}
	return mask
}

func FuzzParseFormatting(f *testing.F) {
	for _, s := range []string{
		"plain", "\x02bold\x02 \x1dit\x1d", "\x0304,12c\x03", "\x04FF0000,00ff00x", "\x02\x1d\x1f\x1e\x11all\x0f",
		"caf\x02é", "\xe2\x02\x82\xac", "\x16\x03,\x041234567", "a\x01b\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		body, spans := parseFormatting(in)
		if strings.IndexAny(in, ircControls) < 0 && (body != in || spans != nil) {
			t.Fatalf("text without codes changed: %q, %v", body, spans)
		}
		if k := strings.IndexAny(body, ircControls); k >= 0 {
			t.Fatalf("body %q keeps control %q", body, body[k])
		}
		end := 0
		for k, sp := range spans {
			if sp.Start < end || sp.Start >= sp.End || sp.End > len(body) || (sp.Style == 0 && sp.FG == "" && sp.BG == "") || sp.Style&^allStyles != 0 {
				t.Fatalf("span %d %v out of order or range (body %d bytes): %v", k, sp, len(body), spans)
			}
			if k > 0 && spans[k-1].End == sp.Start && spans[k-1].Style == sp.Style && spans[k-1].FG == sp.FG && spans[k-1].BG == sp.BG {
				t.Fatalf("spans %d and %d not merged: %v", k-1, k, spans)
			}
			end = sp.End
		}

		// Rendering is a fixed point once span edges sit on whole
		// characters, which they do at once unless a code split one.
		// formatIRC writes no colours.
		spans = styleOnly(spans)
		out := formatIRC(body, spans)
		body2, spans2 := parseFormatting(out)
		spans2 = styleOnly(spans2)
		if body2 != body {
			t.Fatalf("re-rendered body %q, want %q (via %q)", body2, body, out)
		}
		if !slices.Equal(styleMask(body2, spans2), styleMask(body, spans)) {
			t.Fatalf("re-rendered spans %v, want %v (via %q)", spans2, spans, out)
		}
		if onCharStarts(body, spans) && !slices.Equal(spans2, spans) {
			t.Fatalf("re-rendered spans %v, want %v exactly (via %q)", spans2, spans, out)
		}
		body3, spans3 := parseFormatting(formatIRC(body2, spans2))
		spans3 = styleOnly(spans3)
		if body3 != body2 || !slices.Equal(spans3, spans2) {
			t.Fatalf("third pass %q %v, want %q %v", body3, spans3, body2, spans2)
		}
	})
}

// onCharStarts reports whether every span edge is where a character starts.
func onCharStarts(body string, spans []core.Span) bool {
	starts := make([]bool, len(body)+1)
	for k := 0; k < len(body); {
		starts[k] = true
		_, size := utf8.DecodeRuneInString(body[k:])
		k += size
	}
	starts[len(body)] = true
	for _, sp := range spans {
		if !starts[sp.Start] || !starts[sp.End] {
			return false
		}
	}
	return true
}
