package irc

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// lineDecoder turns one raw line from the server into text. It never fails:
// a line from a client in another charset is still worth showing.
type lineDecoder func(line []byte) string

// charsets are the fallbacks a network may name, in the order help lists
// them; the first is the default because latin-1 can decode any byte and is
// what most old IRC clients in the west send.
var charsets = []struct {
	names []string
	cm    *charmap.Charmap
}{
	{[]string{"latin-1", "latin1", "iso-8859-1"}, charmap.ISO8859_1},
	{[]string{"iso-8859-2"}, charmap.ISO8859_2},
	{[]string{"iso-8859-15"}, charmap.ISO8859_15},
	{[]string{"cp1250", "windows-1250"}, charmap.Windows1250},
	{[]string{"cp1251", "windows-1251"}, charmap.Windows1251},
	{[]string{"cp1252", "windows-1252"}, charmap.Windows1252},
	{[]string{"koi8-r"}, charmap.KOI8R},
}

// charsetNames lists the names newLineDecoder accepts, for help text.
func charsetNames() []string {
	var names []string
	for _, c := range charsets {
		names = append(names, c.names...)
	}
	return names
}

// newLineDecoder returns a decoder that passes valid UTF-8 through and reads
// any other line as a whole in the named single-byte charset (latin-1 if
// name is empty). Deciding per line rather than per byte run keeps a
// legacy client's line consistent even where some of its bytes happen to form
// valid UTF-8 sequences.
func newLineDecoder(name string) (lineDecoder, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	cm := charsets[0].cm
	if name != "" {
		cm = nil
		for _, c := range charsets {
			for _, n := range c.names {
				if n == name {
					cm = c.cm
				}
			}
		}
	}
	if cm == nil {
		return nil, fmt.Errorf("setting %q: unknown charset %q, want one of %s",
			keyCharset, name, strings.Join(charsetNames(), ", "))
	}
	return func(line []byte) string {
		if utf8.Valid(line) {
			return string(line)
		}
		var b strings.Builder
		b.Grow(2 * len(line))
		for _, c := range line {
			// DecodeByte avoids the transform machinery of NewDecoder,
			// which would allocate a decoder for every line.
			b.WriteRune(cm.DecodeByte(c))
		}
		return b.String()
	}, nil
}
