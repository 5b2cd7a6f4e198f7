package detect

import (
	"reflect"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

const contractLine = `{"time":"2026-03-02T09:14:05Z","actor":"emp-00421","org":"dist-017","role":"store_clerk",` +
	`"site":"store-0931","region":"GD","action":"customer.read","customer":"c-0001234",` +
	`"customer_region":"GD","fields":["name","phone"],"purpose":"ticket:T-88123",` +
	`"purpose_valid":true,"decision":"allow","reason":""}`

func TestParserMatchesEventParse(t *testing.T) {
	found := true
	canon := event.Event{
		Time: time.Date(2026, 3, 2, 9, 14, 5, 123456789, time.UTC), Actor: "a", Action: event.ActionSearch,
		Customer: "c-1", Found: &found, Canary: true, Fields: []string{},
	}.Canonical()
	tests := []struct {
		name    string
		line    string
		wantErr bool
	}{
		{"contract example", contractLine, false},
		{"basis, target, ticket age", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","basis":"assigned_ticket","ticket_age":3600,"target":"b","source":"lan"}`, false},
		{"ticket age null", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","ticket_age":null}`, false},
		{"ticket age negative", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","ticket_age":-5}`, false},
		{"ticket age fraction (slow path)", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","ticket_age":1.5}`, true},
		{"ticket age leading zero", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","ticket_age":012}`, true},
		{"ticket age string", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","ticket_age":"12"}`, true},
		{"canonical with found and canary", string(canon), false},
		{"spaces", ` { "time" : "2026-03-02T09:14:05+08:00" , "actor" : "a" , "action" : "x" , "fields" : [ ] } `, false},
		{"nulls", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","found":null,"fields":null,"customer":null}`, false},
		{"unknown field (slow path)", `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"x","extra":{"n":[1,2]}}`, false},
		{"escaped string (slow path)", `{"time":"2026-03-02T09:14:05Z","actor":"a\u00e9","action":"x"}`, false},
		{"other case key (slow path)", `{"Time":"2026-03-02T09:14:05Z","ACTOR":"a","action":"x"}`, false},
		{"missing time", `{"actor":"a","action":"x"}`, true},
		{"missing actor", `{"time":"2026-03-02T09:14:05Z","action":"x"}`, true},
		{"bad time", `{"time":"yesterday","actor":"a","action":"x"}`, true},
		{"trailing garbage", contractLine + `x`, true},
		{"not json", `hello`, true},
		{"number for string", `{"time":"2026-03-02T09:14:05Z","actor":1,"action":"x"}`, true},
	}
	p := NewParser()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Parse([]byte(tt.line))
			want, werr := event.Parse([]byte(tt.line))
			if (err != nil) != tt.wantErr || (werr != nil) != tt.wantErr {
				t.Fatalf("Parse err = %v, event.Parse err = %v, wantErr %v", err, werr, tt.wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Parse = %+v\nevent.Parse = %+v", got, want)
			}
		})
	}
}

// TestParserFastOnGatewayLines checks that the fields the gateway adds to
// reads (basis, ticket age, target) stay on the fast path: the slow one
// would cost custos detect most of its speed on real audit logs.
func TestParserFastOnGatewayLines(t *testing.T) {
	line := `{"time":"2026-03-02T09:14:05Z","actor":"a","org":"o","role":"store_clerk","site":"s","region":"GD",` +
		`"action":"customer.read","customer":"c-1","customer_region":"GD","fields":["name"],"purpose":"ticket:T-1",` +
		`"purpose_valid":true,"decision":"allow","reason":"","basis":"assigned_ticket","ticket_age":120,"target":"b"}`
	ev, ok := NewParser().fast([]byte(line))
	if !ok || ev.Basis != event.BasisAssignedTicket || ev.TicketAge != 120 || ev.Target != "b" {
		t.Fatalf("fast = %+v, %v", ev, ok)
	}
}

// FuzzParser checks the fast parser against event.Parse on any input: same
// error or not, same event, and a parsed event round-trips through its
// canonical bytes.
func FuzzParser(f *testing.F) {
	f.Add([]byte(contractLine))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.search","found":false,"canary":true,"fields":["x"]}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05.5+08:00","actor":"a","action":"b","customer_site":"s","purpose_valid":false}`))
	f.Add([]byte(`{"time":null}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","basis":"own_ticket","ticket_age":-0,"target":"b"}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","found":true,"fields":["name","phone"]}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","fields":["name","phone","account"],"masked":["phone","account"]}`))
	f.Add([]byte(`{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","fields":["phone"],"masked":null}`))
	shared := NewParser() // state carried across inputs (interning, fields reuse)
	f.Fuzz(func(t *testing.T, line []byte) {
		p := NewParser()
		if _, err := shared.Parse(line); err == nil {
			a, _ := shared.Parse(line)
			b, _ := event.Parse(line)
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("shared parser: %#v\nevent.Parse: %#v", a, b)
			}
		}
		got, err := p.Parse(line)
		want, werr := event.Parse(line)
		if (err == nil) != (werr == nil) {
			t.Fatalf("Parse err = %v, event.Parse err = %v", err, werr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse = %#v\nevent.Parse = %#v", got, want)
		}
		again, err := p.Parse(got.Canonical())
		if err != nil {
			t.Fatalf("canonical bytes do not parse: %v", err)
		}
		if !reflect.DeepEqual(again.Canonical(), got.Canonical()) {
			t.Fatalf("round trip changed the event")
		}
	})
}
