package demo

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// auditOf is an AuditReader over events in memory.
type auditOf []event.Event

func (a auditOf) AuditByActor(_ context.Context, actor string, _ uint64) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	for _, ev := range a {
		if ev.Actor == actor {
			out = append(out, store.AuditRecord{Event: ev.Canonical(), Customer: ev.Customer})
		}
	}
	return out, nil
}

func (a auditOf) AuditByCustomer(_ context.Context, customer string) ([]store.AuditRecord, error) {
	var out []store.AuditRecord
	for _, ev := range a {
		if ev.Customer == customer {
			out = append(out, store.AuditRecord{Event: ev.Canonical(), Customer: ev.Customer})
		}
	}
	return out, nil
}

// TestLeak checks the leaked list: messy as a real one (byte-order mark,
// padded header), holding the worst insider's customers and some that
// nobody read.
func TestLeak(t *testing.T) {
	w := Build(Options{Customers: 300, Days: 7, Seed: 1})
	if len(w.Insiders) == 0 {
		t.Skip("no insiders in this world")
	}
	var evs auditOf
	for _, ev := range w.Events {
		ev.Decision = event.Allow
		evs = append(evs, ev)
	}
	b, err := w.Leak(context.Background(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte("\ufeffName,\" Phone \",account\r\n")) {
		t.Fatalf("leak starts %q", b[:min(len(b), 40)])
	}
	rows, err := csv.NewReader(bytes.NewReader(b[3:])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 26 {
		t.Fatalf("%d rows; want the insider's customers and 25 never read", len(rows))
	}
}

func TestSummary(t *testing.T) {
	w := Build(Options{Customers: 100, Days: 1, Seed: 1})
	s := Summary{World: w, Stats: Stats{Events: 5, Requests: 7, ByStatus: map[int]int64{200: 6, 403: 1}},
		Alerts: []store.Alert{{Actor: "a", Action: "suspend"}, {Actor: "a", Action: "suspend"}, {Actor: "b"}},
		Leak:   "/tmp/d/leak-demo.csv", Addr: "127.0.0.1:1"}
	var out strings.Builder
	s.Print(&out)
	for _, want := range []string{"5 events of work replayed as 7 API requests", " 200×6 403×1", "3 alerts, 1 people contained",
		"custos trace --data /tmp/d --leak /tmp/d/leak-demo.csv", "http://127.0.0.1:1/my"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
