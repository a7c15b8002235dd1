package streamarn

import (
	"maps"
	"strings"
	"testing"
)

func TestParseNameMapAcceptsWellFormedMaps(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want NameMap
	}{
		{"empty string", "", NameMap{}},
		{"only spaces", "   ", NameMap{}},
		{"one entry", "orders=orders-replica", NameMap{"orders": "orders-replica"}},
		{"two entries", "a=b,c=d", NameMap{"a": "b", "c": "d"}},
		{"spaces trimmed", " a = b ,  c=d ", NameMap{"a": "b", "c": "d"}},
		{"identity entry", "a=a", NameMap{"a": "a"}},
		{"two sources into one target", "a=x,b=x", NameMap{"a": "x", "b": "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNameMap(tt.in)
			if err != nil {
				t.Fatalf("ParseNameMap(%q): got error %v, want %v", tt.in, err, tt.want)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("ParseNameMap(%q): got %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseNameMapRejectsBadEntriesNamingThem(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr []string
	}{
		{"missing equals", "a=b,cd", []string{`entry 2 "cd"`, "want src=dst"}},
		{"empty source", "=b", []string{`entry 1 "=b"`, "empty source"}},
		{"empty target", "a= ", []string{`entry 1 "a="`, "empty target"}},
		{"duplicate source", "a=b, a=c", []string{`entry 2 "a=c"`, `source "a" already mapped to "b"`}},
		{"invalid source name", "a b=c", []string{`entry 1 "a b=c"`, "source: invalid stream name"}},
		{"invalid target name", "a=b/c", []string{`entry 1 "a=b/c"`, "target: invalid stream name"}},
		{"second equals sign", "a=b=c", []string{`entry 1 "a=b=c"`, "target: invalid stream name"}},
		{"trailing comma", "a=b,", []string{"entry 2", "empty entry"}},
		{"doubled comma", "a=b,,c=d", []string{"entry 2", "empty entry"}},
		{"target name too long", "a=" + strings.Repeat("x", 129), []string{"entry 1", "target: invalid stream name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseNameMap(tt.in)
			if err == nil {
				t.Fatalf("ParseNameMap(%q): got %v, want an error", tt.in, got)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("ParseNameMap(%q): got error %q, want it to contain %q", tt.in, err, want)
				}
			}
		})
	}
}

func TestNameMapTarget(t *testing.T) {
	m := NameMap{"orders": "orders-dr"}
	tests := []struct {
		name string
		m    NameMap
		src  string
		want string
	}{
		{"mapped stream", m, "orders", "orders-dr"},
		{"unmapped stream keeps its name", m, "payments", "payments"},
		{"nil map keeps every name", nil, "orders", "orders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Target(tt.src); got != tt.want {
				t.Errorf("Target(%q): got %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}
