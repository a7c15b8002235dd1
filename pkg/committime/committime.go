// Package committime reads the commit timestamp of a change record from its
// JSON payload: the time the change was committed at the source database,
// which is what a checkpoint and a failover resume point are expressed in.
//
// Accepted values (Parse):
//
//   - RFC 3339 with a zone, "2022-07-18T20:00:00.123+02:00" or "...Z",
//     converted to UTC;
//   - "2006-01-02T15:04:05[.fff…]" without a zone, read as UTC; a space may
//     stand for the 'T' (the form database CDC tools often print), in both
//     the zoned and the zoneless form;
//   - epoch seconds or milliseconds, as a JSON number or a numeric string,
//     plain decimal with an optional fraction (no sign, no exponent). The
//     unit follows from the magnitude of the integer part: below 1e11 it is
//     seconds (1e11 s is the year 5138), from 1e11 up to 1e14 it is
//     milliseconds (1e11 ms is 1973-03-03, 1e14 ms the year 5138). Larger
//     values are refused rather than guessed at: they are most likely
//     microseconds or nanoseconds, which the contract does not promise.
//     Fraction digits beyond nanoseconds are truncated.
package committime

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultField is the payload field read when COMMIT_TIMESTAMP_FIELD is unset.
const DefaultField = "CommitTimestamp"

const (
	// millisFrom is the smallest integer part read as epoch milliseconds.
	millisFrom = 1e11
	// epochLimit is where epoch milliseconds stop being plausible.
	epochLimit = 1e14
)

// Parse reads one commit timestamp value in any accepted format (see the
// package documentation) and returns it in UTC.
func Parse(value string) (time.Time, error) {
	t, err := parse(value)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse commit timestamp %q: %w", value, err)
	}
	return t, nil
}

// A commit timestamp outside [earliest, latest] is a sentinel ("no value",
// 0001-01-01) or garbage; it would also not survive an RFC 3339 round trip
// through a checkpoint item (years past 9999), so it falls back instead.
var (
	earliest = time.Unix(0, 0).UTC()
	latest   = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

func parse(v string) (time.Time, error) {
	if v == "" {
		return time.Time{}, errors.New("empty value")
	}
	var t time.Time
	var err error
	if isDateTime(v) {
		t, err = parseDateTime(v)
	} else {
		t, err = parseEpoch(v)
	}
	if err != nil {
		return time.Time{}, err
	}
	if t.Before(earliest) || t.After(latest) {
		return time.Time{}, fmt.Errorf("%s is outside 1970-01-01 to 9999-12-31 UTC", t.Format(time.RFC3339Nano))
	}
	return t, nil
}

// isDateTime tells a calendar form from an epoch number by its shape
// "dddd-dd-ddXdd", X being 'T' or ' ', without trying layouts in turn.
func isDateTime(v string) bool {
	return len(v) >= 19 && v[4] == '-' && v[7] == '-' && (v[10] == 'T' || v[10] == ' ')
}

func parseDateTime(v string) (time.Time, error) {
	// Anything after "2006-01-02T15:04:05" is a fraction, a zone, or both; a
	// zone starts with one of these and a fraction never contains them.
	zoned := strings.ContainsAny(v[19:], "Zz+-")
	var layout string
	switch {
	case v[10] == 'T' && zoned:
		layout = time.RFC3339
	case v[10] == 'T':
		layout = "2006-01-02T15:04:05"
	case zoned:
		layout = "2006-01-02 15:04:05Z07:00"
	default:
		layout = "2006-01-02 15:04:05"
	}
	// time.Parse takes a fraction after the seconds even when the layout has
	// none, and a zoneless layout yields UTC.
	t, err := time.Parse(layout, v)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}

func parseEpoch(v string) (time.Time, error) {
	whole, frac, hasFrac := strings.Cut(v, ".")
	if whole == "" || !allDigits(whole) {
		return time.Time{}, errors.New("not a date-time nor plain decimal epoch seconds or milliseconds")
	}
	if hasFrac && (frac == "" || !allDigits(frac)) {
		return time.Time{}, errors.New("fraction is not decimal digits")
	}
	whole = strings.TrimLeft(whole, "0")
	// Fourteen digits reach epochLimit; checking the length first keeps
	// ParseInt from overflowing on a long run of digits.
	if len(whole) > 14 {
		return time.Time{}, errTooLarge
	}
	n, err := strconv.ParseInt("0"+whole, 10, 64)
	if err != nil {
		return time.Time{}, err
	}
	switch {
	case n < millisFrom:
		return time.Unix(n, fractionNanos(frac, 9)).UTC(), nil
	case n < epochLimit:
		nanos := (n%1000)*int64(time.Millisecond) + fractionNanos(frac, 6)
		return time.Unix(n/1000, nanos).UTC(), nil
	default:
		return time.Time{}, errTooLarge
	}
}

var errTooLarge = errors.New("epoch value beyond milliseconds up to 1e14 (microseconds or nanoseconds are not accepted)")

// fractionNanos reads the first digits of a decimal fraction as a count of
// units of 10^-digits, the rest truncated: with digits=9 "5" is 500000000.
func fractionNanos(frac string, digits int) int64 {
	var n int64
	for i := range digits {
		n *= 10
		if i < len(frac) {
			n += int64(frac[i] - '0')
		}
	}
	return n
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
