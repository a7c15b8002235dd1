package committime

import (
	"strings"
	"testing"
	"time"
)

func TestParseAcceptsEveryDocumentedFormat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Time
	}{
		{"RFC 3339 UTC", "2022-07-18T20:00:00Z", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"RFC 3339 with fraction", "2022-07-18T20:00:00.123456789Z", time.Date(2022, 7, 18, 20, 0, 0, 123456789, time.UTC)},
		{"RFC 3339 positive offset to UTC", "2022-07-18T22:00:00+02:00", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"RFC 3339 negative offset to UTC", "2022-07-18T15:30:00.5-04:30", time.Date(2022, 7, 18, 20, 0, 0, 500000000, time.UTC)},
		{"zoneless is UTC", "2022-07-18T20:00:00", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"zoneless with milliseconds", "2022-07-18T20:00:00.123", time.Date(2022, 7, 18, 20, 0, 0, 123000000, time.UTC)},
		{"zoneless with microseconds", "2022-07-18T20:00:00.123456", time.Date(2022, 7, 18, 20, 0, 0, 123456000, time.UTC)},
		{"space separator zoneless", "2022-07-18 20:00:00.000001", time.Date(2022, 7, 18, 20, 0, 0, 1000, time.UTC)},
		{"space separator with zone", "2022-07-18 21:00:00+01:00", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"epoch seconds", "1658174400", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"epoch seconds with fraction", "1658174400.25", time.Date(2022, 7, 18, 20, 0, 0, 250000000, time.UTC)},
		{"epoch seconds with nanoseconds", "1658174400.000000001", time.Date(2022, 7, 18, 20, 0, 0, 1, time.UTC)},
		{"epoch seconds fraction beyond nanoseconds truncated", "1658174400.1234567899", time.Date(2022, 7, 18, 20, 0, 0, 123456789, time.UTC)},
		{"epoch milliseconds", "1658174400123", time.Date(2022, 7, 18, 20, 0, 0, 123000000, time.UTC)},
		{"epoch milliseconds with fraction", "1658174400123.5", time.Date(2022, 7, 18, 20, 0, 0, 123500000, time.UTC)},
		{"epoch zero", "0", time.Unix(0, 0).UTC()},
		{"leading zeros", "0001658174400", time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)},
		{"largest seconds value", "99999999999", time.Unix(99999999999, 0).UTC()},
		{"smallest milliseconds value", "100000000000", time.Unix(100000000, 0).UTC()},
		{"largest milliseconds value", "99999999999999", time.UnixMilli(99999999999999).UTC()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want %v", tt.in, err, tt.want)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Parse(%q): got %v, want %v", tt.in, got, tt.want)
			}
			if got.Location() != time.UTC {
				t.Errorf("Parse(%q): got location %v, want UTC", tt.in, got.Location())
			}
		})
	}
}

func TestParseRejectsOtherValuesQuotingThem(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"word", "yesterday"},
		{"negative epoch", "-1658174400"},
		{"exponent", "1.6581744e9"},
		{"microseconds", "1658174400123456"},
		{"nanoseconds", "1658174400123456789"},
		{"very long number", strings.Repeat("9", 40)},
		{"empty fraction", "1658174400."},
		{"fraction only", ".5"},
		{"two points", "1.2.3"},
		{"spaces around", " 1658174400 "},
		{"date only", "2022-07-18"},
		{"month 13", "2022-13-18T20:00:00Z"},
		{"zone without colon", "2022-07-18T20:00:00+0200"},
		{"trailing text", "2022-07-18T20:00:00 UTC"},
		{"slash date", "2022/07/18T20:00:00"},
		{"zero-time sentinel", "0001-01-01 00:00:00"},
		{"before 1970", "1969-12-31T23:59:59Z"},
		{"past year 9999 in UTC", "9999-12-31T23:30:00-05:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q): got %v, want an error", tt.in, got)
			}
			if want := "parse commit timestamp "; !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("Parse(%q): got error %q, want it to start with %q and quote the value", tt.in, err, want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"2022-07-18T20:00:00Z", "2022-07-18T20:00:00.123+02:00", "2022-07-18 20:00:00",
		"1658174400", "1658174400.5", "1658174400123", "99999999999999", "", "-", ".",
		"0001-01-01 00:00:00", "9999-12-31T23:30:00-05:00",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s)
		if err != nil {
			if !got.IsZero() {
				t.Errorf("Parse(%q): got %v with error %v, want the zero time", s, got, err)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Errorf("Parse(%q): got location %v, want UTC", s, got.Location())
		}
		// Any accepted instant must read back the same from its RFC 3339 form.
		// Date-times are left out: an offset near year 0 moves them out of the
		// four-digit years RFC 3339 can write.
		if isDateTime(s) {
			return
		}
		again, err := Parse(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Errorf("Parse(%q) = %v does not survive an RFC 3339 round trip: got %v, %v", s, got, again, err)
		}
	})
}
