package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// This file holds the methods that guard purposes and identities: ticket
// ownership, one-time code attempts, rate limits, status changes, two-person
// approvals and dashboard sessions. Each decides in one statement, or in one
// transaction on the single writer connection, so concurrent callers in this
// process are serialised by SQLite itself.

// AssignTicket hands an open ticket to another principal.
func (s *Store) AssignTicket(ctx context.Context, id, to string) error {
	return s.updateTicket(ctx, id, `UPDATE tickets SET assignee = ? WHERE id = ? AND closed_at = 0`, to, id)
}

// CloseTicket closes an open ticket.
func (s *Store) CloseTicket(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return errors.New("close ticket: zero time")
	}
	return s.updateTicket(ctx, id, `UPDATE tickets SET closed_at = ? WHERE id = ? AND closed_at = 0`, row.Nanos(at), id)
}

// updateTicket runs an update that applies only to an open ticket, and
// tells "no such ticket" (ErrNotFound) from "closed" (ErrConflict).
func (s *Store) updateTicket(ctx context.Context, id, q string, args ...any) error {
	defer s.cache.ForgetTicket(id)
	return row.Guarded(ctx, sqlTx{s.w}, row.TicketExists, id, q, args...)
}

// sqlTx adapts a database/sql connection or transaction to row.Tx.
type sqlTx struct {
	q interface {
		ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
		QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
		QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	}
}

func (t sqlTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	res, err := t.q.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t sqlTx) QueryRow(ctx context.Context, q string, args ...any) row.Scanner {
	return t.q.QueryRowContext(ctx, q, args...)
}

func (t sqlTx) Query(ctx context.Context, q string, args ...any) (row.Rows, error) {
	rows, err := t.q.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return sqlRows{rows}, nil
}

// sqlRows are *sql.Rows as row.Rows: the error of Close is Err's.
type sqlRows struct{ *sql.Rows }

func (r sqlRows) Close() { r.Rows.Close() }

// CountTicketsOpenedSince counts the tickets principal opened since since.
func (s *Store) CountTicketsOpenedSince(ctx context.Context, principal string, since time.Time) (int, error) {
	var n int
	err := s.rowR(ctx, `SELECT count(*) FROM tickets WHERE opened_by = ? AND opened_at >= ?`, principal, row.Nanos(since)).Scan(&n)
	return n, err
}

// ReserveAttempt reserves one attempt at a consent's code, atomically.
func (s *Store) ReserveAttempt(ctx context.Context, id string, max int, now time.Time) (store.Consent, bool, error) {
	c, err := row.One(s.w.QueryRowContext(ctx, `UPDATE consents SET attempts = attempts + 1
		WHERE id = ? AND attempts < ? AND confirmed_at = 0 AND expires_at > ? RETURNING `+row.ConsentCols, id, max, row.Nanos(now)), row.Consent)
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Consent{}, false, err
	}
	c, err = row.One(s.w.QueryRowContext(ctx, `SELECT `+row.ConsentCols+` FROM consents WHERE id = ?`, id), row.Consent)
	return c, false, err
}

// ChangeStatus sets a principal's status if it is still from.
func (s *Store) ChangeStatus(ctx context.Context, id, from, to, source, by, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := row.Guarded(ctx, sqlTx{tx}, row.PrincipalExists, id, row.ChangeStatus,
			store.NormStatus(to), source, by, reason, id, store.NormStatus(from)); err != nil {
			return err
		}
		return bumpPrincipals(ctx, tx)
	})
}

// Hit counts one event against a fixed-window rate limit.
func (s *Store) Hit(ctx context.Context, key string, now time.Time, window time.Duration, max int) (bool, time.Duration, error) {
	return row.Hit(ctx, sqlTx{s.w}, &s.pruneRates, key, now, window, max)
}

// Approve records one approval of a two-person action; the single writer
// connection decides the approvals of one action one after another.
func (s *Store) Approve(ctx context.Context, key, by string, now time.Time, ttl time.Duration) (firstBy string, done bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		firstBy, done, err = row.Approve(ctx, sqlTx{tx}, key, by, now, ttl)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("approve %s: %w", key, err)
	}
	return firstBy, done, nil
}

