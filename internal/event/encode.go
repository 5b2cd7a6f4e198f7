package event

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// appendCanonical appends e's canonical JSON to b; e.Time is in UTC with a
// year of four digits.
func (e Event) appendCanonical(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, `,"actor":`, e.Actor)
	b = appendField(b, `,"org":`, e.Org)
	b = appendField(b, `,"role":`, e.Role)
	b = appendField(b, `,"site":`, e.Site)
	b = appendField(b, `,"region":`, e.Region)
	b = appendField(b, `,"action":`, e.Action)
	b = appendField(b, `,"customer":`, e.Customer)
	b = appendField(b, `,"customer_region":`, e.CustomerRegion)
	if e.CustomerSite != "" {
		b = appendField(b, `,"customer_site":`, e.CustomerSite)
	}
	b = appendList(append(b, `,"fields":`...), e.Fields)
	b = appendField(b, `,"purpose":`, e.Purpose)
	b = strconv.AppendBool(append(b, `,"purpose_valid":`...), e.PurposeValid)
	b = appendField(b, `,"decision":`, e.Decision)
	b = appendField(b, `,"reason":`, e.Reason)
	if e.Found != nil {
		b = strconv.AppendBool(append(b, `,"found":`...), *e.Found)
	}
	if e.Canary {
		b = append(b, `,"canary":true`...)
	}
	if e.Target != "" {
		b = appendField(b, `,"target":`, e.Target)
	}
	if e.Source != "" {
		b = appendField(b, `,"source":`, e.Source)
	}
	if e.Basis != "" {
		b = appendField(b, `,"basis":`, e.Basis)
	}
	if e.TicketAge != 0 {
		b = strconv.AppendInt(append(b, `,"ticket_age":`...), e.TicketAge, 10)
	}
	if len(e.Masked) > 0 {
		b = appendList(append(b, `,"masked":`...), e.Masked)
	}
	return append(b, '}')
}

func appendField(b []byte, key, v string) []byte {
	return appendString(append(b, key...), v)
}

// appendList appends vs as a JSON array ([] when empty or nil).
func appendList(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, v)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string, escaped as encoding/json
// escapes it with HTML escaping off: quote, backslash and control
// characters; invalid UTF-8 as U+FFFD; U+2028 and U+2029.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
