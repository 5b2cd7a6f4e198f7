// Package storetest is the conformance suite every store.Store
// implementation must pass. An implementation's tests call Run with a
// function that opens a fresh, empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "custos.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Each subtest checks one part of the contract written in the doc comments
// of package store, including the parts that only show under concurrency:
// quotas that must not be overspent, audit indexes that must stay
// consecutive, and values that several gateways must agree on.
//
// Beyond the interface's comments the suite also pins down behaviour both
// backends share and callers rely on: a principal stored with an empty
// Status reads back as StatusActive, a PutPrincipal or Import without a
// TokenHash keeps the token already stored, a nil blind index matches
// nothing, times round-trip to the nanosecond, and alerts are ordered by
// Time (newest first).
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// Run runs the conformance suite as subtests of t. open MUST return a new,
// empty store on every call and arrange (with t.Cleanup) for it to be
// closed when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"ImportRoundTrip", testImportRoundTrip},
		{"ImportReplaces", testImportReplaces},
		{"ImportAllOrNothing", testImportAllOrNothing},
		{"CustomerLookups", testCustomerLookups},
		{"CustomerNotFound", testCustomerNotFound},
		{"LookupCustomers", testLookupCustomers},
		{"PrincipalPutAndGet", testPrincipalPutAndGet},
		{"PrincipalTokenUnique", testPrincipalTokenUnique},
		{"PrincipalKeepsToken", testPrincipalKeepsToken},
		{"PrincipalStatus", testPrincipalStatus},
		{"PrincipalsVersion", testPrincipalsVersion},
		{"Tickets", testTickets},
		{"Consents", testConsents},
		{"ConsentFailedConcurrent", testConsentFailedConcurrent},
		{"ConfirmConsentConcurrent", testConfirmConsentConcurrent},
		{"BreakGlass", testBreakGlass},
		{"BreakGlassApproveConcurrent", testBreakGlassApproveConcurrent},
		{"QuotaHourLimit", testQuotaHourLimit},
		{"QuotaDayLimit", testQuotaDayLimit},
		{"QuotaWindows", testQuotaWindows},
		{"QuotaPerPrincipal", testQuotaPerPrincipal},
		{"QuotaUnlimited", testQuotaUnlimited},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"QuotaConcurrentSameCustomer", testQuotaConcurrentSameCustomer},
		{"AuditAppendAndRead", testAuditAppendAndRead},
		{"AuditConcurrent", testAuditConcurrent},
		{"Checkpoints", testCheckpoints},
		{"Alerts", testAlerts},
		{"Meta", testMeta},
		{"MetaOnceConcurrent", testMetaOnceConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// base is a fixed instant with nanoseconds, 09:14:05 UTC, so that every
// store has to keep full time precision.
var base = time.Date(2026, 3, 2, 9, 14, 5, 123456789, time.UTC)

func customer(i int) store.Customer {
	return store.Customer{
		ID:           fmt.Sprintf("c-%07d", i),
		Region:       "GD",
		Site:         fmt.Sprintf("store-%04d", i%7),
		Name:         []byte(fmt.Sprintf("sealed-name-%d", i)),
		Phone:        []byte(fmt.Sprintf("sealed-phone-%d", i)),
		Account:      []byte(fmt.Sprintf("sealed-account-%d", i)),
		PhoneIndex:   []byte(fmt.Sprintf("pidx-%d", i)),
		AccountIndex: []byte(fmt.Sprintf("aidx-%d", i)),
		NameIndex:    []byte(fmt.Sprintf("nidx-%d", i)),
	}
}

func principal(id string, token []byte) store.Principal {
	return store.Principal{
		ID:        id,
		Name:      "name of " + id,
		Org:       "dist-017",
		OrgKind:   "partner",
		Role:      "store_clerk",
		Site:      "store-0931",
		Region:    "GD",
		TokenHash: token,
		Status:    store.StatusActive,
	}
}

func mustImport(t *testing.T, s store.Store, b store.Batch) {
	t.Helper()
	if err := s.Import(t.Context(), b); err != nil {
		t.Fatalf("Import: %v", err)
	}
}

func equalCustomer(a, b store.Customer) bool {
	return a.ID == b.ID && a.Region == b.Region && a.Site == b.Site &&
		bytes.Equal(a.Name, b.Name) && bytes.Equal(a.Phone, b.Phone) && bytes.Equal(a.Account, b.Account) &&
		bytes.Equal(a.PhoneIndex, b.PhoneIndex) && bytes.Equal(a.AccountIndex, b.AccountIndex) &&
		bytes.Equal(a.NameIndex, b.NameIndex) && a.Canary == b.Canary && a.Scope == b.Scope
}

func equalPrincipal(a, b store.Principal) bool {
	return a.ID == b.ID && a.Name == b.Name && a.Org == b.Org && a.OrgKind == b.OrgKind &&
		a.Role == b.Role && a.Site == b.Site && a.Region == b.Region &&
		bytes.Equal(a.TokenHash, b.TokenHash) && a.Status == b.Status && a.Notice.Equal(b.Notice)
}

func equalTicket(a, b store.Ticket) bool {
	return a.ID == b.ID && a.Customer == b.Customer && a.Site == b.Site && a.OpenedBy == b.OpenedBy &&
		a.OpenedAt.Equal(b.OpenedAt) && a.ClosedAt.Equal(b.ClosedAt)
}

func equalAudit(a, b store.AuditRecord) bool {
	return a.Index == b.Index && a.Time.Equal(b.Time) && a.Actor == b.Actor && a.Customer == b.Customer &&
		bytes.Equal(a.Event, b.Event) && bytes.Equal(a.Salt, b.Salt)
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: err = %v, want %v", what, err, target)
	}
}

func testImportRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	c1, c2 := customer(1), customer(2)
	c2.Canary, c2.Scope = true, "org:dist-017"
	c2.AccountIndex = nil
	p := principal("emp-1", []byte("tok-1"))
	p.Notice = base.Add(72 * time.Hour)
	tk := store.Ticket{ID: "t-1", Customer: c1.ID, Site: "store-0931", OpenedBy: "emp-1", OpenedAt: base}
	mustImport(t, s, store.Batch{Customers: []store.Customer{c1, c2}, Principals: []store.Principal{p}, Tickets: []store.Ticket{tk}})

	for _, want := range []store.Customer{c1, c2} {
		got, err := s.Customer(ctx, want.ID)
		if err != nil {
			t.Fatalf("Customer(%s): %v", want.ID, err)
		}
		if !equalCustomer(got, want) {
			t.Errorf("Customer(%s) = %+v, want %+v", want.ID, got, want)
		}
	}
	if n, err := s.CustomerCount(ctx); err != nil || n != 2 {
		t.Errorf("CustomerCount = %d, %v; want 2", n, err)
	}
	got, err := s.Principal(ctx, p.ID)
	if err != nil {
		t.Fatalf("Principal: %v", err)
	}
	if !equalPrincipal(got, p) {
		t.Errorf("Principal = %+v, want %+v", got, p)
	}
	gt, err := s.Ticket(ctx, tk.ID)
	if err != nil {
		t.Fatalf("Ticket: %v", err)
	}
	if !equalTicket(gt, tk) {
		t.Errorf("Ticket = %+v, want %+v", gt, tk)
	}
	// An empty batch is a valid import that changes nothing.
	mustImport(t, s, store.Batch{})
	if n, err := s.CustomerCount(ctx); err != nil || n != 2 {
		t.Errorf("CustomerCount after empty import = %d, %v; want 2", n, err)
	}
}

func testImportReplaces(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := customer(1)
	p := principal("emp-1", []byte("tok-1"))
	tk := store.Ticket{ID: "t-1", Customer: c.ID, Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base}
	mustImport(t, s, store.Batch{Customers: []store.Customer{c}, Principals: []store.Principal{p}, Tickets: []store.Ticket{tk}})

	c.Site, c.PhoneIndex = "store-0002", []byte("pidx-new")
	p.Role, p.TokenHash = "store_manager", []byte("tok-2")
	tk.ClosedAt = base.Add(time.Hour)
	// The same id twice in one batch: the last one wins.
	first := c
	first.Site = "store-0003"
	mustImport(t, s, store.Batch{Customers: []store.Customer{first, c}, Principals: []store.Principal{p}, Tickets: []store.Ticket{tk}})

	if got, err := s.Customer(ctx, c.ID); err != nil || !equalCustomer(got, c) {
		t.Errorf("Customer after re-import = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.CustomerByPhone(ctx, []byte("pidx-1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CustomerByPhone(old index) err = %v, want ErrNotFound", err)
	}
	if n, err := s.CustomerCount(ctx); err != nil || n != 1 {
		t.Errorf("CustomerCount = %d, %v; want 1", n, err)
	}
	if got, err := s.Principal(ctx, p.ID); err != nil || !equalPrincipal(got, p) {
		t.Errorf("Principal after re-import = %+v, %v; want %+v", got, err, p)
	}
	if _, err := s.PrincipalByToken(ctx, []byte("tok-1")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PrincipalByToken(old token) err = %v, want ErrNotFound", err)
	}
	if got, err := s.Ticket(ctx, tk.ID); err != nil || !equalTicket(got, tk) {
		t.Errorf("Ticket after re-import = %+v, %v; want %+v", got, err, tk)
	}
}

func testImportAllOrNothing(t *testing.T, s store.Store) {
	ctx := t.Context()
	mustImport(t, s, store.Batch{Principals: []store.Principal{principal("emp-0", []byte("tok-0"))}})
	v0, err := s.PrincipalsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		principals []store.Principal
	}{
		{"same token twice in the batch", []store.Principal{principal("emp-1", []byte("tok-x")), principal("emp-2", []byte("tok-x"))}},
		{"token of a stored principal", []store.Principal{principal("emp-1", []byte("tok-y")), principal("emp-2", []byte("tok-0"))}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := store.Batch{
				Customers:  []store.Customer{customer(1), customer(2)},
				Principals: tc.principals,
				Tickets:    []store.Ticket{{ID: "t-1", Customer: "c-0000001", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base}},
			}
			if err := s.Import(ctx, b); err == nil {
				t.Fatal("Import of a conflicting batch succeeded")
			}
			if n, err := s.CustomerCount(ctx); err != nil || n != 0 {
				t.Errorf("CustomerCount = %d, %v; want 0 (nothing stored)", n, err)
			}
			for _, p := range tc.principals {
				if _, err := s.Principal(ctx, p.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("Principal(%s) err = %v, want ErrNotFound", p.ID, err)
				}
			}
			if _, err := s.Ticket(ctx, "t-1"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Ticket err = %v, want ErrNotFound", err)
			}
			if got, err := s.PrincipalByToken(ctx, []byte("tok-0")); err != nil || got.ID != "emp-0" {
				t.Errorf("PrincipalByToken(tok-0) = %q, %v; want emp-0", got.ID, err)
			}
			if v, err := s.PrincipalsVersion(ctx); err != nil || v != v0 {
				t.Errorf("PrincipalsVersion = %d, %v; want unchanged %d", v, err, v0)
			}
		})
	}
}

