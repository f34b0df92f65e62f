package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type found struct {
	seq int
	ns  int64
}

func scanAll(pieces ...string) []found {
	var m markerScanner
	var got []found
	for _, p := range pieces {
		m.feed([]byte(p), func(seq int, ns int64) { got = append(got, found{seq, ns}) })
	}
	return got
}

// TestMarkerScanner: markers are found in XML and SSE text however the
// stream is cut, and look-alikes are passed over.
func TestMarkerScanner(t *testing.T) {
	at := time.Unix(1700000000, 123456789)
	stream := "<message type='groupchat'><body>" + marker(7, at) + " a line</body></message>" +
		"data: {\"body\":\"" + marker(12345, at) + " more\"}\n" +
		"ssswbm8t1e swbmt5e swbm9x1e swbm10t e swbm" + strings.Repeat("9", 30) + "t1e " + marker(3, at)
	want := []found{{7, at.UnixNano()}, {12345, at.UnixNano()}, {8, 1}, {3, at.UnixNano()}}
	for cut := 0; cut <= len(stream); cut++ {
		got := scanAll(stream[:cut], stream[cut:])
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("cut at %d: found %v, want %v", cut, got, want)
		}
	}
	var bytewise []string
	for i := range stream {
		bytewise = append(bytewise, stream[i:i+1])
	}
	if got := scanAll(bytewise...); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("a byte at a time: found %v, want %v", got, want)
	}
}

// FuzzMarkerScanner: any stream, cut anywhere, gives the same markers as
// in one piece, each with a number and time that fit.
func FuzzMarkerScanner(f *testing.F) {
	f.Add("swbm1t2e", 3)
	f.Add("ssswbm8t1e swbmt5e swbm"+strings.Repeat("9", 40)+"t1e", 10)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		if cut < 0 {
			cut = -cut
		}
		cut %= len(s) + 1
		whole, split := scanAll(s), scanAll(s[:cut], s[cut:])
		if fmt.Sprint(whole) != fmt.Sprint(split) {
			t.Fatalf("cut at %d: %v, in one piece %v", cut, split, whole)
		}
		for _, m := range whole {
			if m.seq < 0 || m.ns < 0 {
				t.Fatalf("negative marker %+v in %q", m, s)
			}
		}
	})
}
