//go:build sqlite_fts5

package ftsquery

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// fuzzDocs use short words so that mutated queries still hit some of them.
var fuzzDocs = []string{
	"a b c", "a", "b", "c d", "a c", "b a", "d", "foo bar", "bar foo",
	"food", "ab abc", "", "x-y z", "and or not", "a a b",
}

// FuzzTranslate checks, for any input, that Translate does not panic and
// either returns an *Error pointing into the query or an expression that
//   - FTS5 accepts inside `{body}: (...)`,
//   - translates to itself: the output is also a user query with the
//     same meaning, so this is the parse → print → parse round trip,
//   - selects the same rows as the query's meaning evaluated directly
//     on the parse tree (for ASCII queries, whose tokenization is simple).
func FuzzTranslate(f *testing.F) {
	for _, tt := range translateTests {
		f.Add(tt.in)
	}
	for _, tt := range errorTests {
		f.Add(tt.in)
	}
	for _, s := range []string{
		`a OR (b -c) NOT (d OR -a)`, `-(a OR -b) c`, `(a (b OR (c -d)))`,
		`"a b"* OR a*`, `NOT -a b`, `a AND (NOT b OR c)`, `x-y -z`,
	} {
		f.Add(s)
	}
	db := openFTS(f, fuzzDocs)
	docs := make([][]string, len(fuzzDocs))
	for i, d := range fuzzDocs {
		docs[i] = asciiTokens(d)
	}

	f.Fuzz(func(t *testing.T, q string) {
		out, err := Translate(q)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Translate(%q): error %v is %T, not *Error", q, err, err)
			}
			if e.Offset < 0 || e.Offset > len(q) || e.Reason == "" {
				t.Fatalf("Translate(%q): bad error %#v", q, e)
			}
			return
		}
		got, err := match(db, out)
		if err != nil {
			t.Fatalf("Translate(%q) = %s: FTS5: %v", q, out, err)
		}
		// The verified form finds the same rows once its phrases are
		// checked against the text, as the store does.
		vout, phrases, err := TranslateVerified(q, func(w string) bool { return w == "a" || w == "b" })
		if err != nil {
			t.Fatalf("TranslateVerified(%q): %v, but Translate accepted it", q, err)
		}
		vgot, err := match(db, vout)
		if err != nil {
			t.Fatalf("TranslateVerified(%q) = %s: FTS5: %v", q, vout, err)
		}
		kept := []int64{}
		for _, id := range vgot {
			if hasAll(docs[id-1], phrases) {
				kept = append(kept, id)
			}
		}
		if !slices.Equal(kept, got) {
			t.Fatalf("TranslateVerified(%q) = %s %q: rows %v, Translate %s: rows %v", q, vout, phrases, kept, out, got)
		}
		if len(out) <= maxQueryBytes {
			again, err := Translate(out)
			if err != nil || again != out {
				t.Fatalf("Translate(%q) = %s, but that translates to %q, %v", q, out, again, err)
			}
		}
		if !isASCII(q) {
			return
		}
		toks, err := lex(q)
		if err != nil {
			t.Fatal(err)
		}
		n, err := (&parser{toks: toks}).query()
		if err != nil {
			t.Fatal(err)
		}
		hits, _ := eval(n, docs)
		want := []int64{}
		for i, h := range hits {
			if h {
				want = append(want, int64(i+1))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("Translate(%q) = %s: rows %v, want %v", q, out, got, want)
		}
	})
}

// hasAll reports whether the words hold every phrase, each word after word.
func hasAll(words []string, phrases []string) bool {
	for _, p := range phrases {
		want := strings.Fields(p)
		found := false
		for i := 0; i+len(want) <= len(words); i++ {
			if slices.Equal(words[i:i+len(want)], want) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// asciiTokens splits s the way unicode61 splits ASCII text.
func asciiTokens(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
}

// eval is the meaning of the user's query, written straight from the
// grammar with a complement that FTS5 lacks. ok is false when n has no
// searchable words and so is left out of its parent.
func eval(n *node, docs [][]string) (hits []bool, ok bool) {
	switch n.kind {
	case nTerm:
		phrase := asciiTokens(n.text)
		if len(phrase) == 0 {
			return nil, false
		}
		hits = make([]bool, len(docs))
		for i, d := range docs {
			hits[i] = hasPhrase(d, phrase, n.prefix)
		}
		return hits, true
	case nNot:
		hits, ok = eval(n.kids[0], docs)
		for i := range hits {
			hits[i] = !hits[i]
		}
		return hits, ok
	}
	for _, k := range n.kids {
		h, ok := eval(k, docs)
		switch {
		case !ok:
		case hits == nil:
			hits = h
		default:
			for i := range hits {
				if n.kind == nAnd {
					hits[i] = hits[i] && h[i]
				} else {
					hits[i] = hits[i] || h[i]
				}
			}
		}
	}
	return hits, hits != nil
}

func hasPhrase(doc, phrase []string, prefix bool) bool {
	for start := 0; start+len(phrase) <= len(doc); start++ {
		found := true
		for j, p := range phrase {
			w := doc[start+j]
			if j == len(phrase)-1 && prefix {
				found = found && strings.HasPrefix(w, p)
			} else {
				found = found && w == p
			}
		}
		if found {
			return true
		}
	}
	return false
}