func testCustomerLookups(t *testing.T, s store.Store) {
	ctx := t.Context()
	var cs []store.Customer
	for i := range 5 {
		cs = append(cs, customer(i))
	}
	// Customers 1, 3 and 4 share a name; customer 4 has no phone or account.
	cs[1].NameIndex, cs[3].NameIndex, cs[4].NameIndex = []byte("same"), []byte("same"), []byte("same")
	cs[4].PhoneIndex, cs[4].AccountIndex, cs[4].Phone, cs[4].Account = nil, nil, nil, nil
	mustImport(t, s, store.Batch{Customers: cs})

	got, err := s.CustomerByPhone(ctx, []byte("pidx-2"))
	if err != nil || !equalCustomer(got, cs[2]) {
		t.Errorf("CustomerByPhone = %+v, %v; want %+v", got, err, cs[2])
	}
	got, err = s.CustomerByAccount(ctx, []byte("aidx-3"))
	if err != nil || !equalCustomer(got, cs[3]) {
		t.Errorf("CustomerByAccount = %+v, %v; want %+v", got, err, cs[3])
	}
	ids, err := s.CustomerIDsByName(ctx, []byte("same"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	if want := []string{cs[1].ID, cs[3].ID, cs[4].ID}; !slices.Equal(ids, want) {
		t.Errorf("CustomerIDsByName = %v, want %v", ids, want)
	}
	ids, err = s.CustomerIDsByName(ctx, []byte("nobody"))
	if err != nil || len(ids) != 0 {
		t.Errorf("CustomerIDsByName(nobody) = %v, %v; want none", ids, err)
	}
	// A customer without a phone must not be found by an empty index.
	for _, idx := range [][]byte{nil, {}} {
		if _, err := s.CustomerByPhone(ctx, idx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CustomerByPhone(%q) err = %v, want ErrNotFound", idx, err)
		}
		if _, err := s.CustomerByAccount(ctx, idx); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CustomerByAccount(%q) err = %v, want ErrNotFound", idx, err)
		}
	}
	if n, err := s.CustomerCount(ctx); err != nil || n != 5 {
		t.Errorf("CustomerCount = %d, %v; want 5", n, err)
	}
}

func testCustomerNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n, err := s.CustomerCount(ctx); err != nil || n != 0 {
		t.Errorf("CustomerCount of an empty store = %d, %v; want 0", n, err)
	}
	mustImport(t, s, store.Batch{Customers: []store.Customer{customer(1)}})
	_, err := s.Customer(ctx, "c-missing")
	wantErr(t, "Customer", err, store.ErrNotFound)
	_, err = s.CustomerByPhone(ctx, []byte("pidx-9"))
	wantErr(t, "CustomerByPhone", err, store.ErrNotFound)
	_, err = s.CustomerByAccount(ctx, []byte("aidx-9"))
	wantErr(t, "CustomerByAccount", err, store.ErrNotFound)
	// Blind indexes are not interchangeable.
	_, err = s.CustomerByAccount(ctx, []byte("pidx-1"))
	wantErr(t, "CustomerByAccount(phone index)", err, store.ErrNotFound)
}

func testPrincipalPutAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ps, err := s.Principals(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Principals of an empty store = %v, %v; want none", ps, err)
	}
	a := principal("emp-b", []byte("tok-b"))
	b := principal("emp-a", nil) // no token
	b.Status = ""                // defaults to active
	for _, p := range []store.Principal{a, b} {
		if err := s.PutPrincipal(ctx, p); err != nil {
			t.Fatalf("PutPrincipal(%s): %v", p.ID, err)
		}
	}
	b.Status = store.StatusActive
	got, err := s.PrincipalByToken(ctx, []byte("tok-b"))
	if err != nil || !equalPrincipal(got, a) {
		t.Errorf("PrincipalByToken = %+v, %v; want %+v", got, err, a)
	}
	got, err = s.Principal(ctx, "emp-a")
	if err != nil || !equalPrincipal(got, b) {
		t.Errorf("Principal = %+v, %v; want %+v", got, err, b)
	}
	ps, err := s.Principals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	if len(ps) != 2 || !equalPrincipal(ps[0], b) || !equalPrincipal(ps[1], a) {
		t.Errorf("Principals = %+v, want [%+v %+v]", ps, b, a)
	}
	_, err = s.Principal(ctx, "emp-missing")
	wantErr(t, "Principal", err, store.ErrNotFound)
	_, err = s.PrincipalByToken(ctx, []byte("tok-missing"))
	wantErr(t, "PrincipalByToken", err, store.ErrNotFound)
	_, err = s.PrincipalByToken(ctx, nil)
	wantErr(t, "PrincipalByToken(nil)", err, store.ErrNotFound)
}

func testPrincipalTokenUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", []byte("tok"))); err != nil {
		t.Fatal(err)
	}
	err := s.PutPrincipal(ctx, principal("emp-2", []byte("tok")))
	wantErr(t, "PutPrincipal with a taken token", err, store.ErrExists)
	if _, err := s.Principal(ctx, "emp-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Principal(emp-2) err = %v, want ErrNotFound", err)
	}
	// Principals without a token never conflict with each other.
	for _, id := range []string{"emp-3", "emp-4"} {
		if err := s.PutPrincipal(ctx, principal(id, nil)); err != nil {
			t.Errorf("PutPrincipal(%s, no token): %v", id, err)
		}
	}
}

func testPrincipalKeepsToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal("emp-1", []byte("tok"))
	if err := s.PutPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.TokenHash, p.Role = nil, "store_manager"
	if err := s.PutPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.PrincipalByToken(ctx, []byte("tok"))
	if err != nil || got.Role != "store_manager" {
		t.Errorf("PrincipalByToken after update without token = %+v, %v; want role store_manager", got, err)
	}
	p.Role = "auditor"
	mustImport(t, s, store.Batch{Principals: []store.Principal{p}})
	got, err = s.PrincipalByToken(ctx, []byte("tok"))
	if err != nil || got.Role != "auditor" {
		t.Errorf("PrincipalByToken after import without token = %+v, %v; want role auditor", got, err)
	}
}

func testPrincipalStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", []byte("tok"))); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{store.StatusSuspended, store.StatusStepUp, store.StatusActive} {
		if err := s.SetPrincipalStatus(ctx, "emp-1", st); err != nil {
			t.Fatalf("SetPrincipalStatus(%s): %v", st, err)
		}
		p, err := s.PrincipalByToken(ctx, []byte("tok"))
		if err != nil || p.Status != st {
			t.Errorf("status = %q, %v; want %q", p.Status, err, st)
		}
	}
	err := s.SetPrincipalStatus(ctx, "emp-missing", store.StatusSuspended)
	wantErr(t, "SetPrincipalStatus(missing)", err, store.ErrNotFound)
}

func testPrincipalsVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev, err := s.PrincipalsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"PutPrincipal", func() error { return s.PutPrincipal(ctx, principal("emp-1", []byte("t1"))) }},
		{"PutPrincipal again", func() error { return s.PutPrincipal(ctx, principal("emp-1", []byte("t2"))) }},
		{"SetPrincipalStatus", func() error { return s.SetPrincipalStatus(ctx, "emp-1", store.StatusSuspended) }},
		{"Import", func() error {
			return s.Import(ctx, store.Batch{Principals: []store.Principal{principal("emp-2", nil)}})
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		v, err := s.PrincipalsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v == prev {
			t.Errorf("PrincipalsVersion unchanged (%d) after %s", v, st.name)
		}
		prev = v
	}
	// A failed change leaves the version alone.
	if err := s.SetPrincipalStatus(ctx, "emp-missing", store.StatusSuspended); err == nil {
		t.Fatal("SetPrincipalStatus(missing) succeeded")
	}
	if v, err := s.PrincipalsVersion(ctx); err != nil || v != prev {
		t.Errorf("PrincipalsVersion after failed change = %d, %v; want %d", v, err, prev)
	}
}

func testTickets(t *testing.T, s store.Store) {
	ctx := t.Context()
	tks := []store.Ticket{
		{ID: "t-3", Customer: "c-1", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base.Add(2 * time.Hour)},
		{ID: "t-1", Customer: "c-1", Site: "store-0002", OpenedBy: "emp-2", OpenedAt: base, ClosedAt: base.Add(time.Hour)},
		{ID: "t-2", Customer: "c-2", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base.Add(time.Hour)},
	}
	for _, tk := range tks {
		if err := s.CreateTicket(ctx, tk); err != nil {
			t.Fatalf("CreateTicket(%s): %v", tk.ID, err)
		}
	}
	dup := tks[0]
	dup.Customer = "c-9"
	wantErr(t, "CreateTicket(duplicate)", s.CreateTicket(ctx, dup), store.ErrExists)
	got, err := s.Ticket(ctx, "t-1")
	if err != nil || !equalTicket(got, tks[1]) {
		t.Errorf("Ticket(t-1) = %+v, %v; want %+v", got, err, tks[1])
	}
	if got, err := s.Ticket(ctx, "t-3"); err != nil || !got.ClosedAt.IsZero() || got.Customer != "c-1" {
		t.Errorf("Ticket(t-3) = %+v, %v; want open ticket on c-1", got, err)
	}
	_, err = s.Ticket(ctx, "t-missing")
	wantErr(t, "Ticket(missing)", err, store.ErrNotFound)

	list, err := s.TicketsByCustomer(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !equalTicket(list[0], tks[1]) || !equalTicket(list[1], tks[0]) {
		t.Errorf("TicketsByCustomer(c-1) = %+v, want oldest first [t-1 t-3]", list)
	}
	if list, err := s.TicketsByCustomer(ctx, "c-none"); err != nil || len(list) != 0 {
		t.Errorf("TicketsByCustomer(c-none) = %v, %v; want none", list, err)
	}
}

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1", CodeHash: []byte("code"),
		CreatedAt: base, ExpiresAt: base.Add(5 * time.Minute)}
	if err := s.CreateConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateConsent(duplicate)", s.CreateConsent(ctx, c), store.ErrExists)
	got, err := s.Consent(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Customer != c.Customer || got.Principal != c.Principal || !bytes.Equal(got.CodeHash, c.CodeHash) ||
		!got.CreatedAt.Equal(c.CreatedAt) || !got.ExpiresAt.Equal(c.ExpiresAt) || got.Attempts != 0 ||
		!got.ConfirmedAt.IsZero() || !got.GrantUntil.IsZero() {
		t.Errorf("Consent = %+v, want %+v", got, c)
	}
	for want := 1; want <= 3; want++ {
		n, err := s.ConsentFailed(ctx, c.ID)
		if err != nil || n != want {
			t.Errorf("ConsentFailed = %d, %v; want %d", n, err, want)
		}
	}
	at, until := base.Add(time.Minute), base.Add(time.Minute+30*time.Minute)
	if err := s.ConfirmConsent(ctx, c.ID, at, until); err != nil {
		t.Fatalf("ConfirmConsent: %v", err)
	}
	wantErr(t, "ConfirmConsent again", s.ConfirmConsent(ctx, c.ID, at.Add(time.Second), until.Add(time.Hour)), store.ErrConflict)
	got, err = s.Consent(ctx, c.ID)
	if err != nil || got.Attempts != 3 || !got.ConfirmedAt.Equal(at) || !got.GrantUntil.Equal(until) {
		t.Errorf("Consent after confirmation = %+v, %v; want 3 attempts, confirmed %v until %v", got, err, at, until)
	}
	_, err = s.Consent(ctx, "k-missing")
	wantErr(t, "Consent(missing)", err, store.ErrNotFound)
	_, err = s.ConsentFailed(ctx, "k-missing")
	wantErr(t, "ConsentFailed(missing)", err, store.ErrNotFound)
	wantErr(t, "ConfirmConsent(missing)", s.ConfirmConsent(ctx, "k-missing", at, until), store.ErrNotFound)
}

