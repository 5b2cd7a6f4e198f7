package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testIncidents(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := store.Incident{Title: "list on a forum", FoundAt: base, Fields: []string{"name", "phone"}, Notice: "your data leaked",
		LeakHash: []byte("hash-1"), CreatedBy: "sec-1", CreatedAt: base.Add(time.Hour), Report: []byte(`{"matched":3}`)}
	got, created, err := s.CreateIncident(ctx, in, []string{"c-1", "c-2", "c-3"})
	if err != nil || !created || got.ID == 0 || got.Customers != 3 || got.Notified != 0 || got.Title != in.Title ||
		!got.FoundAt.Equal(base) || fmt.Sprint(got.Fields) != "[name phone]" || string(got.Report) != `{"matched":3}` {
		t.Fatalf("CreateIncident = %+v, %v, %v", got, created, err)
	}
	again, created, err := s.CreateIncident(ctx, in, []string{"c-1", "c-2", "c-3"})
	if err != nil || created || again.ID != got.ID || again.Customers != 3 {
		t.Fatalf("the same list again = %+v, %v, %v; want the first incident", again, created, err)
	}
	in2 := in
	in2.LeakHash, in2.Title = []byte("hash-2"), "second"
	second, _, err := s.CreateIncident(ctx, in2, []string{"c-2"})
	if err != nil {
		t.Fatal(err)
	}
	if list, err := s.ListIncidents(ctx, 10); err != nil || len(list) != 2 || list[0].ID != second.ID {
		t.Errorf("ListIncidents = %+v, %v", list, err)
	}
	if of, err := s.IncidentsOf(ctx, "c-2"); err != nil || len(of) != 2 {
		t.Errorf("IncidentsOf(c-2) = %d, %v; want 2", len(of), err)
	}
	if of, err := s.IncidentsOf(ctx, "c-9"); err != nil || len(of) != 0 {
		t.Errorf("IncidentsOf(c-9) = %d, %v; want none", len(of), err)
	}
	if _, err := s.Incident(ctx, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Incident(9999) = %v", err)
	}
	// Four notices pending; several gateways sending at once send each once.
	ns, err := s.PendingNotices(ctx, 100)
	if err != nil || len(ns) != 4 || ns[0].Incident != got.ID {
		t.Fatalf("PendingNotices = %+v, %v", ns, err)
	}
	var mu sync.Mutex
	sent := map[store.Notice]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, n := range ns {
				ok, err := s.MarkNotified(ctx, n, base.Add(2*time.Hour))
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					sent[n]++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	for _, n := range ns {
		if sent[n] != 1 {
			t.Errorf("notice %+v sent %d times", n, sent[n])
		}
	}
	if left, _ := s.PendingNotices(ctx, 100); len(left) != 0 {
		t.Errorf("pending after sending: %+v", left)
	}
	if got, _ := s.Incident(ctx, got.ID); got.Notified != 3 {
		t.Errorf("Notified = %d, want 3", got.Notified)
	}
	cs, err := s.IncidentCustomers(ctx, got.ID)
	if err != nil || len(cs) != 3 || cs[0].Customer != "c-1" || !cs[0].NotifiedAt.Equal(base.Add(2*time.Hour)) {
		t.Errorf("IncidentCustomers = %+v, %v", cs, err)
	}

	// A long list, with a customer named twice, is stored whole, each
	// customer once.
	long := make([]string, 1201)
	for i := range long {
		long[i] = fmt.Sprintf("c-long-%d", i%1200)
	}
	in3 := in
	in3.LeakHash, in3.Title = []byte("hash-3"), "long"
	if got, _, err := s.CreateIncident(ctx, in3, long); err != nil || got.Customers != 1200 {
		t.Errorf("CreateIncident(1201 names of 1200 customers) = %d customers, %v; want 1200", got.Customers, err)
	}
}

func testEraseCustomer(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := store.Customer{ID: "c-erase", Region: "GD", Site: "s-1", Name: []byte("sealed-name"), Phone: []byte("sealed-phone"),
		PhoneIndex: ix("pidx-erase"), AccountIndex: ix("aidx-erase"), Key: []byte("wrapped-key-erase")}
	if err := s.Import(ctx, store.Batch{Customers: []store.Customer{c}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Customer(ctx, "c-erase"); err != nil || string(got.Key) != "wrapped-key-erase" {
		t.Fatalf("Customer = %+v, %v; want its record key", got, err)
	}
	if ok, err := s.RequestErasure(ctx, "c-erase", base); err != nil || !ok {
		t.Fatalf("RequestErasure = %v, %v", ok, err)
	}
	if ok, _ := s.RequestErasure(ctx, "c-erase", base.Add(time.Minute)); ok {
		t.Error("a second request for the same customer was recorded")
	}
	if rs, err := s.ErasureRequests(ctx); err != nil || len(rs) != 1 || rs[0].Customer != "c-erase" || !rs[0].At.Equal(base) {
		t.Errorf("ErasureRequests = %+v, %v", rs, err)
	}
	if err := s.EraseCustomer(ctx, "c-erase", "priv-1", "asked on the phone", base); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.ErasureRequests(ctx); len(rs) != 0 {
		t.Errorf("a carried-out request is still pending: %+v", rs)
	}
	if _, err := s.Customer(ctx, "c-erase"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erased customer still read: %v", err)
	}
	if _, err := s.CustomerByPhone(ctx, ix("pidx-erase")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erased customer still found by phone: %v", err)
	}
	if ok, err := s.Erased(ctx, "c-erase"); err != nil || !ok {
		t.Errorf("Erased = %v, %v", ok, err)
	}
	if ok, _ := s.Erased(ctx, "c-other"); ok {
		t.Error("a customer never erased is reported erased")
	}
	if err := s.EraseCustomer(ctx, "c-erase", "priv-1", "asked on the phone", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erasing twice = %v; want ErrNotFound", err)
	}
	// The record key went with the record: a record stored again under the
	// id (the store does not refuse it; the gateway does) finds no key.
	again := c
	again.Key = nil
	if err := s.Import(ctx, store.Batch{Customers: []store.Customer{again}}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Customer(ctx, "c-erase"); err != nil || got.Key != nil {
		t.Errorf("after erasure the record key is still stored: %q, %v", got.Key, err)
	}
}

func testKeepTombstone(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 2; i++ { // a second one keeps the first
		if err := s.KeepTombstone(ctx, "c-never-here", "custos-restore", "erased after the backup", at); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Erased(ctx, "c-never-here"); err != nil || !ok {
		t.Fatalf("Erased = %v, %v; want a tombstone", ok, err)
	}
	if _, err := s.Customer(ctx, "c-never-here"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Customer = %v, want ErrNotFound", err)
	}
}
