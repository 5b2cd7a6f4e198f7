package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// This file checks the optional interfaces for writing customers at scale:
// store.CustomerLoader, store.CustomerWriter and store.FormerIndexes. A
// store that implements one must implement all three.

type bulkStore interface {
	store.Store
	store.CustomerLoader
	store.CustomerWriter
	store.FormerIndexes
}

func bulk(t *testing.T, s store.Store) bulkStore {
	t.Helper()
	b, ok := s.(bulkStore)
	if !ok {
		t.Skip("store has no bulk load")
	}
	return b
}

// staged returns customers from..to-1, on lines 2, 3, … (a file with a
// header).
func staged(from, to int) []store.StagedCustomer {
	var out []store.StagedCustomer
	for i := from; i < to; i++ {
		out = append(out, store.StagedCustomer{Customer: customer(i), Line: i - from + 2})
	}
	return out
}

// load runs one whole load: rows added in chunks of n, then Commit.
func load(t *testing.T, s bulkStore, opt store.LoadOptions, rows []store.StagedCustomer, n int, rest store.Batch) (store.LoadResult, error) {
	t.Helper()
	ctx := t.Context()
	l, err := s.LoadCustomers(ctx, opt)
	if err != nil {
		t.Fatalf("LoadCustomers: %v", err)
	}
	defer l.Abort()
	for len(rows) > 0 {
		k := min(n, len(rows))
		if err := l.Add(ctx, rows[:k]); err != nil {
			return store.LoadResult{}, err
		}
		rows = rows[k:]
	}
	return l.Commit(ctx, rest)
}

// customersAre checks that the store holds exactly want, findable by id and
// by every blind index.
func customersAre(t *testing.T, s store.Store, want []store.Customer) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.CustomerCount(ctx); err != nil || n != len(want) {
		t.Errorf("CustomerCount = %d, %v; want %d", n, err, len(want))
	}
	for _, c := range want {
		if got, err := s.Customer(ctx, c.ID); err != nil || !equalCustomer(got, c) {
			t.Errorf("Customer(%s) = %+v, %v; want %+v", c.ID, got, err, c)
		}
		if got, err := s.CustomerByPhone(ctx, c.PhoneIndex); err != nil || got.ID != c.ID {
			t.Errorf("CustomerByPhone(%s) = %s, %v; want %s", c.PhoneIndex, got.ID, err, c.ID)
		}
		if got, err := s.CustomerByAccount(ctx, c.AccountIndex); err != nil || got.ID != c.ID {
			t.Errorf("CustomerByAccount(%s) = %s, %v; want %s", c.AccountIndex, got.ID, err, c.ID)
		}
		if ids, err := s.CustomerIDsByName(ctx, c.NameIndex); err != nil || !slices.Equal(ids, []string{c.ID}) {
			t.Errorf("CustomerIDsByName(%s) = %v, %v; want [%s]", c.NameIndex, ids, err, c.ID)
		}
	}
}

func customersOf(rows []store.StagedCustomer) []store.Customer {
	var out []store.Customer
	for _, r := range rows {
		out = append(out, r.Customer)
	}
	return out
}

// testLoadFresh: a full load into an empty store, in several Adds, stores
// every row (and the batch given to Commit) with working lookups.
func testLoadFresh(t *testing.T, s store.Store) {
	b := bulk(t, s)
	rows := staged(0, 700)
	p := principal("emp-1", []byte("tok-1"))
	res, err := load(t, b, store.LoadOptions{}, rows, 300, store.Batch{Principals: []store.Principal{p}})
	if err != nil || res != (store.LoadResult{Created: 700}) {
		t.Fatalf("load = %+v, %v; want 700 created", res, err)
	}
	customersAre(t, s, customersOf(rows))
	if got, err := s.Principal(t.Context(), p.ID); err != nil || !equalPrincipal(got, p) {
		t.Errorf("principal of the same load: %+v, %v", got, err)
	}
}

