package history

import "testing"

func TestHasPhrase(t *testing.T) {
	for _, c := range []struct {
		text, phrase string
		want         bool
	}{
		{"the build is broken", "build is", true},
		{"the build is broken", "is build", false},
		{"The BUILD, is it broken?", "build is", true}, // punctuation separates, case folds
		{"build\tis", "build is", true},
		{"rebuild is", "build is", false}, // whole words only
		{"a a b", "a b", true},
		{"a a a b", "a a b", true}, // the phrase repeats its own start
		{"I don't know", "don t", true},
		{"Café au lait", "cafe au", true}, // diacritics fold as remove_diacritics=2 does
		{"Ñandú rápido", "nandu rapido", true},
		{"x2 build", "x2 build", true},
		{"", "a", false},
		{"a b", "", false},
	} {
		if got := hasPhrase(c.text, c.phrase); got != c.want {
			t.Errorf("hasPhrase(%q, %q) = %v, want %v", c.text, c.phrase, got, c.want)
		}
	}
}
