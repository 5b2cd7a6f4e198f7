package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custos-dev/custos/internal/pgtest"
	"github.com/custos-dev/custos/internal/store"
)

// TestClassify checks which errors are marked store.ErrUnavailable: a
// restart, a failover to a read-only standby, a lost connection, an
// exhausted pool are; a caller's cancellation, a missing row and a
// constraint violation are not.
func TestClassify(t *testing.T) {
	pg := func(code string) error { return fmt.Errorf("query: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"admin shutdown 57P01", pg("57P01"), true},
		{"crash shutdown 57P02", pg("57P02"), true},
		{"cannot connect now 57P03", pg("57P03"), true},
		{"connection failure 08006", pg("08006"), true},
		{"disk full 53100", pg("53100"), true},
		{"too many connections 53300", pg("53300"), true},
		{"read-only transaction 25006", pg("25006"), true},
		{"unique violation 23505", pg("23505"), false},
		{"syntax error 42601", pg("42601"), false},
		{"network", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"EOF", fmt.Errorf("receive: %w", io.ErrUnexpectedEOF), true},
		{"conn closed", pgconn.ErrConnClosed, true},
		{"pool wait deadline", fmt.Errorf("acquire: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"no rows", pgx.ErrNoRows, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if errors.Is(got, store.ErrUnavailable) != tc.want {
				t.Errorf("classify(%v) unavailable = %v, want %v", tc.err, !tc.want, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("classify(%v) lost the original error", tc.err)
			}
		})
	}
}

// TestRestartIsUnavailable terminates the store's connections from
// another session (as a restart or a failover does) and checks that the
// store's next calls fail with store.ErrUnavailable or succeed on a fresh
// connection, never with another error, and that it serves again.
func TestRestartIsUnavailable(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.AuditSize(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`); err != nil {
		t.Fatal(err)
	}
	ok := false
	for range 20 {
		_, err := s.AuditSize(ctx)
		if err == nil {
			ok = true
			break
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("after the connections were terminated: %v, want store.ErrUnavailable", err)
		}
	}
	if !ok {
		t.Fatal("the store did not reconnect")
	}
}

// TestPoolExhausted holds the pool's only connection and checks that
// another call fails with store.ErrUnavailable once it has waited the
// acquire timeout, instead of queueing without end, and that the store
// serves again once the connection is back.
func TestPoolExhausted(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	if strings.Contains(url, "://") {
		url += "&pool_max_conns=1"
	} else {
		url += " pool_max_conns=1"
	}
	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pool.acquireTimeout = 100 * time.Millisecond
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.AuditSize(ctx)
	if !errors.Is(err, store.ErrUnavailable) || !errors.Is(err, errPoolExhausted) {
		t.Fatalf("call on an exhausted pool: %v, want store.ErrUnavailable (pool exhausted)", err)
	}
	// Calls that leave the error to Rows.Err get it there, too.
	if _, err := s.Principals(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Principals on an exhausted pool: %v, want store.ErrUnavailable", err)
	}
	if _, err := s.AuditRange(ctx, 0, 10); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("AuditRange on an exhausted pool: %v, want store.ErrUnavailable", err)
	}
	c.Release()
	if _, err := s.AuditSize(ctx); err != nil {
		t.Fatalf("after the connection came back: %v", err)
	}
}
