package ftsquery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

var translateTests = []struct {
	name, in, want string
}{
	{"word", `foo`, `"foo"`},
	{"implicit AND", `foo bar`, `"foo" AND "bar"`},
	{"explicit AND", `foo AND bar`, `"foo" AND "bar"`},
	{"lowercase operators are words", `foo and or not bar`, `"foo" AND "and" AND "or" AND "not" AND "bar"`},
	{"phrase", `"foo bar"`, `"foo bar"`},
	{"prefix", `fo*`, `"fo"*`},
	{"prefix with several stars", `fo**`, `"fo"*`},
	{"phrase prefix", `"foo ba"*`, `"foo ba"*`},
	{"OR", `foo OR baz`, `"foo" OR "baz"`},
	{"minus", `foo -bar`, `"foo" NOT "bar"`},
	{"minus phrase", `foo -"bar baz"`, `"foo" NOT "bar baz"`},
	{"binary NOT", `foo NOT bar`, `"foo" NOT "bar"`},
	{"AND NOT", `foo AND NOT bar`, `"foo" NOT "bar"`},
	{"NOT first", `NOT bar foo`, `"foo" NOT "bar"`},
	{"minus in the middle", `a -b c`, `("a" AND "c") NOT "b"`},
	{"several minuses", `a -b -c`, `"a" NOT ("b" OR "c")`},
	{"group", `(a OR b) c`, `("a" OR "b") AND "c"`},
	{"AND binds tighter than OR", `a OR b c`, `"a" OR ("b" AND "c")`},
	{"AND binds tighter than OR, left", `a b OR c`, `("a" AND "b") OR "c"`},
	{"NOT binds tighter than OR", `a OR b NOT c`, `"a" OR ("b" NOT "c")`},
	{"NOT binds tighter than OR, left", `a NOT b OR c`, `("a" NOT "b") OR "c"`},
	{"same operator flattened", `a OR (b OR c)`, `"a" OR "b" OR "c"`},
	{"redundant parentheses", `((a))`, `"a"`},
	{"negated group", `-(a b) c`, `"c" NOT ("a" AND "b")`},
	{"NOT group", `c NOT (a OR b)`, `"c" NOT ("a" OR "b")`},
	{"nested negation", `a -(b -c)`, `"a" NOT ("b" NOT "c")`},
	{"group of negations", `a (-b -c)`, `"a" NOT ("b" OR "c")`},
	{"OR of negations", `a (-b OR -c)`, `"a" NOT ("b" AND "c")`},
	{"OR with a negation inside a positive query", `c (a OR -b)`, `"c" NOT ("b" NOT "a")`},
	{"OR with a negation among negations", `a (b OR -c) -d`, `"a" NOT (("c" NOT "b") OR "d")`},
	{"double negation", `NOT NOT a`, `"a"`},
	{"minus NOT", `-NOT a`, `"a" NOT "NOT"`},
	{"double minus", `--a b`, `"b" NOT "-a"`},
	{"minus inside a word", `e-mail`, `"e-mail"`},
	{"minus after a phrase", `"a"-b`, `"a" AND "-b"`},
	{"lone minus dropped", `a - b`, `"a" AND "b"`},
	{"minus before a closing parenthesis", `(a -)`, `"a"`},
	{"quoted operators are words", `"AND" "OR" "NOT"`, `"AND" AND "OR" AND "NOT"`},
	{"operator with a star is a word", `AND* x`, `"AND"* AND "x"`},
	{"column filter is text", `body:secret`, `"body:secret"`},
	{"NEAR is text", `NEAR(a b)`, `"NEAR" AND "a" AND "b"`},
	{"caret and plus are text", `^foo +bar`, `"^foo" AND "+bar"`},
	{"star inside a word is text", `a*b`, `"a*b"`},
	{"punctuation dropped", `foo !!! bar`, `"foo" AND "bar"`},
	{"operand made of punctuation dropped", `a OR !!!`, `"a"`},
	{"negated punctuation dropped", `a -:`, `"a"`},
	{"NOT of punctuation dropped", `NOT !!! a`, `"a"`},
	{"group of punctuation dropped", `(!!! ...) a`, `"a"`},
	{"lone star dropped", `a *`, `"a"`},
	{"adjacent phrases", `say "it""s"`, `"say" AND "it" AND "s"`},
	{"phrase then word", `"a"b`, `"a" AND "b"`},
	{"accents kept", `café`, `"café"`},
	{"CJK", `日本語`, `"日本語"`},
	{"tabs and newlines", "a\tb\nc", `"a" AND "b" AND "c"`},
	{"NUL separates words", "a\x00b", `"a" AND "b"`},
	{"control characters in a phrase", "\"a\x00b\r\"", `"a b "`},
	{"no-break space", "a\u00a0b", `"a" AND "b"`},
	{"word ends at parenthesis", `f(x)`, `"f" AND "x"`},
}

