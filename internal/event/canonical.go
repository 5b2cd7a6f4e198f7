package event

import (
	"unicode/utf8"
)

// parseCanonical is Parse's fast path: it reads exactly the canonical form
// (compact JSON, keys in Event's field order, optional keys where Canonical
// may write them) with strings that need no unescaping. ok is false when
// the line is anything else; encoding/json then decides. When ok is true,
// the Event equals what json.Unmarshal would return for line.
func parseCanonical(line []byte) (e Event, ok bool) {
	s := scanner{b: line}
	if !s.lit(`{"time":"`) {
		return e, false
	}
	tv, good := s.rawString()
	if !good || e.Time.UnmarshalText(tv) != nil {
		return e, false
	}
	if !s.strField(`,"actor":"`, &e.Actor) ||
		!s.strField(`,"org":"`, &e.Org) ||
		!s.strField(`,"role":"`, &e.Role) ||
		!s.strField(`,"site":"`, &e.Site) ||
		!s.strField(`,"region":"`, &e.Region) ||
		!s.strField(`,"action":"`, &e.Action) ||
		!s.strField(`,"customer":"`, &e.Customer) ||
		!s.strField(`,"customer_region":"`, &e.CustomerRegion) {
		return e, false
	}
	if s.peek(`,"customer_site":"`) && !s.strField(`,"customer_site":"`, &e.CustomerSite) {
		return e, false
	}
	if !s.lit(`,"fields":[`) {
		return e, false
	}
	if e.Fields, good = s.strings(); !good {
		return e, false
	}
	if !s.strField(`,"purpose":"`, &e.Purpose) ||
		!s.lit(`,"purpose_valid":`) {
		return e, false
	}
	if e.PurposeValid, good = s.boolean(); !good {
		return e, false
	}
	if !s.strField(`,"decision":"`, &e.Decision) || !s.strField(`,"reason":"`, &e.Reason) {
		return e, false
	}
	if s.lit(`,"found":`) {
		v, good := s.boolean()
		if !good {
			return e, false
		}
		e.Found = &v
	}
	if s.lit(`,"canary":`) {
		if e.Canary, good = s.boolean(); !good {
			return e, false
		}
	}
	if s.peek(`,"target":"`) && !s.strField(`,"target":"`, &e.Target) {
		return e, false
	}
	if s.peek(`,"source":"`) && !s.strField(`,"source":"`, &e.Source) {
		return e, false
	}
	if s.peek(`,"basis":"`) && !s.strField(`,"basis":"`, &e.Basis) {
		return e, false
	}
	if s.lit(`,"ticket_age":`) {
		if e.TicketAge, good = s.integer(); !good {
			return e, false
		}
	}
	if s.lit(`,"masked":[`) {
		if e.Masked, good = s.strings(); !good {
			return e, false
		}
	}
	if !s.lit(`}`) || s.i != len(s.b) {
		return e, false
	}
	return e, true
}

// scanner reads canonical JSON left to right.
type scanner struct {
	b []byte
	i int
}

// peek reports whether the input continues with l.
func (s *scanner) peek(l string) bool {
	return len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l
}

// lit consumes l if the input continues with it.
func (s *scanner) lit(l string) bool {
	if !s.peek(l) {
		return false
	}
	s.i += len(l)
	return true
}

// strings consumes the rest of an array of strings whose opening bracket
// is already consumed, and its closing bracket. An empty array is an empty
// slice, as encoding/json makes it.
func (s *scanner) strings() ([]string, bool) {
	if s.lit(`]`) {
		return []string{}, true
	}
	out := make([]string, 0, 4)
	for {
		if !s.lit(`"`) {
			return out, false
		}
		v, good := s.str()
		if !good {
			return out, false
		}
		out = append(out, v)
		if s.lit(`]`) {
			return out, true
		}
		if !s.lit(`,`) {
			return out, false
		}
	}
}

// strField consumes key (which ends with the value's opening quote) and a
// string value into dst.
func (s *scanner) strField(key string, dst *string) bool {
	if !s.lit(key) {
		return false
	}
	v, ok := s.str()
	*dst = v
	return ok
}

// rawString consumes the rest of a string whose opening quote is already
// consumed, and its closing quote. It refuses escapes, control characters
// and invalid UTF-8 (encoding/json would unescape or replace them), so the
// returned bytes are exactly the string's value.
func (s *scanner) rawString() ([]byte, bool) {
	start := s.i
	ascii := true
	for j := start; j < len(s.b); j++ {
		c := s.b[j]
		switch {
		case c == '"':
			v := s.b[start:j]
			if !ascii && !utf8.Valid(v) {
				return nil, false
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// str is rawString as a string; the empty string allocates nothing.
func (s *scanner) str() (string, bool) {
	v, ok := s.rawString()
	if !ok || len(v) == 0 {
		return "", ok
	}
	return string(v), true
}

// integer consumes a JSON integer as encoding/json writes an int64: an
// optional minus and at most 18 digits without a leading zero (longer ones
// go to encoding/json, which checks the range).
func (s *scanner) integer() (int64, bool) {
	neg := s.lit("-")
	start := s.i
	var n int64
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		n = n*10 + int64(s.b[s.i]-'0')
		s.i++
	}
	digits := s.i - start
	if digits == 0 || digits > 18 || (digits > 1 && s.b[start] == '0') || (neg && n == 0) {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// boolean consumes true or false.
func (s *scanner) boolean() (bool, bool) {
	switch {
	case s.lit("true"):
		return true, true
	case s.lit("false"):
		return false, true
	}
	return false, false
}
