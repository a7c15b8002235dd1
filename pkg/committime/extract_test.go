package committime

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var commit = time.Date(2022, 7, 18, 20, 0, 0, 0, time.UTC)

func TestExtractFindsTheField(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    time.Time
	}{
		{"only field", `{"CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"first field", `{"CommitTimestamp":"2022-07-18T20:00:00Z","a":1}`, commit},
		{"after a nested object", `{"a":{"b":{"c":[1,2,{"d":"}"}]}},"CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"after a nested array", `{"a":[[],[{}],["]",["["]]],"CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"after a string with escaped quotes and braces", `{"a":"say \"}\" {\" ,\"CommitTimestamp\":1","CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"after a string ending in an escaped backslash", `{"a":"c:\\","CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"after a string ending in escaped backslash and quote", `{"a":"\\\"","CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"nested field of the same name is ignored", `{"m":{"CommitTimestamp":"1999-01-01T00:00:00Z"},"CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"after literals and numbers", `{"t":true,"f":false,"n":null,"x":-1.5e3,"CommitTimestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"whitespace everywhere", " \n\t{ \"a\" : [ 1 , 2 ] ,\r\n \"CommitTimestamp\" :\t\"2022-07-18T20:00:00Z\" \n} ", commit},
		{"epoch seconds number", `{"CommitTimestamp":1658174400}`, commit},
		{"epoch milliseconds number", `{"CommitTimestamp":1658174400000}`, commit},
		{"epoch seconds fraction number", `{"CommitTimestamp":1658174400.5}`, commit.Add(500 * time.Millisecond)},
		{"epoch seconds numeric string", `{"CommitTimestamp":"1658174400"}`, commit},
		{"epoch milliseconds numeric string", `{"CommitTimestamp":"1658174400000"}`, commit},
		{"offset converted to UTC", `{"CommitTimestamp":"2022-07-18T22:00:00+02:00"}`, commit},
		{"zoneless date-time", `{"CommitTimestamp":"2022-07-18T20:00:00"}`, commit},
		{"value with an escape", `{"CommitTimestamp":"2022-07-18T22:00:00\u002B02:00"}`, commit},
		{"key with an escape", `{"Commit\u0054imestamp":"2022-07-18T20:00:00Z"}`, commit},
		{"first of duplicate fields", `{"CommitTimestamp":"2022-07-18T20:00:00Z","CommitTimestamp":"1999-01-01T00:00:00Z"}`, commit},
		{"later fields are not validated", `{"CommitTimestamp":1658174400,"broken":`, commit},
		{"non-ASCII before the field", `{"name":"Zoë 日本","CommitTimestamp":1658174400}`, commit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Extractor{}.Extract([]byte(tt.payload))
			if !ok {
				t.Fatalf("Extract(%s): got no timestamp, want %v", tt.payload, tt.want)
			}
			if !got.Equal(tt.want) {
				t.Errorf("Extract(%s): got %v, want %v", tt.payload, got, tt.want)
			}
		})
	}
}

func TestExtractFallsBack(t *testing.T) {
	tests := []struct {
		name    string
		payload string
	}{
		{"empty payload", ``},
		{"whitespace", "  \n"},
		{"binary", "\x00\x01\x02\xff{"},
		{"plain text", `CommitTimestamp=2022-07-18T20:00:00Z`},
		{"JSON array", `[{"CommitTimestamp":"2022-07-18T20:00:00Z"}]`},
		{"JSON string", `"2022-07-18T20:00:00Z"`},
		{"JSON number", `1658174400`},
		{"empty object", `{}`},
		{"field absent", `{"a":1,"b":"CommitTimestamp"}`},
		{"field only nested", `{"m":{"CommitTimestamp":"2022-07-18T20:00:00Z"}}`},
		{"field only inside a string", `{"a":"\"CommitTimestamp\":\"2022-07-18T20:00:00Z\""}`},
		{"field name differs in case", `{"committimestamp":"2022-07-18T20:00:00Z"}`},
		{"null", `{"CommitTimestamp":null}`},
		{"boolean", `{"CommitTimestamp":true}`},
		{"object value", `{"CommitTimestamp":{"s":1658174400}}`},
		{"array value", `{"CommitTimestamp":[1658174400]}`},
		{"unparsable string", `{"CommitTimestamp":"yesterday"}`},
		{"negative number", `{"CommitTimestamp":-1}`},
		{"microseconds", `{"CommitTimestamp":1658174400000000}`},
		{"truncated before the field", `{"a":{"b":[1,2`},
		{"truncated in a string", `{"a":"abc\"`},
		{"truncated in the key", `{"CommitTime`},
		{"truncated after the key", `{"CommitTimestamp"`},
		{"truncated after the colon", `{"CommitTimestamp":`},
		{"truncated in the value", `{"CommitTimestamp":"2022-07-18T20:00`},
		{"truncated after a number value", `{"CommitTimestamp":1658174400`},
		{"missing colon", `{"CommitTimestamp" "2022-07-18T20:00:00Z"}`},
		{"unquoted key", `{CommitTimestamp:"2022-07-18T20:00:00Z"}`},
		{"garbage after the value", `{"CommitTimestamp":"2022-07-18T20:00:00Z" x}`},
		{"missing value", `{"CommitTimestamp":,"a":1}`},
		{"stray closing bracket as a value", `{"a":],"CommitTimestamp":1658174400}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := []byte(tt.payload)
			got, ok := Extractor{}.Extract(payload)
			if ok {
				t.Errorf("Extract(%q): got %v, want a fallback", tt.payload, got)
			}
			if string(payload) != tt.payload {
				t.Errorf("Extract modified the payload: got %q, want %q", payload, tt.payload)
			}
		})
	}
}

func TestExtractReadsTheConfiguredField(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		want   time.Time
		wantOK bool
	}{
		{"default field", "", commit, true},
		{"custom field", "ts", commit.Add(time.Hour), true},
		{"custom field absent", "commit_ts", time.Time{}, false},
	}
	payload := []byte(`{"ts":"2022-07-18T21:00:00Z","CommitTimestamp":"2022-07-18T20:00:00Z"}`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Extractor{Field: tt.field}.Extract(payload)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("Extractor{Field: %q}.Extract: got %v, %v, want %v, %v", tt.field, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestExtractOnCDCFixtures(t *testing.T) {
	want := time.Date(2022, 7, 18, 20, 0, 0, 654321000, time.UTC)
	for _, name := range []string{"cdc_field_first.json", "cdc_field_last.json"} {
		t.Run(name, func(t *testing.T) {
			payload := readFixture(t, name)
			orig := bytes.Clone(payload)
			got, ok := Extractor{}.Extract(payload)
			if !ok || !got.Equal(want) {
				t.Errorf("Extract(%s): got %v, %v, want %v, true", name, got, ok, want)
			}
			if !bytes.Equal(payload, orig) {
				t.Errorf("Extract(%s) modified the payload", name)
			}
		})
	}
}

func TestExtractDoesNotAllocateForSkippedValues(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
	}{
		{"field first", "cdc_field_first.json"},
		{"field last", "cdc_field_last.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			payload := readFixture(t, tt.fixture)
			allocs := testing.AllocsPerRun(100, func() { Extractor{}.Extract(payload) })
			if allocs != 0 {
				t.Errorf("Extract(%s): got %v allocations, want 0", tt.fixture, allocs)
			}
		})
	}
}

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatalf("read fixture: %v", err)
	}
	return bytes.TrimSpace(b)
}

// referenceExtract is Extract written with encoding/json: the top-level keys
// are decoded in order and the first one named field is taken, its value
// unquoted if a string and handed to Parse. It walks a json.Decoder rather
// than decoding into map[string]json.RawMessage only because a map keeps the
// last of duplicate keys where Extract stops at the first; on every payload
// without duplicates the two agree.
func referenceExtract(payload []byte, field string) (time.Time, bool) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return time.Time{}, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return time.Time{}, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return time.Time{}, false
		}
		if tok.(string) != field {
			continue
		}
		var value string
		switch raw[0] {
		case '"':
			if err := json.Unmarshal(raw, &value); err != nil {
				return time.Time{}, false
			}
		case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			value = string(raw)
		default:
			return time.Time{}, false
		}
		t, err := Parse(value)
		return t, err == nil
	}
	return time.Time{}, false
}

func FuzzExtract(f *testing.F) {
	for _, seed := range []string{
		`{"CommitTimestamp":"2022-07-18T20:00:00Z"}`,
		`{"a":{"b":[1,"}"]},"CommitTimestamp":1658174400}`,
		`{"a":"\\\"","CommitTimestamp":"1658174400000"}`,
		`{"Commit\u0054imestamp":"2022-07-18 20:00:00"}`,
		`{"CommitTimestamp":null}`,
		`{"CommitTimestamp":1,"CommitTimestamp":2}`,
		`[1]`, `{`, `"x"`, "",
	} {
		f.Add([]byte(seed))
	}
	for _, name := range []string{"cdc_field_first.json", "cdc_field_last.json"} {
		f.Add(readFixture(f, name))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		orig := bytes.Clone(payload)
		got, ok := Extractor{}.Extract(payload)
		if !bytes.Equal(payload, orig) {
			t.Fatalf("Extract modified the payload: got %q, want %q", payload, orig)
		}
		if !json.Valid(payload) {
			return
		}
		want, wantOK := referenceExtract(payload, DefaultField)
		if ok != wantOK || !got.Equal(want) {
			t.Errorf("Extract(%q): got %v, %v, want %v, %v (encoding/json)", payload, got, ok, want, wantOK)
		}
	})
}
