package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
)

// eventually fails t unless ok holds within 5 s.
func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal(what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func cachedWorld(t *testing.T, s *postgres.Store, at time.Time) {
	t.Helper()
	if err := s.Import(t.Context(), store.Batch{
		Customers: []store.Customer{{ID: "c-1", Region: "GD", Site: "store-1", Name: []byte("n"), Key: []byte("wrapped")}},
		Tickets:   []store.Ticket{{ID: "T-1", Customer: "c-1", Site: "store-1", OpenedBy: "crm", OpenedAt: at, CRM: true}},
	}); err != nil {
		t.Fatal(err)
	}
}

// TestRowCacheFollowsOtherGateways: a gateway that keeps rows forgets each
// one another gateway changes or erases, as soon as that commits; and its
// warm-up holds the open tickets and their customers.
func TestRowCacheFollowsOtherGateways(t *testing.T) {
	gws := gateways(t, 2)
	a, b := gws[0], gws[1]
	ctx := t.Context()
	at := time.Now().Add(-time.Hour)
	cachedWorld(t, b, at)
	a.StartRowCache()
	eventually(t, "the warm-up never took the open ticket and its customer", func() bool {
		return a.CacheHas("ticket", "T-1") && a.CacheHas("customer", "c-1")
	})

	if err := b.CloseTicket(ctx, "T-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a ticket closed on another gateway is still served open", func() bool {
		tk, err := a.Ticket(ctx, "T-1")
		return err == nil && !tk.ClosedAt.IsZero()
	})
	if ct := a.CustomerTicket(ctx, "c-1", "T-1"); ct.TicketErr != nil || ct.Ticket.ClosedAt.IsZero() {
		t.Fatalf("CustomerTicket after the close: %+v", ct)
	}

	if _, err := b.PutCustomer(ctx, store.Customer{ID: "c-1", Region: "GD", Site: "store-2", Key: []byte("wrapped")}, time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a customer changed on another gateway is still served as it was", func() bool {
		c, err := a.Customer(ctx, "c-1")
		return err == nil && c.Site == "store-2"
	})

	if err := b.EraseCustomer(ctx, "c-1", "priv-1", "asked", time.Now()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a customer erased on another gateway is still served", func() bool {
		_, err := a.Customer(ctx, "c-1")
		return errors.Is(err, store.ErrNotFound)
	})
}

// TestRowCacheOwnChanges: a gateway's own change is never followed by the
// old row, not even before the announcement arrives.
func TestRowCacheOwnChanges(t *testing.T) {
	s := gateways(t, 1)[0]
	ctx := t.Context()
	cachedWorld(t, s, time.Now().Add(-time.Hour))
	s.StartRowCache()
	eventually(t, "the cache never kept the ticket", func() bool {
		s.Ticket(ctx, "T-1")
		return s.CacheHas("ticket", "T-1")
	})
	for i := 0; i < 20; i++ {
		if err := s.AssignTicket(ctx, "T-1", "emp-"+string(rune('a'+i))); err != nil {
			t.Fatal(err)
		}
		if tk, err := s.Ticket(ctx, "T-1"); err != nil || tk.Assignee != "emp-"+string(rune('a'+i)) {
			t.Fatalf("after assigning to emp-%c: %+v, %v", 'a'+i, tk, err)
		}
	}
}

// TestRowCacheOffWithoutListener: the cache keeps nothing while its
// listening connection is down, and keeps rows again once it is back.
func TestRowCacheOffWithoutListener(t *testing.T) {
	dbURL := newDatabase(t)
	s := open(t, dbURL)
	ctx := t.Context()
	cachedWorld(t, s, time.Now().Add(-time.Hour))
	s.Customer(ctx, "c-1")
	if s.CacheHas("customer", "c-1") {
		t.Fatal("a store whose row cache was never started kept a row")
	}
	s.StartRowCache()
	eventually(t, "the cache never kept the customer", func() bool {
		s.Customer(ctx, "c-1")
		return s.CacheHas("customer", "c-1")
	})

	admin, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'custos row cache' AND datname = current_database()`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("terminated %d listeners (%v), want 1", n, err)
	}
	eventually(t, "the cache still holds rows after its listener died", func() bool {
		return !s.CacheHas("customer", "c-1")
	})
	eventually(t, "the cache never came back after its listener died", func() bool {
		s.Customer(ctx, "c-1")
		return s.CacheHas("customer", "c-1")
	})
}