// parallel runs fn(i) for i in [0, n) on n goroutines started together.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func testConsentFailedConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateConsent(ctx, store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1",
		CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	const n = 16
	counts := make([]int, n)
	errs := make([]error, n)
	parallel(n, func(i int) { counts[i], errs[i] = s.ConsentFailed(ctx, "k-1") })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("ConsentFailed counts = %v, want each of 1..%d once", counts, n)
		}
	}
	if c, err := s.Consent(ctx, "k-1"); err != nil || c.Attempts != n {
		t.Errorf("Attempts = %d, %v; want %d", c.Attempts, err, n)
	}
}

func testConfirmConsentConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateConsent(ctx, store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1",
		CodeHash: []byte("code"), CreatedAt: base, ExpiresAt: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	parallel(n, func(i int) {
		at := base.Add(time.Duration(i+1) * time.Second)
		errs[i] = s.ConfirmConsent(ctx, "k-1", at, at.Add(time.Hour))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("ConfirmConsent succeeded twice (%d and %d)", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("ConfirmConsent %d: err = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no ConfirmConsent succeeded")
	}
	at := base.Add(time.Duration(winner+1) * time.Second)
	if c, err := s.Consent(ctx, "k-1"); err != nil || !c.ConfirmedAt.Equal(at) || !c.GrantUntil.Equal(at.Add(time.Hour)) {
		t.Errorf("Consent = %+v, %v; want the winner's times (%v)", c, err, at)
	}
}

func testBreakGlass(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.BreakGlass{ID: "bg-1", Principal: "emp-1", Customer: "c-1", Reason: "fire", CreatedAt: base}
	if err := s.CreateBreakGlass(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateBreakGlass(duplicate)", s.CreateBreakGlass(ctx, b), store.ErrExists)
	got, err := s.BreakGlass(ctx, b.ID)
	if err != nil || got.ID != b.ID || got.Principal != b.Principal || got.Customer != b.Customer ||
		got.Reason != b.Reason || !got.CreatedAt.Equal(b.CreatedAt) || got.ApprovedBy != "" ||
		!got.ApprovedAt.IsZero() || !got.ExpiresAt.IsZero() {
		t.Errorf("BreakGlass = %+v, %v; want %+v", got, err, b)
	}
	at, exp := base.Add(time.Minute), base.Add(time.Hour)
	if err := s.ApproveBreakGlass(ctx, b.ID, "sec-1", at, exp); err != nil {
		t.Fatalf("ApproveBreakGlass: %v", err)
	}
	wantErr(t, "ApproveBreakGlass again", s.ApproveBreakGlass(ctx, b.ID, "sec-2", at, exp.Add(time.Hour)), store.ErrConflict)
	got, err = s.BreakGlass(ctx, b.ID)
	if err != nil || got.ApprovedBy != "sec-1" || !got.ApprovedAt.Equal(at) || !got.ExpiresAt.Equal(exp) {
		t.Errorf("BreakGlass after approval = %+v, %v; want approved by sec-1 until %v", got, err, exp)
	}
	_, err = s.BreakGlass(ctx, "bg-missing")
	wantErr(t, "BreakGlass(missing)", err, store.ErrNotFound)
	wantErr(t, "ApproveBreakGlass(missing)", s.ApproveBreakGlass(ctx, "bg-missing", "sec-1", at, exp), store.ErrNotFound)
}

func testBreakGlassApproveConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateBreakGlass(ctx, store.BreakGlass{ID: "bg-1", Principal: "emp-1", Customer: "c-1",
		Reason: "fire", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = s.ApproveBreakGlass(ctx, "bg-1", fmt.Sprintf("sec-%d", i), base, base.Add(time.Hour))
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("ApproveBreakGlass succeeded twice (%d and %d)", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("ApproveBreakGlass %d: err = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no ApproveBreakGlass succeeded")
	}
	if b, err := s.BreakGlass(ctx, "bg-1"); err != nil || b.ApprovedBy != fmt.Sprintf("sec-%d", winner) {
		t.Errorf("ApprovedBy = %q, %v; want sec-%d", b.ApprovedBy, err, winner)
	}
}

// charge is one ChargeQuota call and the result it must give.
type charge struct {
	customer string
	at       time.Time
	allowed  bool
	hour     int           // HourCount
	day      int           // DayCount
	retry    time.Duration // RetryAfter
}

func runCharges(t *testing.T, s store.Store, who string, l store.QuotaLimits, cs []charge) {
	t.Helper()
	for i, c := range cs {
		got, err := s.ChargeQuota(t.Context(), who, c.customer, c.at, l)
		if err != nil {
			t.Fatalf("charge %d (%s at %v): %v", i, c.customer, c.at, err)
		}
		want := store.QuotaResult{Allowed: c.allowed, HourCount: c.hour, DayCount: c.day, RetryAfter: c.retry}
		if got != want {
			t.Errorf("charge %d (%s at %s): got %+v, want %+v", i, c.customer, c.at.Format(time.TimeOnly), got, want)
		}
	}
}

func testQuotaHourLimit(t *testing.T, s store.Store) {
	h := base.Truncate(time.Hour) // 09:00
	at := h.Add(10 * time.Minute)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 3}, []charge{
		{"c-1", at, true, 1, 1, 0},
		{"c-2", at, true, 2, 2, 0},
		{"c-1", at.Add(time.Minute), true, 2, 2, 0}, // already counted: free
		{"c-3", at, true, 3, 3, 0},
		{"c-4", at.Add(5 * time.Minute), false, 3, 3, 45 * time.Minute}, // until 10:00
		{"c-2", at.Add(20 * time.Minute), true, 3, 3, 0},                // still free at the limit
		{"c-4", h.Add(time.Hour), true, 1, 4, 0},                        // a new hour
		{"c-1", h.Add(time.Hour + time.Minute), true, 2, 4, 0},          // counted today, not this hour
	})
	hour, day, err := s.QuotaUsage(t.Context(), "emp-1", h.Add(time.Hour+30*time.Minute))
	if err != nil || hour != 2 || day != 4 {
		t.Errorf("QuotaUsage = %d, %d, %v; want 2, 4", hour, day, err)
	}
	hour, day, err = s.QuotaUsage(t.Context(), "emp-1", h.Add(30*time.Minute))
	if err != nil || hour != 3 || day != 4 {
		t.Errorf("QuotaUsage(first hour) = %d, %d, %v; want 3, 4", hour, day, err)
	}
}

func testQuotaDayLimit(t *testing.T, s store.Store) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 2, PerDay: 3}, []charge{
		{"c-1", day.Add(1 * time.Hour), true, 1, 1, 0},
		{"c-2", day.Add(1 * time.Hour), true, 2, 2, 0},
		{"c-3", day.Add(1*time.Hour + time.Minute), false, 2, 2, 59 * time.Minute}, // hour limit
		{"c-3", day.Add(2 * time.Hour), true, 1, 3, 0},
		{"c-4", day.Add(22 * time.Hour), false, 0, 3, 2 * time.Hour}, // day limit, until midnight UTC
		{"c-2", day.Add(23 * time.Hour), true, 1, 3, 0},              // counted today: costs no day slot
		{"c-4", day.Add(24 * time.Hour), true, 1, 1, 0},              // a new day
	})
	// Denied charges record nothing.
	hour, d, err := s.QuotaUsage(t.Context(), "emp-1", day.Add(22*time.Hour))
	if err != nil || hour != 0 || d != 3 {
		t.Errorf("QuotaUsage after denial = %d, %d, %v; want 0, 3", hour, d, err)
	}
}