func TestTranslate(t *testing.T) {
	for _, tt := range translateTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Translate(tt.in)
			if err != nil {
				t.Fatalf("Translate(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Translate(%q)\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

var errorTests = []struct {
	name, in string
	want     Error
}{
	{"empty", ``, Error{0, reasonNoWords}},
	{"spaces", "  \t ", Error{0, reasonNoWords}},
	{"punctuation only", `!!! ... :`, Error{0, reasonNoWords}},
	{"star only", `*`, Error{0, reasonNoWords}},
	{"negated only", `-foo`, Error{0, reasonAllExcluded}},
	{"NOT only", `NOT foo`, Error{0, reasonAllExcluded}},
	{"several negated", `-foo -bar`, Error{0, reasonAllExcluded}},
	{"negated group only", `-(a b)`, Error{0, reasonAllExcluded}},
	{"negations in a group only", `(-a -b)`, Error{1, reasonAllExcluded}},
	{"OR with a negation", `a OR -b`, Error{5, reasonAllExcluded}},
	{"OR with NOT", `a OR NOT b`, Error{5, reasonAllExcluded}},
	{"negation left after dropping", `-foo !!!`, Error{0, reasonAllExcluded}},
	{"unclosed quote", `hello, "world`, Error{7, "unclosed quote"}},
	{"unclosed negated quote", `a -"b`, Error{3, "unclosed quote"}},
	{"unclosed parenthesis", `(a b`, Error{0, "unclosed parenthesis"}},
	{"lone open parenthesis", `a (`, Error{2, "unclosed parenthesis"}},
	{"negated open parenthesis", `a -(`, Error{3, "unclosed parenthesis"}},
	{"unmatched closing parenthesis", `a b)`, Error{3, "unmatched closing parenthesis"}},
	{"lone closing parenthesis", `)`, Error{0, "unmatched closing parenthesis"}},
	{"empty parentheses", `a ()`, Error{2, "empty parentheses"}},
	{"trailing OR", `a OR`, Error{2, "OR without a word after it"}},
	{"trailing AND", `a AND `, Error{2, "AND without a word after it"}},
	{"trailing NOT", `a NOT`, Error{2, "NOT without a word after it"}},
	{"NOT alone", `NOT`, Error{0, "NOT without a word after it"}},
	{"NOT before closing parenthesis", `(a NOT)`, Error{3, "NOT without a word after it"}},
	{"NOT before AND", `NOT AND b`, Error{0, "NOT without a word after it"}},
	{"leading AND", `AND b`, Error{0, "AND without a word before it"}},
	{"leading OR in a group", `a (OR b)`, Error{3, "OR without a word before it"}},
	{"AND OR", `a AND OR b`, Error{2, "AND without a word after it"}},
	{"OR OR", `a OR OR b`, Error{2, "OR without a word after it"}},
	{"invalid UTF-8", "a \xffb", Error{2, "invalid UTF-8"}},
	{"too long", strings.Repeat("a ", 512) + "b", Error{1024, "query is longer than 1024 bytes"}},
	{"too many terms", strings.Repeat("w ", 64) + "x", Error{128, "query has more than 64 terms"}},
	{"too deep", nested(18), Error{nestedOffset(17), "query is nested more than 16 levels deep"}},
}

func TestTranslateErrors(t *testing.T) {
	for _, tt := range errorTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Translate(tt.in)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Translate(%q) = %q, %v; want *Error %v", tt.in, got, err, &tt.want)
			}
			if *e != tt.want {
				t.Errorf("Translate(%q): got %v, want %v", tt.in, e, &tt.want)
			}
		})
	}
}

