package irc

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchboard/switchboard/core"
)

func TestSplitMessage(t *testing.T) {
	const words = "aaaa bbbb cccc dddd eeee ffff gggg hhhh" // 39 bytes
	tests := []struct {
		name  string
		body  string
		spans []core.Span
		limit int
		want  []string
	}{
		{"fits", "hello", nil, 400, []string{"hello"}},
		{"empty", "", nil, 400, nil},
		{"lines", "one\r\ntwo\n\nthree\n", nil, 400, []string{"one", "two", "three"}},
		{"blank lines among text dropped", "a\n   \n\t\nb", nil, 400, []string{"a", "b"}},
		{"a message of spaces is sent", "   ", nil, 400, []string{"   "}},
		{"first blank line kept when nothing else", "\n  \n \x02\n", nil, 400, []string{"  "}},
		{"only controls", "\x02\x03\r\n\x01", nil, 400, nil},
		{"controls removed", "a\x01b\x00c\x02d", nil, 400, []string{"abcd"}},
		{"indentation kept", "x\n    y = 1", nil, 400, []string{"x", "    y = 1"}},
		{"break at the last space", words, nil, 32, []string{"aaaa bbbb cccc dddd eeee ffff", "gggg hhhh"}},
		{"limit under the minimum counts as 32", words, nil, 5, []string{"aaaa bbbb cccc dddd eeee ffff", "gggg hhhh"}},
		{"negative limit", words, nil, -1, []string{"aaaa bbbb cccc dddd eeee ffff", "gggg hhhh"}},
		{"space exactly at the limit", strings.Repeat("a", 32) + " b", nil, 32,
			[]string{strings.Repeat("a", 32), "b"}},
		{"run of spaces dropped at a break", strings.Repeat("a", 25) + "    " + strings.Repeat("b", 10), nil, 32,
			[]string{strings.Repeat("a", 25), strings.Repeat("b", 10)}},
		{"cut inside a run of spaces drops it", "ab" + strings.Repeat(" ", 40) + "cd", nil, 32, []string{"ab", "cd"}},
		{"hard break when the last space is early", "ab " + strings.Repeat("x", 40), nil, 32,
			[]string{"ab " + strings.Repeat("x", 29), strings.Repeat("x", 11)}},
		{"two-byte characters", strings.Repeat("é", 20), nil, 32,
			[]string{strings.Repeat("é", 16), strings.Repeat("é", 4)}},
		{"three-byte characters never cut", strings.Repeat("€", 20), nil, 32,
			[]string{strings.Repeat("€", 10), strings.Repeat("€", 10)}},
		{"combining mark stays with its letter", strings.Repeat("e\u0301", 11), nil, 32,
			[]string{strings.Repeat("e\u0301", 10), "e\u0301"}},
		{"emoji sequence kept whole", strings.Repeat("a", 25) + "👩\u200d💻", nil, 32,
			[]string{strings.Repeat("a", 25), "👩\u200d💻"}},
		{"formatting reopened after a break", words, []core.Span{fspan(0, 39, stB)}, 32,
			[]string{"\x02aaaa bbbb cccc dddd eeee ffff", "\x02gggg hhhh"}},
		{"formatting reopened on the next line", "ab\ncd", []core.Span{fspan(1, 4, stB)}, 400,
			[]string{"a\x02b", "\x02c\x02d"}},
		{"codes count toward the limit", strings.Repeat("a", 31), []core.Span{fspan(0, 31, stB|stI)}, 32,
			[]string{"\x02\x1d" + strings.Repeat("a", 30), "\x02\x1da"}},
		{"code-only fit", strings.Repeat("a", 31), []core.Span{fspan(0, 31, stB)}, 32,
			[]string{"\x02" + strings.Repeat("a", 31)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitMessage(tt.body, tt.spans, tt.limit)
			if !slices.Equal(got, tt.want) {
				t.Errorf("splitMessage(%q, %v, %d) =\n%q\nwant\n%q", tt.body, tt.spans, tt.limit, got, tt.want)
			}
			checkSplit(t, tt.body, tt.spans, tt.limit, got)
		})
	}
}