func testQuotaWindows(t *testing.T, s store.Store) {
	// The same instant in another time zone is in the same windows: hours
	// and days are UTC.
	at := time.Date(2026, 3, 2, 23, 50, 0, 0, time.UTC)
	east := time.FixedZone("UTC+8", 8*3600)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 1, PerDay: 5}, []charge{
		{"c-1", at, true, 1, 1, 0},
		{"c-1", at.In(east), true, 1, 1, 0},
		{"c-2", at.Add(5 * time.Minute).In(east), false, 1, 1, 5 * time.Minute},
		{"c-2", at.Add(10 * time.Minute).In(east), true, 1, 1, 0}, // 00:00 UTC: new hour and day
	})
}

func testQuotaPerPrincipal(t *testing.T, s store.Store) {
	l := store.QuotaLimits{PerHour: 1}
	runCharges(t, s, "emp-1", l, []charge{{"c-1", base, true, 1, 1, 0}})
	runCharges(t, s, "emp-2", l, []charge{{"c-2", base, true, 1, 1, 0}})
	runCharges(t, s, "emp-1", l, []charge{{"c-2", base, false, 1, 1, base.Truncate(time.Hour).Add(time.Hour).Sub(base)}})
	hour, day, err := s.QuotaUsage(t.Context(), "emp-3", base)
	if err != nil || hour != 0 || day != 0 {
		t.Errorf("QuotaUsage(unknown) = %d, %d, %v; want 0, 0", hour, day, err)
	}
}

func testQuotaUnlimited(t *testing.T, s store.Store) {
	var cs []charge
	for i := range 20 {
		cs = append(cs, charge{fmt.Sprintf("c-%d", i), base, true, i + 1, i + 1, 0})
	}
	runCharges(t, s, "emp-1", store.QuotaLimits{}, cs)
}

func testQuotaConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, limit = 32, 10
	res := make([]store.QuotaResult, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		res[i], errs[i] = s.ChargeQuota(ctx, "emp-1", fmt.Sprintf("c-%d", i), base, store.QuotaLimits{PerHour: limit})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	var counts []int
	for _, r := range res {
		if r.Allowed {
			allowed++
			counts = append(counts, r.HourCount)
		} else if r.HourCount != limit || r.RetryAfter <= 0 {
			t.Errorf("denied charge = %+v, want HourCount %d and a RetryAfter", r, limit)
		}
	}
	if allowed != limit {
		t.Errorf("%d of %d concurrent charges allowed, want exactly %d", allowed, n, limit)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Errorf("allowed HourCounts = %v, want each of 1..%d once", counts, limit)
			break
		}
	}
	if hour, day, err := s.QuotaUsage(ctx, "emp-1", base); err != nil || hour != limit || day != limit {
		t.Errorf("QuotaUsage = %d, %d, %v; want %d, %d", hour, day, err, limit, limit)
	}
}

func testQuotaConcurrentSameCustomer(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	res := make([]store.QuotaResult, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		res[i], errs[i] = s.ChargeQuota(ctx, "emp-1", "c-1", base, store.QuotaLimits{PerHour: 1, PerDay: 1})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Allowed || r.HourCount != 1 || r.DayCount != 1 {
			t.Errorf("charge %d = %+v, want allowed with counts 1, 1", i, r)
		}
	}
}

func auditRec(actor, customer string, i int) store.AuditRecord {
	return store.AuditRecord{
		Time:     base.Add(time.Duration(i) * time.Millisecond),
		Actor:    actor,
		Customer: customer,
		Event:    []byte(fmt.Sprintf(`{"actor":%q,"customer":%q,"n":%d}`, actor, customer, i)),
		Salt:     []byte(fmt.Sprintf("salt-%s-%d", actor, i)),
	}
}

