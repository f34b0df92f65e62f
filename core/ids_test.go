package core

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestMessageIDRoundTrip(t *testing.T) {
	ids := []MessageID{1, 31, 32, 1 << 16, MessageIDAt(testTime), MessageIDAt(testTime) + 65535, math.MaxInt64}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		ids = append(ids, MessageID(r.Int64N(math.MaxInt64)+1))
	}
	for _, id := range ids {
		s := id.String()
		if len(s) != 13 {
			t.Fatalf("%d encodes as %q, %d characters", int64(id), s, len(s))
		}
		got, err := ParseMessageID(s)
		if err != nil || got != id {
			t.Fatalf("ParseMessageID(%q) = %d, %v; want %d", s, int64(got), err, int64(id))
		}
		if got, err := ParseMessageID(strings.ToLower(s)); err != nil || got != id {
			t.Fatalf("lower case %q: %d, %v", strings.ToLower(s), int64(got), err)
		}
	}
	if s := MessageID(math.MaxInt64).String(); s != "7ZZZZZZZZZZZZ" {
		t.Errorf("max id encodes as %q", s)
	}
	if s := MessageID(1).String(); s != "0000000000001" {
		t.Errorf("id 1 encodes as %q", s)
	}
}

func TestMessageIDEncodingSorts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	pick := func() MessageID {
		switch r.IntN(3) {
		case 0: // near each other, as ids of one second are
			return MessageIDAt(testTime) + MessageID(r.IntN(1<<20))
		case 1:
			return MessageID(r.Int64N(1 << 40))
		}
		return MessageID(r.Int64N(math.MaxInt64))
	}
	for range 5000 {
		a, b := pick(), pick()
		if got, want := strings.Compare(a.String(), b.String()), cmpID(a, b); got != want {
			t.Fatalf("compare(%q, %q) = %d, ids compare %d", a, b, got, want)
		}
	}
}

func cmpID(a, b MessageID) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestMessageIDTime(t *testing.T) {
	at := testTime.Add(123456789 * time.Nanosecond) // sub-millisecond part is dropped
	id := MessageIDAt(at)
	if got := id.Time(); !got.Equal(at.Truncate(time.Millisecond)) {
		t.Errorf("Time() = %v, want %v", got, at.Truncate(time.Millisecond))
	}
	if got := (id + 65535).Time(); !got.Equal(id.Time()) {
		t.Errorf("sequence bits changed the time: %v", got)
	}
}

func TestNextMessageIDMonotonic(t *testing.T) {
	now := testTime
	last := NextMessageID(0, now)
	if last != MessageIDAt(now) {
		t.Fatalf("first id %d, want MessageIDAt(now) %d", last, MessageIDAt(now))
	}
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 10000 {
		// The clock mostly creeps forward but sometimes stands still or
		// steps back by up to an hour.
		switch r.IntN(4) {
		case 0:
			now = now.Add(-time.Duration(r.Int64N(int64(time.Hour))))
		case 1:
		default:
			now = now.Add(time.Duration(r.Int64N(int64(3 * time.Millisecond))))
		}
		id := NextMessageID(last, now)
		if id <= last {
			t.Fatalf("step %d: NextMessageID(%d, %v) = %d, not after the last id", i, last, now, id)
		}
		if at := MessageIDAt(now); at > last && id != at {
			t.Fatalf("step %d: clock ahead, got %d, want MessageIDAt(now) %d", i, id, at)
		}
		last = id
	}
	// A full millisecond of sequence numbers spills into the next one.
	full := MessageIDAt(testTime) + 1<<messageIDSeqBits - 1
	if got := NextMessageID(full, testTime); got != MessageIDAt(testTime.Add(time.Millisecond)) {
		t.Errorf("after a full millisecond: %d", got)
	}
}

func TestParseMessageIDRejects(t *testing.T) {
	for _, s := range []string{
		"",
		"000000000001",   // 12
		"00000000000001", // 14
		"0000000000000",  // zero
		"8000000000000",  // > MaxInt64
		"Z000000000000",
		"z000000000000",
		"000000000000U", // not in Crockford's alphabet
		"000000000000I",
		"000000000000L",
		"000000000000O",
		"000000000000!",
		"000000000000 ",
		"-000000000001",
		"00000000000é", // 13 bytes, 12 runes
	} {
		if id, err := ParseMessageID(s); err == nil {
			t.Errorf("ParseMessageID(%q) = %d, want an error", s, int64(id))
		}
	}
}

func FuzzParseMessageID(f *testing.F) {
	for _, s := range []string{"0000000000001", "7ZZZZZZZZZZZZ", "01jq3vh2k8x9a", "8000000000000", "", "0000000000000", MessageIDAt(testTime).String()} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseMessageID(s)
		if err != nil {
			return
		}
		if id <= 0 {
			t.Fatalf("ParseMessageID(%q) = %d, not positive", s, int64(id))
		}
		enc := id.String()
		if !strings.EqualFold(enc, s) {
			t.Fatalf("ParseMessageID(%q).String() = %q", s, enc)
		}
		if again, err := ParseMessageID(enc); err != nil || again != id {
			t.Fatalf("ParseMessageID(%q) = %d, %v; want %d", enc, int64(again), err, int64(id))
		}
	})
}
