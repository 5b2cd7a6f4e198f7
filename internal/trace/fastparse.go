package trace

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/custos-dev/custos/internal/event"
)

// readFields is the part of an access event that AccessSets counts.
type readFields struct {
	Actor          string `json:"actor"`
	Org            string `json:"org"`
	Action         string `json:"action"`
	Customer       string `json:"customer"`
	CustomerRegion string `json:"customer_region"`
	Decision       string `json:"decision"`
	Found          *bool  `json:"found"`
}

// readKeys are readFields' JSON keys.
var readKeys = []string{"actor", "org", "action", "customer", "customer_region", "decision", "found"}

// event returns the fields as an event, for Counts.
func (f readFields) event() event.Event {
	return event.Event{Actor: f.Actor, Org: f.Org, Action: f.Action, Customer: f.Customer,
		CustomerRegion: f.CustomerRegion, Decision: f.Decision, Found: f.Found}
}

// parseReadFields extracts readFields from an event's JSON. Rebuilding
// access sets parses every audit record, so the common case — canonical
// compact JSON without escapes, where every quote is structural — is read
// by scanning for the keys; anything else goes through encoding/json.
func parseReadFields(line []byte) (readFields, bool) {
	if f, ok := scanReadFields(line); ok {
		return f, true
	}
	var f readFields
	if err := json.Unmarshal(line, &f); err != nil {
		return readFields{}, false
	}
	return f, true
}

// scanReadFields is the fast path of parseReadFields. It reports false when
// it cannot be sure, never a wrong answer for valid JSON: the line must be
// one flat object with no backslash (so every quote is structural and a
// quoted word followed by a colon is a key), each of our keys at most once,
// and no other key equal to one of ours but for case (encoding/json matches
// keys case-insensitively).
func scanReadFields(line []byte) (readFields, bool) {
	if len(line) < 2 || line[0] != '{' || bytes.IndexByte(line, '\\') >= 0 || bytes.IndexByte(line[1:], '{') >= 0 {
		return readFields{}, false
	}
	var f readFields
	var seen [7]bool
	for i := 1; i < len(line); {
		q := bytes.IndexByte(line[i:], '"')
		if q < 0 {
			break
		}
		start := i + q + 1
		end := bytes.IndexByte(line[start:], '"')
		if end < 0 {
			return readFields{}, false
		}
		end += start
		i = end + 1
		if end+1 >= len(line) || line[end+1] != ':' {
			continue // a value
		}
		key := line[start:end]
		k := -1
		for j, rk := range readKeys {
			if string(key) == rk {
				k = j
				break
			}
		}
		if k < 0 {
			for _, c := range key {
				if c >= 0x80 { // Unicode case folding could map it to ours
					return readFields{}, false
				}
			}
			for _, rk := range readKeys {
				if bytes.EqualFold(key, []byte(rk)) {
					return readFields{}, false
				}
			}
		}
		if k < 0 {
			continue
		}
		if seen[k] {
			return readFields{}, false
		}
		seen[k] = true
		rest := line[end+2:]
		if k == 6 { // found
			switch {
			case bytes.HasPrefix(rest, []byte("true")):
				t := true
				f.Found = &t
			case bytes.HasPrefix(rest, []byte("false")):
				t := false
				f.Found = &t
			case bytes.HasPrefix(rest, []byte("null")):
			default:
				return readFields{}, false
			}
			continue
		}
		if len(rest) == 0 || rest[0] != '"' {
			return readFields{}, false
		}
		vend := bytes.IndexByte(rest[1:], '"')
		if vend < 0 {
			return readFields{}, false
		}
		v := rest[1 : 1+vend]
		if !utf8.Valid(v) {
			return readFields{}, false
		}
		switch k {
		case 0:
			f.Actor = string(v)
		case 1:
			f.Org = string(v)
		case 2:
			f.Action = string(v)
		case 3:
			f.Customer = string(v)
		case 4:
			f.CustomerRegion = string(v)
		case 5:
			f.Decision = string(v)
		}
		i = end + 2 + 1 + vend + 1
	}
	return f, true
}
