package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// TestCacheFollowsOtherWriters: a row cached by a serving process is
// dropped when another process (here a second Store on the same file, as
// "custos import" would be) commits a change.
func TestCacheFollowsOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	a := openAt(t, path)
	defer a.Close()
	b := openAt(t, path)
	defer b.Close()
	c := store.Customer{ID: "c-1", Region: "GD", Site: "store-1"}
	if err := a.Import(ctx, store.Batch{Customers: []store.Customer{c}, Tickets: []store.Ticket{{ID: "T-1", Customer: "c-1", Site: "store-1", OpenedBy: "x", OpenedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Customer(ctx, "c-1"); err != nil || got.Region != "GD" {
		t.Fatalf("first read: %+v %v", got, err)
	}
	a.Ticket(ctx, "T-1")
	c.Region = "SH"
	if err := b.Import(ctx, store.Batch{Customers: []store.Customer{c}, Tickets: []store.Ticket{{ID: "T-1", Customer: "c-1", Site: "store-2", OpenedBy: "x", OpenedAt: time.Now()}}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		got, _ := a.Customer(ctx, "c-1")
		tk, _ := a.Ticket(ctx, "T-1")
		if got.Region == "SH" && tk.Site == "store-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache still serves the old rows after another writer's commit: %+v %+v", got, tk)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
