package irc

import (
	"strings"
	"testing"
)

func TestLineDecoder(t *testing.T) {
	tests := []struct {
		charset, line, want string
	}{
		{"", "caf\xe9 cr\xe8me", "café crème"},
		{"latin-1", "caf\xe9", "café"},
		{"Latin1", "\xbfqu\xe9?", "¿qué?"},
		{"ISO-8859-1", "\xa4", "¤"},
		{"iso-8859-15", "5 \xa4", "5 €"},
		{"iso-8859-2", "\xb3\xf3d\xbc", "łódź"},
		{"cp1250", "\x8aibenik", "Šibenik"},
		{"windows-1250", "\x9fr\xf3d\xb3o", "źródło"},
		{"cp1251", "\xcf\xf0\xe8\xe2\xe5\xf2", "Привет"},
		{"windows-1251", "\xc0\xe1\xe2", "Абв"},
		{"cp1252", "\x93hi\x94 \x80", "“hi” €"},
		{"windows-1252", "na\xefve", "naïve"},
		{"koi8-r", "\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"},
		{" KOI8-R ", "\xe1\xc2\xd7", "Абв"},
		// Invalid as a whole, so the valid é is read as latin-1 too.
		{"latin-1", "caf\xc3\xa9 \xe9", "cafÃ© é"},
		// A byte the charset leaves undefined is marked, not dropped.
		{"cp1252", "a\x81b", "a\ufffdb"},
		{"latin-1", "", ""},
	}
	for _, tt := range tests {
		dec, err := newLineDecoder(tt.charset)
		if err != nil {
			t.Fatalf("newLineDecoder(%q): %v", tt.charset, err)
		}
		if got := dec([]byte(tt.line)); got != tt.want {
			t.Errorf("%s: decode(%q) = %q, want %q", tt.charset, tt.line, got, tt.want)
		}
	}
}

func TestLineDecoderPassesUTF8(t *testing.T) {
	line := "PRIVMSG #café :Привет ☕ 👩\u200d💻 \x02bold\x02"
	for _, name := range append(charsetNames(), "") {
		dec, err := newLineDecoder(name)
		if err != nil {
			t.Fatalf("newLineDecoder(%q): %v", name, err)
		}
		if got := dec([]byte(line)); got != line {
			t.Errorf("%s: valid UTF-8 came back as %q", name, got)
		}
	}
}

func TestLineDecoderUnknownCharset(t *testing.T) {
	for _, name := range []string{"ebcdic", "utf-16", "latin 1"} {
		_, err := newLineDecoder(name)
		if err == nil {
			t.Fatalf("newLineDecoder(%q) accepted an unknown charset", name)
		}
		for _, want := range []string{`"charset"`, name, "latin-1", "iso-8859-15", "cp1251", "windows-1252", "koi8-r"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	}
}

func TestCharsetNames(t *testing.T) {
	names := charsetNames()
	want := []string{"latin-1", "latin1", "iso-8859-1", "iso-8859-2", "iso-8859-15",
		"cp1250", "windows-1250", "cp1251", "windows-1251", "cp1252", "windows-1252", "koi8-r"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("charsetNames() = %v, want %v", names, want)
	}
}
