package sqlite_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestSampleCustomersLargeTable covers the rowid probes SampleCustomers uses
// on a table much larger than the sample (the conformance suite's table is
// small): distinct non-canary customers, n of them, varying between calls.
func TestSampleCustomersLargeTable(t *testing.T) {
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b store.Batch
	for i := range 3000 {
		b.Customers = append(b.Customers, store.Customer{ID: fmt.Sprintf("c-%05d", i), Region: "GD",
			Canary: i%10 < 3}) // runs of three canaries
	}
	if err := s.Import(ctx, b); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		cs, err := s.SampleCustomers(ctx, 50)
		if err != nil || len(cs) != 50 {
			t.Fatalf("SampleCustomers(50) = %d customers, %v", len(cs), err)
		}
		ids := map[string]bool{}
		for _, c := range cs {
			if c.Canary || ids[c.ID] {
				t.Errorf("sampled %s: canary %v, twice %v", c.ID, c.Canary, ids[c.ID])
			}
			ids[c.ID], seen[c.ID] = true, true
		}
	}
	if len(seen) < 100 {
		t.Errorf("three samples of 50 drew only %d distinct customers", len(seen))
	}
}
