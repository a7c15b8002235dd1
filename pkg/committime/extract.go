package committime

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// Extractor reads the commit timestamp from a top-level field of a JSON
// object payload.
type Extractor struct {
	// Field is the exact, case-sensitive field name (COMMIT_TIMESTAMP_FIELD);
	// empty means DefaultField.
	Field string
}

// Extract returns the commit timestamp of payload, or false when the caller
// must fall back to the arrival time: the payload is not a JSON object, the
// field is absent, null, not a string or number, or its value does not Parse.
//
// It scans only the top level of the object and stops at the field: other
// values are skipped without being decoded or allocated for, so
// the cost does not depend on what the record carries after the field. The
// object is validated only up to the field and its value; a payload broken
// after that still yields the timestamp. If the field occurs more than once
// the first occurrence counts. payload is never modified.
func (x Extractor) Extract(payload []byte) (time.Time, bool) {
	field := x.Field
	if field == "" {
		field = DefaultField
	}
	value, ok := findField(payload, field)
	if !ok {
		return time.Time{}, false
	}
	t, err := parseValue(value)
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

// findField returns the raw JSON value of the top-level field named field, or
// false when the payload is not an object that has it.
func findField(p []byte, field string) ([]byte, bool) {
	i := skipSpace(p, 0)
	if i >= len(p) || p[i] != '{' {
		return nil, false
	}
	i++
	for {
		i = skipSpace(p, i)
		// Anything but a key here, '}' included, means no such field.
		if i >= len(p) || p[i] != '"' {
			return nil, false
		}
		keyEnd, ok := scanString(p, i)
		if !ok {
			return nil, false
		}
		match := keyMatches(p[i:keyEnd], field)
		i = skipSpace(p, keyEnd)
		if i >= len(p) || p[i] != ':' {
			return nil, false
		}
		i = skipSpace(p, i+1)
		valueEnd, ok := skipValue(p, i)
		if !ok {
			return nil, false
		}
		value := p[i:valueEnd]
		i = skipSpace(p, valueEnd)
		if i >= len(p) || (p[i] != ',' && p[i] != '}') {
			return nil, false
		}
		if match {
			return value, true
		}
		if p[i] == '}' {
			return nil, false
		}
		i++
	}
}

// keyMatches compares a quoted key with field. A key written with escapes
// (rare: `"Commit\u0054imestamp"`) is unescaped first so that it matches
// exactly when encoding/json would say it does; only then does it allocate.
func keyMatches(quoted []byte, field string) bool {
	if bytes.IndexByte(quoted, '\\') < 0 {
		return string(quoted[1:len(quoted)-1]) == field
	}
	var key string
	if err := json.Unmarshal(quoted, &key); err != nil {
		return false
	}
	return key == field
}

var errNotTimestamp = errors.New("value is neither a JSON string nor a number")

// parseValue parses a raw JSON string or number; any other kind of value,
// null included, is an error. It calls parse, not Parse: the caller drops the
// error, and an error that quotes the value would make every value escape to
// the heap, where short ones now stay on the stack.
func parseValue(raw []byte) (time.Time, error) {
	switch {
	case raw[0] == '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return parse(string(raw[1 : len(raw)-1]))
		}
		s, err := unquote(raw)
		if err != nil {
			return time.Time{}, err
		}
		return parse(s)
	case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
		return parse(string(raw))
	default:
		return time.Time{}, errNotTimestamp
	}
}

// unquote decodes a JSON string with escapes, a rare value kept off the
// common path.
func unquote(raw []byte) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// scanString returns the index just past the string that starts with the
// quote at p[start].
func scanString(p []byte, start int) (int, bool) {
	i := start + 1
	for {
		q := bytes.IndexByte(p[i:], '"')
		if q < 0 {
			return 0, false
		}
		i += q
		// The quote closes the string unless an odd run of backslashes
		// escapes it.
		backslashes := 0
		for j := i - 1; j > start && p[j] == '\\'; j-- {
			backslashes++
		}
		if backslashes%2 == 0 {
			return i + 1, true
		}
		i++
	}
}

// skipValue returns the index just past the JSON value starting at p[i].
// Objects and arrays are skipped by depth, with strings inside them skipped
// whole so that brackets and quotes within strings do not count.
func skipValue(p []byte, i int) (int, bool) {
	if i >= len(p) {
		return 0, false
	}
	switch p[i] {
	case '"':
		return scanString(p, i)
	case '{', '[':
		return skipComposite(p, i)
	case '}', ']', ',', ':':
		return 0, false
	default:
		// Number or literal: runs to the next delimiter.
		j := i
		for j < len(p) && !isDelimiter(p[j]) {
			j++
		}
		return j, true
	}
}

func skipComposite(p []byte, i int) (int, bool) {
	depth := 0
	for i < len(p) {
		switch p[i] {
		case '"':
			end, ok := scanString(p, i)
			if !ok {
				return 0, false
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, true
			}
		}
		i++
	}
	return 0, false
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func skipSpace(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}
