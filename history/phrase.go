package history

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// phraseFunc is the SQL name of hasPhrase, registered on every connection.
const phraseFunc = "switchboard_has_phrase"

// hasPhrase reports whether text holds the words of phrase one after the
// other. phrase comes from ftsquery.TranslateVerified: ASCII words, folded
// to lower case, separated by single spaces. Search asks FTS5 for messages
// with all of a phrase's words (which it answers fast) and keeps those
// this function accepts (which FTS5 answers slowly; see TranslateVerified).
//
// text is split as FTS5's unicode61 tokenizer splits it (letters, numbers
// and private-use characters make words) and each word is folded as
// remove_diacritics=2 folds it for the letters that decompose into an
// ASCII letter and marks (é, ñ, ç...). A letter FTS5 folds by a rule of its
// own that has no such decomposition (ø, ł, đ) keeps its form here, so a
// message whose only occurrence of a phrase is spelled with one is not
// found by that phrase; its words still find it.
func hasPhrase(text, phrase string) bool {
	want := strings.Fields(phrase)
	if len(want) == 0 {
		return false
	}
	// Messages are short; a window over the folded words is simplest and
	// handles phrases that repeat their own start ("a a b").
	var words []string
	for w, rest := nextWord(text); w != ""; w, rest = nextWord(rest) {
		words = append(words, foldWord(w))
		if n := len(words); n >= len(want) && slices.Equal(words[n-len(want):], want) {
			return true
		}
	}
	return false
}

// isWordRune is unicode61's default token character class.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Co, r)
}

// nextWord returns the first word of s and the rest of s after it.
func nextWord(s string) (word, rest string) {
	start := -1
	for i, r := range s {
		if isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			return s[start:i], s[i:]
		}
	}
	if start >= 0 {
		return s[start:], ""
	}
	return "", ""
}

// foldWord lowers w and, when it is not ASCII, removes combining marks.
func foldWord(w string) string {
	ascii := true
	for i := 0; i < len(w); i++ {
		if w[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(w)
	}
	var b strings.Builder
	for _, r := range norm.NFD.String(w) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}