// PutSession stores a dashboard session.
func (s *Store) PutSession(ctx context.Context, idHash []byte, principal string, expires time.Time) error {
	return row.PutSession(ctx, sqlTx{s.w}, &s.pruneSessions, idHash, principal, expires)
}

// Session returns a live session's principal and expiry.
func (s *Store) Session(ctx context.Context, idHash []byte) (string, time.Time, error) {
	var p string
	var exp int64
	err := s.rowR(ctx, `SELECT principal, expires FROM sessions WHERE id_hash = ? AND expires > ?`, idHash, time.Now().UnixNano()).Scan(&p, &exp)
	if err != nil {
		return "", time.Time{}, row.NotFound(err)
	}
	return p, row.Time(exp), nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	_, err := s.w.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
	return err
}

// SampleCustomers draws up to n non-canary customers at random. On a table
// much larger than n it probes random rowids (each probe takes the first
// non-canary row at or after a random rowid: one index seek, so the cost
// is O(n log size) whatever the table's size; rows after gaps in the
// rowids are a little likelier). On a small table, or if the probes come
// up short, it sorts the whole id column by random() with a top-n sort,
// which keeps O(n) memory.
func (s *Store) SampleCustomers(ctx context.Context, n int) ([]store.Customer, error) {
	if n <= 0 {
		return nil, nil
	}
	cs, err := s.sampleByRowid(ctx, n)
	if err != nil || len(cs) == n {
		return cs, err
	}
	rows, err := s.r.QueryContext(ctx, row.SelectCustomers+`WHERE c.id IN
		(SELECT id FROM customers WHERE canary = 0 ORDER BY random() LIMIT ?)`, n)
	cs, err = collect(rows, err, row.Customer)
	if err != nil {
		return nil, fmt.Errorf("sample customers: %w", err)
	}
	return cs, nil
}

// sampleByRowid probes random rowids for n distinct non-canary customers;
// it returns fewer (nil on a table under sampleProbeMin times n rows) when
// the probes do not find enough.
func (s *Store) sampleByRowid(ctx context.Context, n int) ([]store.Customer, error) {
	var maxID sql.NullInt64
	if err := s.rowR(ctx, `SELECT max(rowid) FROM customers`).Scan(&maxID); err != nil {
		return nil, fmt.Errorf("sample customers: %w", err)
	}
	if maxID.Int64 < int64(sampleProbeMin*n) {
		return nil, nil
	}
	seen := make(map[string]bool, n)
	var out []store.Customer
	for try := 0; try < 4*n && len(out) < n; try++ {
		c, err := row.One(s.rowR(ctx, row.SelectCustomers+`
			WHERE c.rowid >= ? AND canary = 0 ORDER BY c.rowid LIMIT 1`, 1+rand.Int64N(maxID.Int64)), row.Customer)
		if errors.Is(err, store.ErrNotFound) || err == nil && seen[c.ID] {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sample customers: %w", err)
		}
		seen[c.ID] = true
		out = append(out, c)
	}
	return out, nil
}

// sampleProbeMin is how many times n rows a table needs before
// SampleCustomers probes rowids rather than sorting.
const sampleProbeMin = 20

// Snapshot writes a consistent copy of the database to dst, a file that
// MUST NOT exist yet (os.ErrExist otherwise). The copy is made with VACUUM
// INTO in a read transaction, so writers go on meanwhile; it is written to
// a temporary file beside dst, synced and renamed, so dst either does not
// exist or holds the whole copy. dst is readable by the owner only.
func (s *Store) Snapshot(ctx context.Context, dst string) error {
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("snapshot: %s: %w", dst, os.ErrExist)
	}
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	tmp := f.Name()
	f.Close() // an empty file: VACUUM INTO accepts it and keeps its mode (0600)
	defer os.Remove(tmp)
	if _, err := s.ck.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if f, err = os.Open(tmp); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return fmt.Errorf("snapshot: %s: %w", dst, os.ErrExist)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}
