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
	last   [numFields]string // last value per field: most lines repeat them
	// lastFields is the raw text and value of the last fields array.
	lastFieldsRaw []byte
	lastFields    []string
	yes, no       bool // targets for Found
}

// Fields with interned values, indexes into Parser.last.
const (
	fActor = iota
	fOrg
	fRole
	fSite
	fRegion
	fAction
	fCRegion
	fCSite
	fDecision
	fReason
	fFields
	fBasis
	fTarget
	fSource
	numFields
)

// maxIntern bounds the interned strings (customers are never interned).
const maxIntern = 1 << 17

// NewParser returns a Parser.
func NewParser() *Parser { return &Parser{intern: make(map[string]string), yes: true} }

// Parse decodes one line; see event.Parse for what it checks.
func (p *Parser) Parse(line []byte) (event.Event, error) {
	ev, ok := p.fast(line)
	if !ok {
		return event.Parse(line)
	}
	return ev, nil
}

// strings reads the array of field names (or null) at b[i:], interning the
// names; with last, an array equal to the last one read this way is that
// one again (most lines repeat the fields array).
func (p *Parser) strings(b []byte, i int, last bool) (fs []string, _ int, ok bool) {
	if hasLit(b, i, "null") {
		return nil, i + 4, true
	}
	if i >= len(b) || b[i] != '[' {
		return nil, i, false
	}
	if end := indexByte(b, i, ']'); last && end > 0 && p.lastFields != nil && string(b[i:end+1]) == string(p.lastFieldsRaw) {
		return p.lastFields, end + 1, true
	}
	start := i
	fs = make([]string, 0, 4)
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		i++
	} else {
		for {
			if i >= len(b) || b[i] != '"' {
				return nil, i, false
			}
			v, j, good := scanString(b, i)
			if !good {
				return nil, i, false
			}
			fs = append(fs, p.str(v, fFields))
			i = skipWS(b, j)
			if i < len(b) && b[i] == ',' {
				i = skipWS(b, i+1)
				continue
			}
			if i < len(b) && b[i] == ']' {
				i++
				break
			}
			return nil, i, false
		}
	}
	if last {
		p.lastFieldsRaw = append(p.lastFieldsRaw[:0], b[start:i]...)
		p.lastFields = fs
	}
	return fs, i, true
}

func (p *Parser) str(b []byte, field int) string {
	if field < 0 {
		return string(b)
	}
	if l := p.last[field]; l == string(b) {
		return l
	}
	s, ok := p.intern[string(b)]
	if !ok {
		s = string(b)
		if len(p.intern) < maxIntern {
			p.intern[s] = s
		}
	}
	p.last[field] = s
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
			"customer_region", "customer_site", "purpose", "decision", "reason",
			"basis", "target", "source":
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
				ev.Actor = p.str(v, fActor)
			case "org":
				ev.Org = p.str(v, fOrg)
			case "role":
				ev.Role = p.str(v, fRole)
			case "site":
				ev.Site = p.str(v, fSite)
			case "region":
				ev.Region = p.str(v, fRegion)
			case "action":
				ev.Action = p.str(v, fAction)
			case "customer":
				ev.Customer = p.str(v, -1)
			case "customer_region":
				ev.CustomerRegion = p.str(v, fCRegion)
			case "customer_site":
				ev.CustomerSite = p.str(v, fCSite)
			case "purpose":
				ev.Purpose = p.str(v, -1)
			case "decision":
				ev.Decision = p.str(v, fDecision)
			case "reason":
				ev.Reason = p.str(v, fReason)
			case "basis":
				ev.Basis = p.str(v, fBasis)
			case "target":
				ev.Target = p.str(v, fTarget)
			case "source":
				ev.Source = p.str(v, fSource)
			}
		case "ticket_age":
			if hasLit(b, i, "null") {
				i += 4
				break
			}
			n, j, good := scanInt(b, i)
			if !good {
				return ev, false
			}
			ev.TicketAge, i = n, j
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
				switch {
				case isNull:
					ev.Found = nil
				case v:
					ev.Found = &p.yes
				default:
					ev.Found = &p.no
				}
			}
		case "fields", "masked":
			var fs []string
			var good bool
			fs, i, good = p.strings(b, i, string(key) == "fields")
			if !good {
				return ev, false
			}
			if string(key) == "fields" {
				ev.Fields = fs
			} else {
				ev.Masked = fs
			}
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
	// Anything event.Parse would refuse goes to it, for its error.
	if !haveTime || ev.Time.IsZero() || ev.Actor == "" || ev.Action == "" {
		return ev, false
	}
	if y := ev.Time.UTC().Year(); y < 1 || y > 9999 {
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

// scanInt reads a JSON integer at b[i] (an optional minus, then 0 or a
// digit 1-9 and at most 17 more digits), followed by a delimiter; anything
// else (fractions, exponents, leading zeros, huge numbers): ok false.
func scanInt(b []byte, i int) (n int64, next int, ok bool) {
	neg := false
	if i < len(b) && b[i] == '-' {
		neg, i = true, i+1
	}
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		n = n*10 + int64(b[i]-'0')
		i++
	}
	d := i - start
	if d == 0 || d > 18 || (d > 1 && b[start] == '0') {
		return 0, 0, false
	}
	if i < len(b) {
		switch b[i] {
		case ',', '}', ' ', '\t', '\n', '\r':
		default:
			return 0, 0, false
		}
	}
	if neg {
		n = -n
	}
	return n, i, true
}

// indexByte returns the index of c in b at or after i, or -1.
func indexByte(b []byte, i int, c byte) int {
	for ; i < len(b); i++ {
		if b[i] == c {
			return i
		}
	}
	return -1
}
