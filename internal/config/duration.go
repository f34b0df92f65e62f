package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written in the file as a string: a Go duration
// ("90s", "1h30m") or a whole number of days ("30d"), since retention periods
// are naturally counted in days and Go has no unit for them.
//
// A bare number is refused rather than read as nanoseconds: "retention = 30"
// almost certainly does not mean 30ns.
type Duration time.Duration

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d the way the file accepts it, in days when it is a whole
// number of them, and without the zero units time.Duration prints ("1h", not
// "1h0m0s").
func (d Duration) String() string {
	const day = 24 * time.Hour
	td := time.Duration(d)
	if td != 0 && td%day == 0 {
		return strconv.FormatInt(int64(td/day), 10) + "d"
	}
	s := td.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// MarshalText writes d as String does, so a marshalled Config reads back.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// UnmarshalText parses a TOML string value; see ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// durationHint is appended to every refusal so the operator sees the accepted
// forms right where the mistake is reported.
const durationHint = `a duration such as "90s", "1h30m" or "30d"`

// ParseDuration parses "30d" (whole days) or anything time.ParseDuration
// accepts.
func ParseDuration(s string) (Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not %s", s, durationHint)
		}
		if n > math.MaxInt64/int64(24*time.Hour) || n < math.MinInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("%q is too long a duration", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not %s", s, durationHint)
	}
	return Duration(v), nil
}