// testLoadReplaces: a load (full or upsert) over stored customers replaces
// rows with the same id, keeps the others, and keeps the replaced phone and
// account indexes as former indexes that leak tracing still resolves.
func testLoadReplaces(t *testing.T, s store.Store) {
	for _, upsert := range []bool{false, true} {
		t.Run(fmt.Sprintf("upsert=%v", upsert), func(t *testing.T) {
			b := bulk(t, s)
			ctx := t.Context()
			old, added := []store.Customer{customer(1), customer(2), customer(3)}, customer(60)
			if upsert {
				old, added = []store.Customer{customer(11), customer(12), customer(13)}, customer(70)
			}
			mustImport(t, s, store.Batch{Customers: old})
			changed := old[1]
			changed.PhoneIndex, changed.Name = ix("new-pidx-"+changed.ID), []byte("new-sealed-name")
			changed.Key = []byte("new-wrapped-key") // sealed again under a new record key
			unkeyed := old[2]                       // sealed again with the data key: the key goes
			unkeyed.Key, unkeyed.Name = nil, []byte("legacy-sealed-name")
			rows := []store.StagedCustomer{{Customer: added, Line: 2}, {Customer: changed, Line: 3}, {Customer: unkeyed, Line: 4}}
			res, err := load(t, b, store.LoadOptions{Upsert: upsert, Now: base}, rows, 1, store.Batch{})
			if err != nil || res != (store.LoadResult{Created: 1, Replaced: 2}) {
				t.Fatalf("load = %+v, %v; want 1 created, 2 replaced", res, err)
			}
			if got, err := s.Customer(ctx, changed.ID); err != nil || !equalCustomer(got, changed) {
				t.Errorf("replaced customer = %+v, %v", got, err)
			}
			for _, c := range []store.Customer{old[0], unkeyed, added} {
				if got, err := s.Customer(ctx, c.ID); err != nil || !equalCustomer(got, c) {
					t.Errorf("Customer(%s) = %+v, %v", c.ID, got, err)
				}
			}
			if got, err := s.CustomerByPhone(ctx, old[1].PhoneIndex); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("search by the replaced phone index found %s, %v; want ErrNotFound", got.ID, err)
			}
			if ids, err := b.CustomerByFormer(ctx, store.FormerPhone, old[1].PhoneIndex); err != nil || !slices.Equal(ids, []string{changed.ID}) {
				t.Errorf("CustomerByFormer(phone) = %v, %v; want [%s]", ids, err, changed.ID)
			}
			// The account did not change: it is no former index.
			if ids, err := b.CustomerByFormer(ctx, store.FormerAccount, old[1].AccountIndex); err != nil || len(ids) != 0 {
				t.Errorf("CustomerByFormer(account) = %v, %v; want none", ids, err)
			}
			lookupResolves(t, s, "phone", old[1].PhoneIndex, changed.ID)
			lookupResolves(t, s, "phone", changed.PhoneIndex, changed.ID)
		})
	}
}

// lookupResolves checks that the batched lookup (if the store has one)
// resolves key of kind to id.
func lookupResolves(t *testing.T, s store.Store, kind string, key []byte, id string) {
	t.Helper()
	lk, ok := s.(interface {
		LookupCustomers(ctx context.Context, kind string, keys [][]byte) ([]string, []bool, []bool, error)
	})
	if !ok {
		return
	}
	ids, _, _, err := lk.LookupCustomers(t.Context(), kind, [][]byte{key, ix("nobody")})
	if err != nil || !slices.Equal(ids, []string{id, ""}) {
		t.Errorf("LookupCustomers(%s, %s) = %v, %v; want [%s \"\"]", kind, key, ids, err, id)
	}
}