func TestLimitsAreInclusive(t *testing.T) {
	for name, q := range map[string]string{
		"1024 bytes": `"` + strings.Repeat("ab ", 340) + `ab"`,
		"64 terms":   strings.Repeat("w ", 64),
		"16 levels":  nested(17),
	} {
		if name == "1024 bytes" && len(q) != 1024 {
			t.Fatalf("%s: query is %d bytes", name, len(q))
		}
		if _, err := Translate(q); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	_, err := Translate(`hello, "world`)
	if got, want := fmt.Sprint(err), "search query: unclosed quote at offset 7"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// nested returns a query whose translation has n AND and OR operators each
// inside the previous one, "w0 (w1 OR (w2 (w3 OR (...))))", so that the
// n-th is printed inside n-1 pairs of parentheses.
func nested(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString("(")
		}
		fmt.Fprintf(&b, "w%d ", i)
		if i%2 == 1 {
			b.WriteString("OR ")
		}
	}
	fmt.Fprintf(&b, "w%d", n)
	b.WriteString(strings.Repeat(")", n-1))
	return b.String()
}

// nestedOffset is the offset of the i-th "(" in nested(n).
func nestedOffset(i int) int {
	return strings.Index(nested(i+1), fmt.Sprintf("(w%d", i))
}

func TestNested(t *testing.T) {
	if got, want := nested(3), `w0 (w1 OR (w2 w3))`; got != want {
		t.Fatalf("nested(3) = %q, want %q", got, want)
	}
	got, err := Translate(nested(3))
	if want := `"w0" AND ("w1" OR ("w2" AND "w3"))`; err != nil || got != want {
		t.Fatalf("Translate(nested(3)) = %q, %v; want %q", got, err, want)
	}
}

func TestTranslateVerified(t *testing.T) {
	dense := func(w string) bool { return w == "the" || w == "i" }
	for _, tt := range []struct {
		in, out string
		checks  []string
	}{
		{`"broken build"`, `"broken" AND "build"`, []string{"broken build"}},
		{`deploy "Broken  Build"`, `"deploy" AND "broken" AND "build"`, []string{"broken build"}},
		{`don't`, `"don" AND "t"`, []string{"don t"}},
		{`"a b" -c`, `("a" AND "b") NOT "c"`, []string{"a b"}},
		// Dense words are checked on the text while another term stays.
		{`the failing`, `"failing"`, []string{"the"}},
		{`"the failing"`, `"failing"`, []string{"the failing"}},
		{`"the i"`, `"the"`, []string{"the i"}},
		{`the i`, `"the"`, []string{"the", "i"}},
		{`the`, `"the"`, []string{"the"}},
		{`the fail* -x`, `"fail"* NOT "x"`, []string{"the"}},
		// Not required by the whole query, a prefix, or not ASCII: FTS5
		// keeps the term.
		{`"a b" OR c`, `"a b" OR "c"`, nil},
		{`x -"a b"`, `"x" NOT "a b"`, nil},
		{`"a b"*`, `"a b"*`, nil},
		{`"café au"`, `"café au"`, nil},
		{`word`, `"word"`, nil},
		{`the OR failing`, `"the" OR "failing"`, nil},
	} {
		out, checks, err := TranslateVerified(tt.in, dense)
		if err != nil || out != tt.out || !slices.Equal(checks, tt.checks) {
			t.Errorf("TranslateVerified(%q) = %s, %q, %v; want %s, %q", tt.in, out, checks, err, tt.out, tt.checks)
		}
	}
	if _, _, err := TranslateVerified(`"unclosed`, nil); err == nil {
		t.Error("a query Translate rejects was accepted")
	}
}