func testAuditAppendAndRead(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n, err := s.AuditSize(ctx); err != nil || n != 0 {
		t.Fatalf("AuditSize of an empty store = %d, %v; want 0", n, err)
	}
	var all []store.AuditRecord
	batches := [][]store.AuditRecord{
		{auditRec("emp-1", "c-1", 0)},
		{auditRec("emp-2", "c-1", 1), auditRec("emp-1", "c-2", 2), auditRec("emp-2", "c-3", 3)},
		{auditRec("emp-1", "c-1", 4), auditRec("emp-1", "", 5)},
	}
	for _, b := range batches {
		first, err := s.AppendAudit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if first != uint64(len(all)) {
			t.Errorf("AppendAudit first = %d, want %d", first, len(all))
		}
		for i, r := range b {
			r.Index = first + uint64(i)
			all = append(all, r)
		}
	}
	if n, err := s.AuditSize(ctx); err != nil || n != uint64(len(all)) {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, len(all))
	}
	check := func(name string, got []store.AuditRecord, err error, want []store.AuditRecord) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if !slices.EqualFunc(got, want, equalAudit) {
			t.Errorf("%s = %+v\nwant %+v", name, got, want)
		}
	}
	filter := func(keep func(r store.AuditRecord) bool) []store.AuditRecord {
		var out []store.AuditRecord
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		from, to uint64
		want     []store.AuditRecord
	}{
		{"all", 0, uint64(len(all)), all},
		{"middle", 1, 4, all[1:4]},
		{"to past the end", 4, 100, all[4:]},
		{"empty", 3, 3, nil},
		{"past the end", 6, 10, nil},
		{"to the largest index", 2, math.MaxUint64, all[2:]},
		{"from the largest index", math.MaxUint64, math.MaxUint64, nil},
	}
	for _, tc := range tests {
		got, err := s.AuditRange(ctx, tc.from, tc.to)
		check(fmt.Sprintf("AuditRange(%d, %d) %s", tc.from, tc.to, tc.name), got, err, tc.want)
	}
	got, err := s.AuditByCustomer(ctx, "c-1")
	check("AuditByCustomer(c-1)", got, err, filter(func(r store.AuditRecord) bool { return r.Customer == "c-1" }))
	got, err = s.AuditByCustomer(ctx, "c-none")
	check("AuditByCustomer(c-none)", got, err, nil)
	got, err = s.AuditByActor(ctx, "emp-1", 0)
	check("AuditByActor(emp-1, 0)", got, err, filter(func(r store.AuditRecord) bool { return r.Actor == "emp-1" }))
	got, err = s.AuditByActor(ctx, "emp-1", 2)
	check("AuditByActor(emp-1, 2)", got, err, filter(func(r store.AuditRecord) bool { return r.Actor == "emp-1" && r.Index >= 2 }))
	got, err = s.AuditByActor(ctx, "emp-2", 4)
	check("AuditByActor(emp-2, 4)", got, err, nil)
	got, err = s.AuditByActor(ctx, "emp-1", math.MaxUint64)
	check("AuditByActor(emp-1, MaxUint64)", got, err, nil)
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, appends = 8, 20
	type span struct {
		first uint64
		recs  []store.AuditRecord
	}
	spans := make([][]span, writers)
	errs := make([]error, writers)
	parallel(writers, func(w int) {
		actor := fmt.Sprintf("emp-%d", w)
		for a := range appends {
			var recs []store.AuditRecord
			for k := range 1 + (w+a)%3 {
				recs = append(recs, auditRec(actor, fmt.Sprintf("c-%d", a), a*10+k))
			}
			first, err := s.AppendAudit(ctx, recs)
			if err != nil {
				errs[w] = err
				return
			}
			spans[w] = append(spans[w], span{first, recs})
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var all []span
	for _, ss := range spans {
		// Each writer's appends are ordered: later calls get later indexes.
		for i := 1; i < len(ss); i++ {
			if ss[i].first <= ss[i-1].first {
				t.Errorf("a writer's later append got index %d after %d", ss[i].first, ss[i-1].first)
			}
		}
		all = append(all, ss...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].first < all[j].first })
	var next uint64
	var want []store.AuditRecord
	for _, sp := range all {
		if sp.first != next {
			t.Fatalf("append got first index %d, want %d (gap or overlap)", sp.first, next)
		}
		for i, r := range sp.recs {
			r.Index = sp.first + uint64(i)
			want = append(want, r)
		}
		next += uint64(len(sp.recs))
	}
	if n, err := s.AuditSize(ctx); err != nil || n != next {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, next)
	}
	got, err := s.AuditRange(ctx, 0, next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, equalAudit) {
		t.Errorf("AuditRange does not hold the appended records at their acknowledged indexes")
	}
}

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.LatestCheckpoint(ctx)
	wantErr(t, "LatestCheckpoint of an empty store", err, store.ErrNotFound)
	if cs, err := s.Checkpoints(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Checkpoints of an empty store = %v, %v; want none", cs, err)
	}
	var want []store.Checkpoint
	for i, size := range []uint64{1, 7, 7, 30} {
		c := store.Checkpoint{Size: size, Note: []byte(fmt.Sprintf("custos.example/log\n%d\nhash%d\n\n— sig\n", size, i)), Time: base.Add(time.Duration(i) * time.Second)}
		if err := s.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
		latest, err := s.LatestCheckpoint(ctx)
		if err != nil || latest.Size != c.Size || !bytes.Equal(latest.Note, c.Note) || !latest.Time.Equal(c.Time) {
			t.Errorf("LatestCheckpoint = %+v, %v; want %+v", latest, err, c)
		}
	}
	got, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b store.Checkpoint) bool {
		return a.Size == b.Size && bytes.Equal(a.Note, b.Note) && a.Time.Equal(b.Time)
	}) {
		t.Errorf("Checkpoints = %+v, want %+v (in the order added)", got, want)
	}
}

