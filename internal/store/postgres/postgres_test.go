package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/pgtest"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
	"github.com/custos-dev/custos/internal/store/storetest"
)

func adminURL() string { return pgtest.AdminURL() }

func newDatabase(t testing.TB) string { return pgtest.NewDatabase(t) }

// gateways opens n stores on one new database, as n gateways would.
func gateways(t testing.TB, n int) []*postgres.Store {
	t.Helper()
	dbURL := newDatabase(t)
	gws := make([]*postgres.Store, n)
	for i := range gws {
		gws[i] = open(t, dbURL)
	}
	return gws
}

func open(t testing.TB, dbURL string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store conformance suite, each subtest on its
// own fresh database, with the row cache on, as a serving gateway has it.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, newDatabase(t))
		s.StartRowCache()
		return s
	})
}

// TestMigrateConcurrently starts several stores on one new database at
// once, as gateways starting together would: each migration must be
// applied exactly once and every store must come up.
func TestMigrateConcurrently(t *testing.T) {
	dbURL := newDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(t.Context(), dbURL)
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = s.SetMetaOnce(t.Context(), "k", []byte(fmt.Sprint(i)))
			s.Close()
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var rows, maxv int
	if err := conn.QueryRow(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&rows, &maxv); err != nil {
		t.Fatal(err)
	}
	if maxv != postgres.SchemaVersion() || rows != postgres.SchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to version %d, want one per version up to %d", rows, maxv, postgres.SchemaVersion())
	}
	// Reopening an up-to-date database changes nothing.
	s := open(t, dbURL)
	if v, err := s.Meta(t.Context(), "k"); err != nil || len(v) == 0 {
		t.Errorf("Meta after reopen = %q, %v", v, err)
	}
}

// TestSchemaTooNew checks that a custos older than the database refuses to
// run on it rather than writing to a schema it does not know.
func TestSchemaTooNew(t *testing.T) {
	dbURL := newDatabase(t)
	s := open(t, dbURL)
	s.Close()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future.sql')`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), dbURL)
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Errorf("Open on a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
}

// TestOpenErrorsHidePassword checks that a bad or unreachable URL gives an
// error that does not repeat the password in it.
func TestOpenErrorsHidePassword(t *testing.T) {
	tests := []struct{ name, url string }{
		{"bad option", "postgres://custos:s3cretpw@127.0.0.1:5432/db?sslmode=bogus"},
		{"unreachable", "postgres://custos:s3cretpw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2"},
		{"not a url", "postgres://custos:s3cretpw@[::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(t.Context(), tc.url)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), "s3cretpw") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// TestQuotaPruning checks that old quota windows are deleted once they are
// past QuotaRetention, and that recent ones are kept.
func TestQuotaPruning(t *testing.T) {
	dbURL := newDatabase(t)
	s := open(t, dbURL)
	ctx := t.Context()
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	charge := func(p string, at time.Time) {
		t.Helper()
		if _, err := s.ChargeQuota(ctx, p, "c-1", at, store.QuotaLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	windows := func(p string) []string {
		t.Helper()
		rows, _ := conn.Query(ctx, `SELECT win FROM quota WHERE principal = $1 ORDER BY win`, p)
		ws, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	charge("emp-1", day.Add(9*time.Hour))
	charge("emp-2", day.Add(9*time.Hour))
	charge("emp-1", day.Add(10*time.Hour))
	charge("emp-1", day.Add(11*time.Hour+30*time.Minute))
	if got, want := windows("emp-1"), []string{"d:20260302", "h:2026030209", "h:2026030210", "h:2026030211"}; !slices.Equal(got, want) {
		t.Errorf("windows after 3 hours = %v, want %v (within retention)", got, want)
	}
	charge("emp-1", day.Add(12*time.Hour))
	if got, want := windows("emp-1"), []string{"d:20260302", "h:2026030210", "h:2026030211", "h:2026030212"}; !slices.Equal(got, want) {
		t.Errorf("windows after 4 hours = %v, want %v", got, want)
	}
	charge("emp-1", day.AddDate(0, 0, 3).Add(time.Hour))
	if got, want := windows("emp-1"), []string{"d:20260305", "h:2026030501"}; !slices.Equal(got, want) {
		t.Errorf("windows 3 days later = %v, want %v", got, want)
	}
	// Pruning is per principal.
	if got, want := windows("emp-2"), []string{"d:20260302", "h:2026030209"}; !slices.Equal(got, want) {
		t.Errorf("another principal's windows = %v, want %v", got, want)
	}
	// The counters the charge reads (migration 0010) follow every insert
	// and delete: one per window left, none for a pruned one.
	rows, _ := conn.Query(ctx, `SELECT c.principal || ' ' || c.win || ' ' || c.n || ' ' || (SELECT count(*) FROM quota q WHERE q.principal = c.principal AND q.win = c.win)
		FROM quota_counts c ORDER BY 1`)
	counts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"emp-1 d:20260305 1 1", "emp-1 h:2026030501 1 1", "emp-2 d:20260302 1 1", "emp-2 h:2026030209 1 1"}
	if !slices.Equal(counts, want) {
		t.Errorf("quota_counts = %q, want %q", counts, want)
	}
}

// TestCancelledCalls cancels quota charges and audit appends at random
// points, including mid-transaction, and checks that nothing is left
// locked (later calls finish), no quota is overspent and the audit log has
// no gaps.
func TestCancelledCalls(t *testing.T) {
	dbURL := newDatabase(t)
	s := open(t, dbURL)
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const n, limit = 64, 20
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(t.Context(), time.Duration(i%8)*300*time.Microsecond)
			defer cancel()
			s.ChargeQuota(ctx, "emp-1", fmt.Sprintf("c-%d", i), at, store.QuotaLimits{PerHour: limit})
			s.AppendAudit(ctx, []store.AuditRecord{{Time: at, Actor: "emp-1", Customer: "c-1", Event: []byte("e"), Salt: []byte("s")}})
		}()
	}
	wg.Wait()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	r, err := s.ChargeQuota(ctx, "emp-1", "c-last", at, store.QuotaLimits{PerHour: limit})
	if err != nil {
		t.Fatalf("charge after cancellations: %v", err)
	}
	if r.HourCount > limit {
		t.Errorf("HourCount = %d, over the limit %d", r.HourCount, limit)
	}
	first, err := s.AppendAudit(ctx, []store.AuditRecord{{Time: at, Actor: "emp-1", Customer: "c-1", Event: []byte("e"), Salt: []byte("s")}})
	if err != nil {
		t.Fatalf("append after cancellations: %v", err)
	}
	recs, err := s.AuditRange(ctx, 0, first+1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		if r.Index != uint64(i) {
			t.Fatalf("record %d has index %d: gap", i, r.Index)
		}
	}
	if uint64(len(recs)) != first+1 {
		t.Errorf("%d records, want %d", len(recs), first+1)
	}
}
