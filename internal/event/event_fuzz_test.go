package event_test

import (
	"bytes"
	"reflect"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/custos-dev/custos/internal/event"
)

// FuzzParseCanonical checks event lines: Parse never panics, and what it
// accepts has canonical bytes that parse back to the same canonical bytes
// (the audit log commits to them, so they must be stable).
func FuzzParseCanonical(f *testing.F) {
	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := event.Parse(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		c := ev.Canonical()
		back, err := event.Parse(c)
		if err != nil {
			t.Fatalf("canonical form %s does not parse: %v", c, err)
		}
		if c2 := back.Canonical(); !bytes.Equal(c, c2) {
			t.Fatalf("canonical bytes unstable:\n%s\n%s", c, c2)
		}
	})
}

// FuzzParseFastMatchesJSON checks the canonical scanner against
// encoding/json: whenever the scanner accepts a line, json.Unmarshal
// accepts it too and returns the same Event; and the canonical bytes of
// any event json accepts are read by the scanner (so records written by
// the audit log never take the slow path) to the same Event.
func FuzzParseFastMatchesJSON(f *testing.F) {
	ev := sample()
	f.Add(ev.Canonical())
	ev.Reason, ev.Fields, ev.Found = `say "hi"`, nil, nil
	f.Add(ev.Canonical())
	ev.CustomerSite, ev.Canary, ev.Target, ev.Source, ev.Reason = "store-1", true, "emp-2", "10.0.0.0/8", "é\u2028"
	f.Add(ev.Canonical())
	ev.Basis, ev.TicketAge = event.BasisOwnTicket, 7200 // every read since issue 15
	f.Add(ev.Canonical())
	ev.TicketAge = -5
	f.Add(ev.Canonical())
	ev.Fields, ev.Masked = []string{"name", "phone", "account"}, []string{"phone", "account"} // a read under a ticket
	f.Add(ev.Canonical())
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","org":"","role":"","site":"","region":"","action":"x","customer":"","customer_region":"","fields":[],"purpose":"","purpose_valid":false,"decision":"","reason":"","masked":[]}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05+08:00","actor":"a","org":"","role":"","site":"","region":"","action":"x","customer":"","customer_region":"","fields":[],"purpose":"","purpose_valid":false,"decision":"","reason":""}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a\u0041","action":"x"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		fast, ok := event.ParseCanonical(line)
		slow, err := event.ParseJSON(line)
		if ok {
			if err != nil {
				t.Fatalf("scanner accepted what json rejects (%v): %q", err, line)
			}
			if !reflect.DeepEqual(fast, slow) {
				t.Fatalf("scanner %+v\njson    %+v\nfor %q", fast, slow, line)
			}
		}
		if _, err := event.Parse(line); err != nil {
			return // Canonical is defined for events Parse accepts
		}
		c := slow.Canonical()
		back, ok := event.ParseCanonical(c)
		if !ok {
			// Only strings that Canonical escapes may take the slow path.
			if !bytes.Contains(c, []byte(`\`)) && utf8.Valid(c) {
				t.Fatalf("canonical bytes not read by the scanner: %s", c)
			}
			return
		}
		if c2 := back.Canonical(); !bytes.Equal(c, c2) {
			t.Fatalf("canonical round trip differs:\n%s\n%s", c, c2)
		}
		viaJSON, err := event.ParseJSON(c)
		if err != nil || !reflect.DeepEqual(back, viaJSON) {
			t.Fatalf("scanner and json disagree on canonical bytes %s: %v", c, err)
		}
	})
}

// FuzzCanonicalMatchesJSON checks that Canonical writes exactly the bytes
// encoding/json writes for the same event.
func FuzzCanonicalMatchesJSON(f *testing.F) {
	f.Add("emp-1", "read \"all\" <now> & \\later\\", "é\u2028\u2029\x01\x7f\n\t\b\f\r", "\xff\xfe", int64(1772442845123456789), int64(3600), true, uint8(7))
	f.Add("", "", "", "", int64(0), int64(0), false, uint8(0))
	f.Add("a", "b", "c", "d", int64(-62135596800), int64(-5), true, uint8(255))
	f.Fuzz(func(t *testing.T, actor, reason, target, field string, nanos, age int64, valid bool, opt uint8) {
		ev := fuzzEvent(actor, reason, target, field, nanos, age, valid, opt)
		got, want := ev.Canonical(), event.CanonicalJSON(ev)
		if !bytes.Equal(got, want) {
			t.Fatalf("Canonical:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

// FuzzNormalizedMatchesParse checks that Normalized returns exactly what
// parsing the event's canonical bytes returns, error included: the audit
// log hands the one to the feed's consumers and stores the other.
func FuzzNormalizedMatchesParse(f *testing.F) {
	f.Add("emp-1", "read \"all\" <now> & \\later\\", "é\u2028\u2029\x01\x7f\n\t\b\f\r", "\xff\xfe", "customer.read", int64(1772442845123456789), int64(3600), true, uint8(7))
	f.Add("", "", "", "", "", int64(0), int64(0), false, uint8(0))
	f.Add("a", "b\xc3", "c\xe2\x80", "d\xef\xbf\xbd", "x", int64(-62135596800), int64(-5), true, uint8(255))
	f.Add("a", "b", "c", "d", "x", int64(-62135596801), int64(0), false, uint8(0x40))
	f.Fuzz(func(t *testing.T, actor, reason, target, field, action string, nanos, age int64, valid bool, opt uint8) {
		ev := fuzzEvent(actor, reason, target, field, nanos, age, valid, opt)
		if opt&64 != 0 {
			ev.Time = time.Now() // with a monotonic reading
		}
		ev.Action, ev.Org, ev.Customer = action, field, reason
		if y := ev.Time.UTC().Year(); y < 0 || y > 9999 {
			t.Skip("outside RFC 3339: Canonical cannot write it")
		}
		want, werr := event.Parse(ev.Canonical())
		got, gerr := ev.Normalized()
		if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Fatalf("errors: Normalized %v, Parse %v", gerr, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Normalized:\n%#v\nParse of the canonical bytes:\n%#v", got, want)
		}
		if len(ev.Fields) > 0 {
			ev.Fields[0] = "changed" // the caller's slice is not the normalized event's
			if got.Fields[0] == "changed" {
				t.Fatal("Normalized shares Fields with its receiver")
			}
		}
	})
}

// fuzzEvent is sample() with the fuzzed values in its strings and the bits
// of opt choosing nil or empty lists, a found flag, a canary and the
// optional fields.
func fuzzEvent(actor, reason, target, field string, nanos, age int64, valid bool, opt uint8) event.Event {
	ev := sample()
	ev.Time = time.Unix(0, nanos).In(time.FixedZone("x", 8*3600))
	ev.Actor, ev.Reason, ev.Target, ev.Purpose = actor, reason, target, field
	ev.TicketAge, ev.PurposeValid = age, valid
	if opt&1 != 0 {
		ev.Fields = nil
	} else {
		ev.Fields = []string{field, reason}
	}
	if opt&2 != 0 {
		ev.Found = &valid
	}
	ev.Canary = opt&4 != 0
	if opt&8 != 0 {
		ev.Masked = []string{field, target}
	} else if opt&16 != 0 {
		ev.Masked = []string{}
	}
	if opt&32 != 0 {
		ev.CustomerSite, ev.Source, ev.Basis = reason, target, actor
	}
	return ev
}
