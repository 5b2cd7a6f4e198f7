package detect

import (
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// Parser decodes access-event lines fast. It handles the common shape (a
// flat object of the contract's fields, strings without escapes) itself and
// hands anything else to event.Parse, so its results are always exactly
// event.Parse's. It interns repeated strings (actors, roles, sites, ...) up
// to a bound. A Parser is not safe for concurrent use.
type Parser struct {
	intern map[string]string
}

// maxIntern bounds the interned strings (customers are never interned).
const maxIntern = 1 << 17

// NewParser returns a Parser.
func NewParser() *Parser { return &Parser{intern: make(map[string]string)} }

// Parse decodes one line; see event.Parse for what it checks.
func (p *Parser) Parse(line []byte) (event.Event, error) {
	ev, ok := p.fast(line)
	if !ok {
		return event.Parse(line)
	}
	return ev, nil
}

func (p *Parser) str(b []byte, intern bool) string {
	if !intern {
		return string(b)
	}
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(p.intern) < maxIntern {
		p.intern[s] = s
	}
	return s
}

// fast parses the common shape; ok is false when event.Parse must decide.
func (p *Parser) fast(b []byte) (ev event.Event, ok bool) {
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return ev, false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return ev, false // empty object: let event.Parse report it
	}
	var haveTime bool
	for {
		if i >= len(b) || b[i] != '"' {
			return ev, false
		}
		key, j, good := scanString(b, i)
		if !good {
			return ev, false
		}
		i = skipWS(b, j)
		if i >= len(b) || b[i] != ':' {
			return ev, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return ev, false
		}
		switch string(key) {
		case "time":
			if b[i] != '"' {
				return ev, false
			}
			v, j, good := scanString(b, i)
			if !good {
				return ev, false
			}
			var t time.Time
			if err := t.UnmarshalText(v); err != nil {
				return ev, false
			}
			ev.Time, haveTime, i = t, true, j
		case "actor", "org", "role", "site", "region", "action", "customer",
			"customer_region", "customer_site", "purpose", "decision", "reason":
			if b[i] == 'n' {
				if !hasLit(b, i, "null") {
					return ev, false
				}
				i += 4
				break
			}
			if b[i] != '"' {
				return ev, false
			}
			v, j, good := scanString(b, i)
			if !good {
				return ev, false
			}
			i = j
			switch string(key) {
			case "actor":
				ev.Actor = p.str(v, true)
			case "org":
				ev.Org = p.str(v, true)
			case "role":
				ev.Role = p.str(v, true)
			case "site":
				ev.Site = p.str(v, true)
			case "region":
				ev.Region = p.str(v, true)
			case "action":
				ev.Action = p.str(v, true)
			case "customer":
				ev.Customer = p.str(v, false)
			case "customer_region":
				ev.CustomerRegion = p.str(v, true)
			case "customer_site":
				ev.CustomerSite = p.str(v, true)
			case "purpose":
				ev.Purpose = p.str(v, false)
			case "decision":
				ev.Decision = p.str(v, true)
			case "reason":
				ev.Reason = p.str(v, true)
			}
		case "purpose_valid", "canary", "found":
			var v, isNull bool
			switch {
			case hasLit(b, i, "true"):
				v, i = true, i+4
			case hasLit(b, i, "false"):
				i += 5
			case hasLit(b, i, "null"):
				isNull, i = true, i+4
			default:
				return ev, false
			}
			switch string(key) {
			case "purpose_valid":
				if !isNull {
					ev.PurposeValid = v
				}
			case "canary":
				if !isNull {
					ev.Canary = v
				}
			case "found":
				if isNull {
					ev.Found = nil
				} else {
					ev.Found = &v
				}
			}
		case "fields":
			if hasLit(b, i, "null") {
				ev.Fields, i = nil, i+4
				break
			}
			if b[i] != '[' {
				return ev, false
			}
			fs := make([]string, 0, 4)
			i = skipWS(b, i+1)
			if i < len(b) && b[i] == ']' {
				i++
			} else {
				for {
					if i >= len(b) || b[i] != '"' {
						return ev, false
					}
					v, j, good := scanString(b, i)
					if !good {
						return ev, false
					}
					fs = append(fs, p.str(v, true))
					i = skipWS(b, j)
					if i < len(b) && b[i] == ',' {
						i = skipWS(b, i+1)
						continue
					}
					if i < len(b) && b[i] == ']' {
						i++
						break
					}
					return ev, false
				}
			}
			ev.Fields = fs
		default:
			return ev, false // unknown or differently-cased key: the slow path decides
		}
		i = skipWS(b, i)
		if i >= len(b) {
			return ev, false
		}
		if b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if b[i] != '}' {
			return ev, false
		}
		i = skipWS(b, i+1)
		if i != len(b) {
			return ev, false
		}
		break
	}
	if !haveTime || ev.Time.IsZero() || ev.Actor == "" || ev.Action == "" {
		return ev, false
	}
	return ev, true
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func hasLit(b []byte, i int, lit string) bool {
	return len(b)-i >= len(lit) && string(b[i:i+len(lit)]) == lit
}

// scanString reads a JSON string starting at b[i] == '"' with no escapes,
// no control characters and only ASCII (anything else: ok false).
func scanString(b []byte, i int) (v []byte, next int, ok bool) {
	for j := i + 1; j < len(b); j++ {
		c := b[j]
		switch {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}