func TestSplitMessagePrefersTheFinalThird(t *testing.T) {
	// The only space is at 24 bytes of 32, inside the final third, so it
	// is taken; at 20 bytes it is not, and the word is cut instead.
	for _, tt := range []struct {
		at   int
		want string
	}{{24, strings.Repeat("a", 24)}, {20, strings.Repeat("a", 20) + " " + strings.Repeat("b", 11)}} {
		body := strings.Repeat("a", tt.at) + " " + strings.Repeat("b", 40)
		if got := splitMessage(body, nil, 32)[0]; got != tt.want {
			t.Errorf("space at %d: first piece %q, want %q", tt.at, got, tt.want)
		}
	}
}

func TestSplitMessageLongInput(t *testing.T) {
	// Each piece must cost in proportion to its own length, whatever
	// follows it; a rescan of the rest would not finish here.
	word := strings.Repeat("x", 1<<20)
	got := splitMessage(word, []core.Span{fspan(1000, 5000, stB)}, 400)
	if len(got) != (1<<20)/400+1 {
		t.Errorf("a word of 1 MiB split into %d pieces, want %d", len(got), (1<<20)/400+1)
	}
	checkSplit(t, word, []core.Span{fspan(1000, 5000, stB)}, 400, got)

	spaced := "a" + strings.Repeat(" ", 1<<20) + "b"
	if got := splitMessage(spaced, nil, 400); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("words a MiB of spaces apart split into %d pieces, want [a b]", len(got))
	}
}

// checkSplit asserts what must hold of any split: each piece fits and is
// valid UTF-8 if the body was, and the pieces carry the body's visible
// characters, in order and each with its style.
func checkSplit(t *testing.T, body string, spans []core.Span, limit int, pieces []string) {
	t.Helper()
	limit = max(limit, minTextLimit)
	valid := utf8.ValidString(body)
	type styled struct {
		c  byte
		st core.Style
	}
	var got, want []styled
	for _, p := range pieces {
		if p == "" || len(p) > limit {
			t.Fatalf("piece of %d bytes, limit %d: %q", len(p), limit, p)
		}
		if valid && !utf8.ValidString(p) {
			t.Fatalf("piece %q is not valid UTF-8", p)
		}
		if k := strings.IndexAny(p, "\x00\x01\x03\x04\x16\r\n"); k >= 0 {
			t.Fatalf("piece %q has control %q", p, p[k])
		}
		text, spans := parseFormatting(p)
		mask := exactMask(text, spans)
		for k := range len(text) {
			if text[k] != ' ' && text[k] != '\t' {
				got = append(got, styled{text[k], mask[k]})
			}
		}
	}
	mask := styleMask(body, spans)
	for k := range len(body) {
		if c := body[k]; c != ' ' && c != '\t' && !isIRCControl[c] {
			want = append(want, styled{c, mask[k]})
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pieces %q carry %v, want %v", pieces, got, want)
	}
}

func FuzzSplitMessage(f *testing.F) {
	f.Add("aaaa bbbb cccc dddd eeee ffff gggg hhhh", []byte{0, 120, 1, 60, 255, 2}, 32)
	f.Add("line one\r\nline two\n\n  \n"+strings.Repeat("é€👩\u200d💻e\u0301 ", 20), []byte{10, 200, 31}, 40)
	f.Add(strings.Repeat("x", 100)+"\x02\x03\x0f", []byte{3, 4, 5, 6, 7, 8}, 0)
	f.Add("\xe2\x82 \xff\x80 abc", []byte{1, 2, 3}, 33)
	f.Fuzz(func(t *testing.T, body string, rawSpans []byte, limit int) {
		// Spans from the fuzzer's bytes reach a little outside the body
		// on both sides, and carry unknown style bits too.
		pos := func(c byte) int { return int(c)*(len(body)+4)/255 - 2 }
		var spans []core.Span
		for ; len(rawSpans) >= 3; rawSpans = rawSpans[3:] {
			spans = append(spans, core.Span{Start: pos(rawSpans[0]), End: pos(rawSpans[1]), Style: core.Style(rawSpans[2])})
		}
		limit %= 1000
		checkSplit(t, body, spans, limit, splitMessage(body, spans, limit))
	})
}

func BenchmarkSplitMessage(b *testing.B) {
	body := strings.Repeat("The quick brown fox jumps over the lazy dog, then naps. ", 74)[:4096]
	var spans []core.Span
	for at := 0; at+40 < len(body); at += 97 {
		spans = append(spans, core.Span{Start: at, End: at + 40, Style: core.Style(1 << (at % 5))})
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		splitMessage(body, spans, 400)
	}
}