func testAlerts(t *testing.T, s store.Store) {
	ctx := t.Context()
	if as, err := s.Alerts(ctx, 10); err != nil || len(as) != 0 {
		t.Errorf("Alerts of an empty store = %v, %v; want none", as, err)
	}
	in := []store.Alert{
		{Actor: "emp-1", Time: base, Score: 0.5, Reasons: []string{"volume"}, Records: 12, Kind: "volume", Detail: []byte(`{"n":12}`)},
		{Actor: "emp-2", Time: base.Add(2 * time.Minute), Score: 1, Reasons: []string{"canary", "after hours"}, Records: 1, Kind: "canary", Action: "suspend"},
		{Actor: "emp-3", Time: base.Add(time.Minute), Score: 0.75, Kind: "breadth"},
	}
	ids := map[int64]bool{}
	for i := range in {
		id, err := s.AddAlert(ctx, in[i])
		if err != nil {
			t.Fatal(err)
		}
		if ids[id] {
			t.Errorf("AddAlert returned id %d twice", id)
		}
		ids[id] = true
		in[i].ID = id
	}
	equal := func(a, b store.Alert) bool {
		return a.ID == b.ID && a.Actor == b.Actor && a.Time.Equal(b.Time) && a.Score == b.Score &&
			slices.Equal(a.Reasons, b.Reasons) && a.Records == b.Records && a.Kind == b.Kind &&
			a.Action == b.Action && bytes.Equal(a.Detail, b.Detail)
	}
	got, err := s.Alerts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []store.Alert{in[1], in[2], in[0]}; !slices.EqualFunc(got, want, equal) {
		t.Errorf("Alerts = %+v\nwant newest first %+v", got, want)
	}
	got, err = s.Alerts(ctx, 2)
	if err != nil || len(got) != 2 || got[0].ID != in[1].ID || got[1].ID != in[2].ID {
		t.Errorf("Alerts(2) = %+v, %v; want the 2 newest", got, err)
	}
	if err := s.SetAlertAction(ctx, in[0].ID, "stepup"); err != nil {
		t.Fatal(err)
	}
	got, err = s.Alerts(ctx, 10)
	if err != nil || len(got) != 3 || got[2].Action != "stepup" || got[0].Action != "suspend" {
		t.Errorf("Alerts after SetAlertAction = %+v, %v; want the oldest with action stepup", got, err)
	}
	wantErr(t, "SetAlertAction(missing)", s.SetAlertAction(ctx, in[1].ID+in[2].ID+in[0].ID+1000, "suspend"), store.ErrNotFound)
}

func testMeta(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.Meta(ctx, "log.key")
	wantErr(t, "Meta(unset)", err, store.ErrNotFound)
	v, err := s.SetMetaOnce(ctx, "log.key", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Errorf("SetMetaOnce(first) = %q, %v; want first", v, err)
	}
	v, err = s.SetMetaOnce(ctx, "log.key", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Errorf("SetMetaOnce(second) = %q, %v; want the first value", v, err)
	}
	if v, err := s.Meta(ctx, "log.key"); err != nil || string(v) != "first" {
		t.Errorf("Meta = %q, %v; want first", v, err)
	}
	if err := s.SetMeta(ctx, "log.key", []byte("third")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "log.key"); err != nil || string(v) != "third" {
		t.Errorf("Meta after SetMeta = %q, %v; want third", v, err)
	}
	if err := s.SetMeta(ctx, "other", []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Meta(ctx, "other"); err != nil || !bytes.Equal(v, []byte{0, 1, 2, 255}) {
		t.Errorf("Meta(other) = %v, %v; want binary value back", v, err)
	}
}

func testMetaOnceConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	got := make([][]byte, n)
	errs := make([]error, n)
	parallel(n, func(i int) { got[i], errs[i] = s.SetMetaOnce(ctx, "k", []byte(fmt.Sprintf("v%d", i))) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if !bytes.Equal(got[i], got[0]) {
			t.Fatalf("SetMetaOnce returned different values: %q", got)
		}
	}
	if v, err := s.Meta(ctx, "k"); err != nil || !bytes.Equal(v, got[0]) {
		t.Errorf("Meta = %q, %v; want %q", v, err, got[0])
	}
}

// testLookupCustomers checks the optional batched lookup leak tracing uses.
func testLookupCustomers(t *testing.T, s store.Store) {
	lk, ok := s.(interface {
		LookupCustomers(ctx context.Context, kind string, keys [][]byte) ([]string, []bool, error)
	})
	if !ok {
		t.Skip("store has no batched lookup")
	}
	var cs []store.Customer
	for i := range 4 {
		cs = append(cs, customer(i))
	}
	cs[2].Canary = true
	mustImport(t, s, store.Batch{Customers: cs})
	for _, tc := range []struct {
		kind       string
		keys       [][]byte
		wantIDs    []string
		wantCanary []bool
	}{
		{"phone", [][]byte{[]byte("pidx-2"), []byte("nobody"), []byte("pidx-0"), []byte("pidx-2")}, []string{cs[2].ID, "", cs[0].ID, cs[2].ID}, []bool{true, false, false, true}},
		{"account", [][]byte{[]byte("aidx-3")}, []string{cs[3].ID}, []bool{false}},
		{"id", [][]byte{[]byte(cs[1].ID), []byte("c-none")}, []string{cs[1].ID, ""}, []bool{false, false}},
	} {
		ids, canary, err := lk.LookupCustomers(t.Context(), tc.kind, tc.keys)
		if err != nil || !slices.Equal(ids, tc.wantIDs) || !slices.Equal(canary, tc.wantCanary) {
			t.Errorf("LookupCustomers(%s) = %v %v %v; want %v %v", tc.kind, ids, canary, err, tc.wantIDs, tc.wantCanary)
		}
	}
	if _, _, err := lk.LookupCustomers(t.Context(), "name", nil); err == nil {
		t.Error("unknown kind accepted")
	}
}
