package committime

import (
	"encoding/json"
	"testing"
)

// BenchmarkExtract reads the commit timestamp of a 1 KiB CDC record, with the
// field first (the scan stops at once) and last (every other value skipped).
func BenchmarkExtract(b *testing.B) {
	for _, fixture := range []struct{ name, file string }{
		{"field_first", "cdc_field_first.json"},
		{"field_last", "cdc_field_last.json"},
	} {
		payload := readFixture(b, fixture.file)
		b.Run(fixture.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, ok := (Extractor{}).Extract(payload); !ok {
					b.Fatal("Extract: got no timestamp, want one")
				}
			}
		})
	}
}

// BenchmarkUnmarshalMapBaseline is what Extract replaces: decoding the whole
// top level with encoding/json and parsing the one field.
func BenchmarkUnmarshalMapBaseline(b *testing.B) {
	for _, fixture := range []struct{ name, file string }{
		{"field_first", "cdc_field_first.json"},
		{"field_last", "cdc_field_last.json"},
	} {
		payload := readFixture(b, fixture.file)
		b.Run(fixture.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				var m map[string]json.RawMessage
				if err := json.Unmarshal(payload, &m); err != nil {
					b.Fatal(err)
				}
				var s string
				if err := json.Unmarshal(m[DefaultField], &s); err != nil {
					b.Fatal(err)
				}
				if _, err := Parse(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
