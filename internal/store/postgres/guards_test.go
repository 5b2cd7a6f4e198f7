package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
)

// TestGuardsAcrossGateways races code attempts, rate-limit hits, status
// changes and approvals from three gateways (three Stores, three pools) on
// one database: the limits must hold for all of them together, not per
// gateway, or an attacker would spread a burst over the gateways.
func TestGuardsAcrossGateways(t *testing.T) {
	gws := gateways(t, 3)
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	if err := gws[0].CreateConsent(ctx, store.Consent{ID: "k-1", Customer: "c-1", Principal: "emp-1",
		CodeHash: []byte("h"), CreatedAt: at, ExpiresAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := gws[0].PutPrincipal(ctx, store.Principal{ID: "emp-1", Role: "store_clerk"}); err != nil {
		t.Fatal(err)
	}

	const n = 60
	var (
		wg                            sync.WaitGroup
		mu                            sync.Mutex
		reserved, hits, changes, done int
		errs                          []error
	)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g := gws[i%len(gws)]
			<-start
			_, ok, err1 := g.ReserveAttempt(ctx, "k-1", 5, at)
			hit, _, err2 := g.Hit(ctx, "ip:x", at, time.Hour, 5)
			err3 := g.ChangeStatus(ctx, "emp-1", store.StatusActive, store.StatusSuspended, store.SourceAnalyst, fmt.Sprint("sec-", i), "race")
			if errors.Is(err3, store.ErrConflict) {
				err3 = nil
			} else if err3 == nil {
				mu.Lock()
				changes++
				mu.Unlock()
			}
			_, d, err4 := g.Approve(ctx, "suspend:sec-9", fmt.Sprint("sec-", i), at, time.Hour)
			mu.Lock()
			defer mu.Unlock()
			if ok {
				reserved++
			}
			if hit {
				hits++
			}
			if d {
				done++
			}
			if err := errors.Join(err1, err2, err3, err4); err != nil {
				errs = append(errs, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if reserved != 5 || hits != 5 || changes != 1 || done != n/2 {
		t.Errorf("reserved %d, hits %d, status changes %d, approvals done %d; want 5, 5, 1, %d", reserved, hits, changes, done, n/2)
	}
}

// TestMigrateFromV2 opens a database at schema version 2, with rows in it:
// migration 3 must add the new columns with their defaults and keep every
// row.
func TestMigrateFromV2(t *testing.T) {
	dbURL := newDatabase(t)
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_audit_time.sql"} {
		if _, err := conn.Exec(ctx, readFile(t, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
		`INSERT INTO schema_migrations (version, name) VALUES (1, '0001_init.sql'), (2, '0002_audit_time.sql')`,
		`INSERT INTO principals (id, name, org, org_kind, role, site, region, status) VALUES ('emp-1', 'A', 'dist-1', 'distributor', 'store_clerk', 'store-1', 'GD', 'suspended')`,
		`INSERT INTO tickets (id, customer, site, opened_by, opened_at) VALUES ('t-1', 'c-1', 'store-1', 'emp-1', 1)`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dbURL)
	if p, err := s.Principal(ctx, "emp-1"); err != nil || p.Status != store.StatusSuspended || p.StatusSource != "" {
		t.Errorf("Principal after migration = %+v, %v", p, err)
	}
	if tk, err := s.Ticket(ctx, "t-1"); err != nil || tk.Assignee != "" || tk.CRM || !tk.ExpiresAt.IsZero() {
		t.Errorf("Ticket after migration = %+v, %v", tk, err)
	}
	if err := s.AssignTicket(ctx, "t-1", "emp-2"); err != nil {
		t.Errorf("AssignTicket after migration: %v", err)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
