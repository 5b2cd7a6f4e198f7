package sqlite_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestDirectLoadStatements checks the forms of a direct load's inserts
// (a full load into an empty table) that the conformance suite's small
// loads do not reach: full-size statements while the ids ascend (INSERT OR
// ROLLBACK, no statement journal), the switch to plain inserts when an id
// goes back, rows with a canary or a scope among plain ones (they need
// every column), and a duplicate found in a full-size statement.
func TestDirectLoadStatements(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows []store.StagedCustomer
		// dup is the line of the duplicate and first that of its first row
		// (0: none).
		dup, first int
	}{
		{name: "sorted", rows: file(ids(0, 1000))},
		{name: "unsorted from row 700", rows: file(ids(0, 700), ids(800, 1000), ids(700, 800))},
		{name: "duplicate in a full statement", rows: file(ids(0, 700), []int{17}, ids(700, 1000)), dup: 702, first: 19},
		{name: "duplicate after the switch", rows: file(ids(0, 600), []int{5000}, ids(600, 1000), []int{500}), dup: 1003, first: 502},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			want := tc.rows
			want[3].Canary = true
			want[900%len(want)].Scope = "pilot"
			err := loadAll(t, s, store.LoadOptions{}, want)
			if tc.dup != 0 {
				var d *store.DuplicateError
				if !errors.As(err, &d) || d.Line != tc.dup || d.First != tc.first {
					t.Fatalf("load: %v; want a duplicate on line %d, first on line %d", err, tc.dup, tc.first)
				}
				storeHolds(t, s, nil)
				return
			}
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			storeHolds(t, s, want)
		})
	}
}

// idx is a blind index (store.IndexSize bytes) distinct for each i and kind.
func idx(i, kind int) []byte {
	b := make([]byte, store.IndexSize)
	b[0], b[1], b[2], b[3] = byte(kind), byte(i>>16), byte(i>>8), byte(i)
	return b
}

// file returns the customers of ids on lines 2, 3, …
func file(ids ...[]int) []store.StagedCustomer {
	var out []store.StagedCustomer
	for _, part := range ids {
		for _, i := range part {
			out = append(out, store.StagedCustomer{Line: len(out) + 2, Customer: store.Customer{
				ID: fmt.Sprintf("c-%07d", i), Region: "GD", Site: "store-1",
				Name: []byte(fmt.Sprintf("sealed-name-%d", i)), Phone: []byte("sealed-phone"), Account: []byte("sealed-account"),
				PhoneIndex: idx(i, 1), AccountIndex: idx(i, 2), NameIndex: idx(i, 3), Key: []byte(fmt.Sprintf("key-%d", i)),
			}})
		}
	}
	return out
}

// ids returns from..to-1.
func ids(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

// loadAll loads rows, 300 at a time (a statement of 256 rows and one of
// 44), and commits.
func loadAll(t *testing.T, s *sqlite.Store, opt store.LoadOptions, rows []store.StagedCustomer) error {
	ctx := t.Context()
	l, err := s.LoadCustomers(ctx, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Abort()
	for len(rows) > 0 {
		n := min(300, len(rows))
		if err := l.Add(ctx, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
	}
	_, err = l.Commit(ctx, store.Batch{})
	return err
}

// storeHolds checks that s holds exactly want, by id and by phone.
func storeHolds(t *testing.T, s *sqlite.Store, want []store.StagedCustomer) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.CustomerCount(ctx); err != nil || n != len(want) {
		t.Errorf("CustomerCount = %d, %v; want %d", n, err, len(want))
	}
	for _, r := range want {
		c, err := s.Customer(ctx, r.ID)
		if err != nil || c.Canary != r.Canary || c.Scope != r.Scope || string(c.Key) != string(r.Key) || string(c.Name) != string(r.Name) {
			t.Fatalf("Customer(%s) = %+v, %v; want %+v", r.ID, c, err, r.Customer)
		}
		if got, err := s.CustomerByPhone(ctx, r.PhoneIndex); err != nil || got.ID != r.ID {
			t.Fatalf("CustomerByPhone(%s) = %s, %v", r.ID, got.ID, err)
		}
	}
}

func openStore(t *testing.T) *sqlite.Store {
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestStagedLoadStatements: a load into a store that holds customers is
// staged, in full-size statements too, and switched in whole.
func TestStagedLoadStatements(t *testing.T) {
	for _, upsert := range []bool{false, true} {
		t.Run(fmt.Sprintf("upsert=%v", upsert), func(t *testing.T) {
			s := openStore(t)
			first := file(ids(2000, 2001))
			if err := loadAll(t, s, store.LoadOptions{}, first); err != nil {
				t.Fatal(err)
			}
			rows := file(ids(0, 700), ids(800, 1000), ids(700, 800))
			rows[3].Canary, rows[900].Scope = true, "pilot"
			if err := loadAll(t, s, store.LoadOptions{Upsert: upsert}, rows); err != nil {
				t.Fatalf("load: %v", err)
			}
			storeHolds(t, s, append(rows, first...))
		})
	}
}
