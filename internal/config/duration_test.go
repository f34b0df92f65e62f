package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"0", 0},
		{"0s", 0},
		{"90s", 90 * time.Second},
		{"1h30m", 90 * time.Minute},
		{"720h", 720 * time.Hour},
		{"30d", 30 * 24 * time.Hour},
		{"1d", 24 * time.Hour},
		{"-5m", -5 * time.Minute},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if err != nil || got.Std() != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tt.in, got.Std(), err, tt.want)
		}
	}
}

func TestParseDurationRefuses(t *testing.T) {
	for _, in := range []string{"", "5", "5 minutes", "d", "1.5d", "1d12h", "xd", "999999999999d", "1w"} {
		_, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) succeeded", in)
			continue
		}
		if !strings.Contains(err.Error(), "duration") {
			t.Errorf("ParseDuration(%q) error %q does not say what was expected", in, err)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Hour, "1h"},
		{90 * time.Minute, "1h30m"},
		{5 * time.Minute, "5m"},
		{90 * time.Second, "1m30s"},
		{48 * time.Hour, "2d"},
		{25 * time.Hour, "25h"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.in).String(); got != tt.want {
			t.Errorf("Duration(%v).String() = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzDuration checks the round trip the example file relies on: whatever
// ParseDuration accepts prints back to a string that parses to the same value.
func FuzzDuration(f *testing.F) {
	for _, s := range []string{"0", "90s", "1h30m", "30d", "-5m", "1.5s", "106751d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			return
		}
		back, err := ParseDuration(d.String())
		if err != nil {
			t.Fatalf("%q parsed to %v, whose String %q does not parse: %v", s, d.Std(), d.String(), err)
		}
		if back != d {
			t.Fatalf("%q -> %q -> %v, want %v", s, d.String(), back.Std(), d.Std())
		}
	})
}
