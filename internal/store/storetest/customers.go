package storetest

import (
	"context"
	"errors"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

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

	c.Site, c.PhoneIndex = "store-0002", ix("pidx-new")
	p.Role, p.TokenHash = "store_manager", []byte("tok-2")
	tk.ClosedAt = base.Add(time.Hour)
	tk.Assignee, tk.ExpiresAt, tk.CRM = "emp-2", base.Add(72*time.Hour), true
	// The same id twice in one batch: the last one wins.
	first := c
	first.Site = "store-0003"
	mustImport(t, s, store.Batch{Customers: []store.Customer{first, c}, Principals: []store.Principal{p}, Tickets: []store.Ticket{tk}})

	if got, err := s.Customer(ctx, c.ID); err != nil || !equalCustomer(got, c) {
		t.Errorf("Customer after re-import = %+v, %v; want %+v", got, err, c)
	}
	if _, err := s.CustomerByPhone(ctx, ix("pidx-1")); !errors.Is(err, store.ErrNotFound) {
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
	cs[1].NameIndex, cs[3].NameIndex, cs[4].NameIndex = ix("same"), ix("same"), ix("same")
	cs[4].PhoneIndex, cs[4].AccountIndex, cs[4].Phone, cs[4].Account = nil, nil, nil, nil
	mustImport(t, s, store.Batch{Customers: cs})

	got, err := s.CustomerByPhone(ctx, ix("pidx-2"))
	if err != nil || !equalCustomer(got, cs[2]) {
		t.Errorf("CustomerByPhone = %+v, %v; want %+v", got, err, cs[2])
	}
	got, err = s.CustomerByAccount(ctx, ix("aidx-3"))
	if err != nil || !equalCustomer(got, cs[3]) {
		t.Errorf("CustomerByAccount = %+v, %v; want %+v", got, err, cs[3])
	}
	ids, err := s.CustomerIDsByName(ctx, ix("same"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(ids)
	if want := []string{cs[1].ID, cs[3].ID, cs[4].ID}; !slices.Equal(ids, want) {
		t.Errorf("CustomerIDsByName = %v, want %v", ids, want)
	}
	ids, err = s.CustomerIDsByName(ctx, ix("nobody"))
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
	_, err = s.CustomerByPhone(ctx, ix("pidx-9"))
	wantErr(t, "CustomerByPhone", err, store.ErrNotFound)
	_, err = s.CustomerByAccount(ctx, ix("aidx-9"))
	wantErr(t, "CustomerByAccount", err, store.ErrNotFound)
	// Blind indexes are not interchangeable.
	_, err = s.CustomerByAccount(ctx, ix("pidx-1"))
	wantErr(t, "CustomerByAccount(phone index)", err, store.ErrNotFound)
}

// testCustomersByIndex: a blind index of 64 bits can be shared by two
// values, so a lookup returns every candidate (the caller opens them);
// an index given whole (a full HMAC) finds what its first 8 bytes find.
func testCustomersByIndex(t *testing.T, s store.Store) {
	ctx := t.Context()
	var cs []store.Customer
	for i := range 4 {
		cs = append(cs, customer(i))
	}
	cs[3].PhoneIndex, cs[3].NameIndex = cs[1].PhoneIndex, cs[1].NameIndex
	cs[2].AccountIndex = nil
	mustImport(t, s, store.Batch{Customers: cs})
	for _, tc := range []struct {
		kind  string
		index []byte
		want  []store.Customer
	}{
		{store.IndexPhone, ix("pidx-1"), []store.Customer{cs[1], cs[3]}},
		{store.IndexPhone, append(ix("pidx-2"), "the rest of a whole HMAC"...), []store.Customer{cs[2]}},
		{store.IndexAccount, ix("aidx-0"), []store.Customer{cs[0]}},
		{store.IndexAccount, ix("aidx-2"), nil},
		{store.IndexAccount, nil, nil},
		{store.IndexName, ix("nidx-1"), []store.Customer{cs[1], cs[3]}},
		{store.IndexName, ix("pidx-0"), nil},
	} {
		got, err := s.CustomersByIndex(ctx, tc.kind, tc.index)
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("CustomersByIndex(%s, %x) = %d customers, %v; want %d", tc.kind, tc.index, len(got), err, len(tc.want))
			continue
		}
		for i := range got {
			if !equalCustomer(got[i], tc.want[i]) {
				t.Errorf("CustomersByIndex(%s, %x)[%d] = %+v; want %+v", tc.kind, tc.index, i, got[i], tc.want[i])
			}
		}
	}
	if _, err := s.CustomersByIndex(ctx, "region", ix("pidx-1")); err == nil {
		t.Error("CustomersByIndex of an unknown kind: no error")
	}
}

// testLookupCustomers checks the optional batched lookup leak tracing uses.
func testLookupCustomers(t *testing.T, s store.Store) {
	lk, ok := s.(interface {
		LookupCustomers(ctx context.Context, kind string, keys [][]byte) ([]string, []bool, []bool, error)
	})
	if !ok {
		t.Skip("store has no batched lookup")
	}
	var cs []store.Customer
	for i := range 5 {
		cs = append(cs, customer(i))
	}
	cs[2].Canary = true
	cs[4].AccountIndex = cs[3].AccountIndex // a collision of blind indexes
	mustImport(t, s, store.Batch{Customers: cs})
	whole := append(ix("pidx-0"), "the rest of a whole HMAC"...)
	for _, tc := range []struct {
		kind       string
		keys       [][]byte
		wantIDs    []string
		wantCanary []bool
		wantShared []bool
	}{
		{"phone", [][]byte{ix("pidx-2"), ix("nobody"), ix("pidx-0"), ix("pidx-2")}, []string{cs[2].ID, "", cs[0].ID, cs[2].ID},
			[]bool{true, false, false, true}, []bool{false, false, false, false}},
		{"phone", [][]byte{whole}, []string{cs[0].ID}, []bool{false}, []bool{false}},
		{"account", [][]byte{ix("aidx-3"), ix("aidx-1")}, []string{cs[3].ID, cs[1].ID}, []bool{false, false}, []bool{true, false}},
		{"id", [][]byte{[]byte(cs[1].ID), []byte("c-none")}, []string{cs[1].ID, ""}, []bool{false, false}, []bool{false, false}},
	} {
		ids, canary, shared, err := lk.LookupCustomers(t.Context(), tc.kind, tc.keys)
		if err != nil || !slices.Equal(ids, tc.wantIDs) || !slices.Equal(canary, tc.wantCanary) || !slices.Equal(shared, tc.wantShared) {
			t.Errorf("LookupCustomers(%s) = %v %v %v %v; want %v %v %v", tc.kind, ids, canary, shared, err, tc.wantIDs, tc.wantCanary, tc.wantShared)
		}
	}
	if _, _, _, err := lk.LookupCustomers(t.Context(), "name", nil); err == nil {
		t.Error("unknown kind accepted")
	}
}

// testSampleCustomers checks that a sample holds distinct, whole, non-canary
// customers and varies between calls.
func testSampleCustomers(t *testing.T, s store.Store) {
	ctx := t.Context()
	if cs, err := s.SampleCustomers(ctx, 5); err != nil || len(cs) != 0 {
		t.Errorf("SampleCustomers of an empty store = %v, %v; want none", cs, err)
	}
	var b store.Batch
	byID := map[string]store.Customer{}
	for i := range 60 {
		c := customer(i)
		c.Canary = i%2 == 1
		b.Customers = append(b.Customers, c)
		byID[c.ID] = c
	}
	mustImport(t, s, b)
	seen := map[string]bool{}
	for range 4 {
		cs, err := s.SampleCustomers(ctx, 10)
		if err != nil || len(cs) != 10 {
			t.Fatalf("SampleCustomers(10) = %d customers, %v; want 10", len(cs), err)
		}
		ids := map[string]bool{}
		for _, c := range cs {
			want, ok := byID[c.ID]
			if !ok || c.Canary || !equalCustomer(c, want) || ids[c.ID] {
				t.Errorf("sampled %+v: want a distinct, whole, non-canary customer", c)
			}
			ids[c.ID], seen[c.ID] = true, true
		}
	}
	if len(seen) <= 10 {
		t.Errorf("four samples of 10 drew only %d distinct customers: not random", len(seen))
	}
	if cs, err := s.SampleCustomers(ctx, 1000); err != nil || len(cs) != 30 {
		t.Errorf("SampleCustomers(1000) = %d customers, %v; want all 30 non-canaries", len(cs), err)
	}
}
