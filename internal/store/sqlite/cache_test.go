package sqlite

import (
	"context"
	"os"
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
	c := store.Customer{ID: "c-1", Region: "GD", Site: "store-1", Key: []byte("wrapped key")}
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

// TestWarmCacheTakesOpenTickets: a store asked to StartRowCache reads the
// open tickets and their customers into its cache, and nothing closed,
// expired or unticketed.
func TestWarmCacheTakesOpenTickets(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	a := openAt(t, path)
	now := time.Now()
	var b store.Batch
	for _, id := range []string{"c-open", "c-closed", "c-expired", "c-none"} {
		b.Customers = append(b.Customers, store.Customer{ID: id, Region: "GD", Site: "store-1", Key: []byte("wrapped key")})
	}
	tk := func(id, customer string, expires time.Time) store.Ticket {
		return store.Ticket{ID: id, Customer: customer, Site: "store-1", OpenedBy: "x", OpenedAt: now.Add(-time.Hour), ExpiresAt: expires}
	}
	b.Tickets = []store.Ticket{tk("T-open", "c-open", time.Time{}), tk("T-closed", "c-closed", time.Time{}), tk("T-expired", "c-expired", now.Add(-time.Minute))}
	if err := a.Import(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := a.CloseTicket(ctx, "T-closed", now); err != nil {
		t.Fatal(err)
	}
	a.Close()

	s := openAt(t, path)
	defer s.Close()
	s.StartRowCache()
	deadline := time.Now().Add(5 * time.Second)
	for !s.cache.Has("customer", "c-open") || !s.cache.Has("ticket", "T-open") {
		if time.Now().After(deadline) {
			t.Fatal("the open ticket and its customer never reached the cache")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, id := range []string{"T-closed", "T-expired"} {
		if s.cache.Has("ticket", id) {
			t.Errorf("ticket %s is cached by the warm-up", id)
		}
	}
	for _, id := range []string{"c-closed", "c-expired", "c-none"} {
		if s.cache.Has("customer", id) {
			t.Errorf("customer %s is cached by the warm-up", id)
		}
	}
	if got, err := s.Customer(ctx, "c-open"); err != nil || got.Site != "store-1" {
		t.Fatalf("warm row: %+v %v", got, err)
	}
}

// TestCacheOutlivesOwnCheckpoints: the background checkpoints and the WAL's
// restarts are this process's own, so they keep the row cache (a WAL
// truncated by another connection reads as another process's commit), and
// the WAL file still shrinks back to its limit once it has grown past it.
func TestCacheOutlivesOwnCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := openAt(t, path)
	defer s.Close()
	if err := s.Import(ctx, store.Batch{Customers: []store.Customer{{ID: "c-1", Region: "GD", Site: "store-1", Key: []byte("wrapped key")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Customer(ctx, "c-1"); err != nil {
		t.Fatal(err)
	}
	// More than the WAL's 64 MiB limit, in records of 1 MiB.
	big := make([]byte, 1<<20)
	for i := 0; i < 72; i++ {
		rec := store.AuditRecord{Time: time.Unix(int64(i), 0), Actor: "emp-1", Event: big, Salt: []byte("salt")}
		if _, err := s.AppendAudit(ctx, []store.AuditRecord{rec}); err != nil {
			t.Fatal(err)
		}
	}
	limit := int64(64 << 20)
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Each commit after a complete checkpoint starts the WAL over.
		if _, err := s.AppendAudit(ctx, auditRecs(1)); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() <= limit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("WAL still %d bytes, over its limit of %d", fi.Size(), limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(2 * cacheCheckEvery)
	if !s.cache.Has("customer", "c-1") {
		t.Fatal("the row cache was emptied by this process's own checkpoints")
	}
}