// testLoadAllOrNothing: a repeated id is reported with both lines and a
// failed or abandoned load changes nothing, in an empty store and in one
// with customers; the store works normally afterwards.
func testLoadAllOrNothing(t *testing.T, s store.Store) {
	b := bulk(t, s)
	ctx := t.Context()
	// unsorted has customer 30 on line 2, customers 0 to 29 on lines 3 to
	// 32, and customer 30 again on line 42.
	unsorted := []store.StagedCustomer{{Customer: customer(30), Line: 2}}
	for i := range 30 {
		unsorted = append(unsorted, store.StagedCustomer{Customer: customer(i), Line: i + 3})
	}
	unsorted = append(unsorted, store.StagedCustomer{Customer: customer(30), Line: 42})
	for _, stored := range [][]store.Customer{nil, {customer(900), customer(901)}} {
		mustImport(t, s, store.Batch{Customers: stored})
		for _, tc := range []struct {
			name   string
			rows   []store.StagedCustomer
			upsert bool
		}{
			{"sorted", append(staged(0, 40), store.StagedCustomer{Customer: customer(7), Line: 42}), false},
			{"unsorted", unsorted, false},
			{"upsert", append(staged(0, 40), store.StagedCustomer{Customer: customer(7), Line: 42}), true},
		} {
			_, err := load(t, b, store.LoadOptions{Upsert: tc.upsert}, tc.rows, 16, store.Batch{Principals: []store.Principal{principal("emp-9", nil)}})
			var d *store.DuplicateError
			first := 9 // customer(7) on line 9 in staged(0, 40)
			if tc.name == "unsorted" {
				first = 2
			}
			if !errors.As(err, &d) || d.Line != 42 || d.First != first {
				t.Errorf("%s, %d stored: err %v; want a duplicate on line 42, first on line %d", tc.name, len(stored), err, first)
			}
			customersAre(t, s, stored)
			if _, err := s.Principal(ctx, "emp-9"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: the batch of a failed load was stored: %v", tc.name, err)
			}
		}
		// Abandoned without Commit.
		l, err := b.LoadCustomers(ctx, store.LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Add(ctx, staged(0, 10)); err != nil {
			t.Fatal(err)
		}
		if err := l.Abort(); err != nil {
			t.Errorf("Abort: %v", err)
		}
		if err := l.Abort(); err != nil {
			t.Errorf("second Abort: %v", err)
		}
		customersAre(t, s, stored)
	}
	// The store writes normally after all that.
	if err := s.PutPrincipal(ctx, principal("emp-10", nil)); err != nil {
		t.Errorf("PutPrincipal after failed loads: %v", err)
	}
}

// testPutCustomer: PutCustomer creates, then replaces, keeping the former
// indexes that change.
func testPutCustomer(t *testing.T, s store.Store) {
	b := bulk(t, s)
	ctx := t.Context()
	c := customer(1)
	if created, err := b.PutCustomer(ctx, c, base); err != nil || !created {
		t.Fatalf("PutCustomer(new) = %v, %v; want created", created, err)
	}
	customersAre(t, s, []store.Customer{c})
	c2 := c
	c2.PhoneIndex, c2.AccountIndex, c2.Region = ix("pidx-new"), ix("aidx-new"), "SH"
	c2.Key = []byte("wrapped-key-new")
	if created, err := b.PutCustomer(ctx, c2, base); err != nil || created {
		t.Fatalf("PutCustomer(existing) = %v, %v; want replaced", created, err)
	}
	customersAre(t, s, []store.Customer{c2})
	// Replacing again with the same values keeps no new former index.
	if _, err := b.PutCustomer(ctx, c2, base); err != nil {
		t.Fatal(err)
	}
	// A record sealed with the data key (no record key) replaces the key.
	legacy := c2
	legacy.Key = nil
	if _, err := b.PutCustomer(ctx, legacy, base); err != nil {
		t.Fatal(err)
	}
	customersAre(t, s, []store.Customer{legacy})
	if _, err := b.PutCustomer(ctx, c2, base); err != nil {
		t.Fatal(err)
	}
	for kind, idx := range map[string][]byte{store.FormerPhone: c.PhoneIndex, store.FormerAccount: c.AccountIndex} {
		if ids, err := b.CustomerByFormer(ctx, kind, idx); err != nil || !slices.Equal(ids, []string{c.ID}) {
			t.Errorf("CustomerByFormer(%s) = %v, %v; want [%s]", kind, ids, err, c.ID)
		}
	}
	if ids, err := b.CustomerByFormer(ctx, store.FormerPhone, c2.PhoneIndex); err != nil || len(ids) != 0 {
		t.Errorf("the current phone index is a former one: %v, %v", ids, err)
	}
	lookupResolves(t, s, "account", c.AccountIndex, c.ID)
}

// testLoadSkipsErased: a load, into an empty store or over records, leaves
// out the rows of erased customers (their tombstones stay) and stores the
// rest.
func testLoadSkipsErased(t *testing.T, s store.Store) {
	b := bulk(t, s)
	ctx := t.Context()
	at := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	rows := staged(1, 4) // customers 1, 2 and 3
	if err := s.KeepTombstone(ctx, rows[1].ID, "privacy", "asked", at); err != nil {
		t.Fatal(err)
	}
	for _, upsert := range []bool{false, true} { // first into the empty store
		res, err := load(t, b, store.LoadOptions{Upsert: upsert, Now: base}, rows, 2, store.Batch{})
		if err != nil {
			t.Fatalf("upsert=%v: %v", upsert, err)
		}
		want := store.LoadResult{Created: 2, Erased: 1}
		if upsert {
			want = store.LoadResult{Replaced: 2, Erased: 1}
		}
		if res != want {
			t.Errorf("upsert=%v: load = %+v, want %+v", upsert, res, want)
		}
		customersAre(t, s, []store.Customer{rows[0].Customer, rows[2].Customer})
		if _, err := s.Customer(ctx, rows[1].ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("upsert=%v: the erased customer is back: %v", upsert, err)
		}
	}
}
