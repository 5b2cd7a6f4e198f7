package postgres_test

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/storetest"
)

// TestTwoGatewaysShareState checks that what one gateway writes, another
// gateway on the same database (its own Store, its own pool) sees at once.
func TestTwoGatewaysShareState(t *testing.T) {
	gws := gateways(t, 2)
	a, b := gws[0], gws[1]
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	if err := a.CreateTicket(ctx, store.Ticket{ID: "t-1", Customer: "c-1", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: at}); err != nil {
		t.Fatal(err)
	}
	if tk, err := b.Ticket(ctx, "t-1"); err != nil || tk.Customer != "c-1" {
		t.Errorf("ticket opened on A, read on B = %+v, %v", tk, err)
	}
	if err := b.CreateTicket(ctx, store.Ticket{ID: "t-1", Customer: "c-2", OpenedAt: at}); !errors.Is(err, store.ErrExists) {
		t.Errorf("same ticket id on B: err = %v, want ErrExists", err)
	}

	if err := a.PutPrincipal(ctx, store.Principal{ID: "emp-1", Role: "store_clerk", TokenHash: []byte("tok")}); err != nil {
		t.Fatal(err)
	}
	v, err := b.PrincipalsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetPrincipalStatus(ctx, "emp-1", store.StatusSuspended); err != nil {
		t.Fatal(err)
	}
	if v2, err := b.PrincipalsVersion(ctx); err != nil || v2 == v {
		t.Errorf("B's PrincipalsVersion after a suspension on A = %d, %v; want a change from %d", v2, err, v)
	}
	if p, err := b.PrincipalByToken(ctx, []byte("tok")); err != nil || p.Status != store.StatusSuspended {
		t.Errorf("B sees status %q, %v; want suspended", p.Status, err)
	}

	if err := a.CreateConsent(ctx, store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("h"), CreatedAt: at, ExpiresAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := b.ConfirmConsent(ctx, "k-1", at, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := a.ConfirmConsent(ctx, "k-1", at, at.Add(time.Hour)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("confirming on A what B confirmed: err = %v, want ErrConflict", err)
	}

	var wg sync.WaitGroup
	vals := make([][]byte, 2)
	errs := make([]error, 2)
	for i, s := range []store.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vals[i], errs[i] = s.SetMetaOnce(ctx, "log.key", []byte(fmt.Sprintf("key-from-%d", i)))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(vals[0], vals[1]) {
		t.Errorf("gateways disagree on SetMetaOnce: %q vs %q", vals[0], vals[1])
	}
}

// TestTwoGatewaysLoad hammers ChargeQuota and AppendAudit from two Stores
// (two pools, as two gateway processes would have) on one database at the
// same time, then checks that no quota was overspent and that the audit
// log's indexes are exactly 0..n-1, each holding what was acknowledged.
func TestTwoGatewaysLoad(t *testing.T) {
	gateways := gateways(t, 2)
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

	principals, customers, chargers := 4, 40, 6 // chargers per gateway
	writers, appends := 4, 40                   // audit writers per gateway
	if testing.Short() {
		customers, appends = 20, 10
	}
	limits := store.QuotaLimits{PerHour: 10, PerDay: 15}

	type charge struct {
		principal, customer string
		allowed             bool
	}
	var (
		mu      sync.Mutex
		charges []charge
		spans   []storetest.Span
		errs    []error
		wg      sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	start := time.Now()
	for g, s := range gateways {
		// Every charger goes through every principal's customers, each in
		// its own order, so the same reads race on both gateways.
		for c := range chargers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range principals * customers {
					i := (k*7 + c*13 + g*29) % (principals * customers)
					p, cu := fmt.Sprintf("emp-%d", i%principals), fmt.Sprintf("c-%d", i/principals)
					r, err := s.ChargeQuota(ctx, p, cu, at, limits)
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					charges = append(charges, charge{p, cu, r.Allowed})
					mu.Unlock()
				}
			}()
		}
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				actor := fmt.Sprintf("gw%d-w%d", g, w)
				for a := range appends {
					var recs []store.AuditRecord
					for k := range 1 + (a+w)%3 {
						recs = append(recs, store.AuditRecord{
							Time: at, Actor: actor, Customer: fmt.Sprintf("c-%d", a),
							Event: []byte(fmt.Sprintf("%s/%d/%d", actor, a, k)), Salt: []byte{byte(g), byte(w), byte(a), byte(k)},
						})
					}
					first, err := s.AppendAudit(ctx, recs)
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					spans = append(spans, storetest.Span{First: first, Recs: recs})
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	// Quotas: per principal exactly PerHour distinct customers got in, and
	// a customer was either always allowed or always denied.
	allowed := map[string]map[string]bool{}
	denied := map[string]map[string]bool{}
	for _, c := range charges {
		m := denied
		if c.allowed {
			m = allowed
		}
		if m[c.principal] == nil {
			m[c.principal] = map[string]bool{}
		}
		m[c.principal][c.customer] = true
	}
	for p := range principals {
		id := fmt.Sprintf("emp-%d", p)
		if n := len(allowed[id]); n != limits.PerHour {
			t.Errorf("%s: %d distinct customers allowed, want exactly %d", id, n, limits.PerHour)
		}
		for cu := range allowed[id] {
			if denied[id][cu] {
				t.Errorf("%s: %s was both allowed and denied", id, cu)
			}
		}
		for _, s := range gateways {
			if h, d, err := s.QuotaUsage(ctx, id, at); err != nil || h != limits.PerHour || d != limits.PerHour {
				t.Errorf("%s: QuotaUsage = %d, %d, %v; want %d, %d", id, h, d, err, limits.PerHour, limits.PerHour)
			}
		}
	}

	// Audit: the acknowledged spans tile 0..n-1 exactly.
	want := storetest.Tile(t, spans)
	n := uint64(len(want))
	for g, s := range gateways {
		if size, err := s.AuditSize(ctx); err != nil || size != n {
			t.Errorf("gateway %d: AuditSize = %d, %v; want %d", g, size, err, n)
		}
	}
	got, err := gateways[1].AuditRange(ctx, 0, n)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("AuditRange returned %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Index != uint64(i) || !bytes.Equal(got[i].Event, want[i].Event) || !bytes.Equal(got[i].Salt, want[i].Salt) {
			t.Fatalf("record %d = %d %q, want %d %q", i, got[i].Index, got[i].Event, want[i].Index, want[i].Event)
		}
	}
	t.Logf("two gateways: %d quota charges and %d audit appends (%d records) in %v: %.0f ops/s",
		len(charges), len(spans), n, elapsed.Round(time.Millisecond), float64(len(charges)+len(spans))/elapsed.Seconds())
}
