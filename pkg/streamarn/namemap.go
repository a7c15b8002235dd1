package streamarn

import (
	"fmt"
	"strings"
)

// NameMap maps source stream names to target stream names (STREAM_NAME_MAP).
// Streams it does not name keep their name in the target Region.
type NameMap map[string]string

// ParseNameMap parses "src=dst,src2=dst2". Spaces around names and entries
// are trimmed; an empty or all-space string is an empty map. An empty entry,
// an entry without '=', an empty side, an invalid stream name or a source
// named twice is an error naming the entry, so a typo never silently sends a
// stream to the wrong target.
func ParseNameMap(s string) (NameMap, error) {
	m := NameMap{}
	if strings.TrimSpace(s) == "" {
		return m, nil
	}
	for i, entry := range strings.Split(s, ",") {
		src, dst, err := parseEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("parse stream name map: entry %d %q: %w", i+1, strings.TrimSpace(entry), err)
		}
		if prev, dup := m[src]; dup {
			return nil, fmt.Errorf("parse stream name map: entry %d %q: source %q already mapped to %q", i+1, strings.TrimSpace(entry), src, prev)
		}
		m[src] = dst
	}
	return m, nil
}

func parseEntry(entry string) (src, dst string, err error) {
	if strings.TrimSpace(entry) == "" {
		return "", "", fmt.Errorf("empty entry")
	}
	src, dst, ok := strings.Cut(entry, "=")
	if !ok {
		return "", "", fmt.Errorf("want src=dst")
	}
	src, dst = strings.TrimSpace(src), strings.TrimSpace(dst)
	if src == "" {
		return "", "", fmt.Errorf("empty source stream name")
	}
	if dst == "" {
		return "", "", fmt.Errorf("empty target stream name")
	}
	if err := ValidateStreamName(src); err != nil {
		return "", "", fmt.Errorf("source: %w", err)
	}
	if err := ValidateStreamName(dst); err != nil {
		return "", "", fmt.Errorf("target: %w", err)
	}
	return src, dst, nil
}

// Target is the name of src's stream in the target Region.
func (m NameMap) Target(src string) string {
	if dst, ok := m[src]; ok {
		return dst
	}
	return src
}
