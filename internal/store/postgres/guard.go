package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// This file holds the methods that guard purposes and identities: ticket
// ownership, one-time code attempts, rate limits, status changes, two-person
// approvals and dashboard sessions. Each decides in one statement whose row
// lock orders concurrent callers on every gateway (READ COMMITTED re-reads
// a row that changed while the statement waited for it), or, for Approve,
// in a transaction under an advisory lock on the action.

// AssignTicket hands an open ticket to another principal.
func (s *Store) AssignTicket(ctx context.Context, id, to string) error {
	if err := s.updateTicket(ctx, id, `UPDATE tickets SET assignee = ? WHERE id = ? AND closed_at = 0`, to, id); err != nil {
		return fmt.Errorf("assign ticket: %w", err)
	}
	return nil
}

// CloseTicket closes an open ticket.
func (s *Store) CloseTicket(ctx context.Context, id string, at time.Time) error {
	if at.IsZero() {
		return errors.New("close ticket: zero time")
	}
	if err := s.updateTicket(ctx, id, `UPDATE tickets SET closed_at = ? WHERE id = ? AND closed_at = 0`, row.Nanos(at), id); err != nil {
		return fmt.Errorf("close ticket: %w", err)
	}
	return nil
}

// updateTicket runs an update that applies only to an open ticket, and
// tells "no such ticket" (ErrNotFound) from "closed" (ErrConflict).
func (s *Store) updateTicket(ctx context.Context, id, q string, args ...any) error {
	defer s.cache.ForgetTicket(id)
	return row.Guarded(ctx, pgTx{s.pool}, row.TicketExists, id, q, args...)
}

// pgTx adapts the pool or a transaction to row.Tx, numbering the
// placeholders of its statements.
type pgTx struct {
	q interface {
		Exec(ctx context.Context, q string, args ...any) (pgconn.CommandTag, error)
		QueryRow(ctx context.Context, q string, args ...any) pgx.Row
		Query(ctx context.Context, q string, args ...any) (pgx.Rows, error)
	}
}

func (t pgTx) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	tag, err := t.q.Exec(ctx, row.Rebind(q), args...)
	return tag.RowsAffected(), err
}

func (t pgTx) QueryRow(ctx context.Context, q string, args ...any) row.Scanner {
	return t.q.QueryRow(ctx, row.Rebind(q), args...)
}

func (t pgTx) Query(ctx context.Context, q string, args ...any) (row.Rows, error) {
	return t.q.Query(ctx, row.Rebind(q), args...)
}

// CountTicketsOpenedSince counts the tickets principal opened since since.
func (s *Store) CountTicketsOpenedSince(ctx context.Context, principal string, since time.Time) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM tickets WHERE opened_by = $1 AND opened_at >= $2`, principal, row.Nanos(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count tickets: %w", err)
	}
	return n, nil
}

// ReserveAttempt reserves one attempt at a consent's code in one UPDATE:
// concurrent reservations, from any gateway, queue on the row's lock and
// each re-checks the attempts left after the one before it committed.
func (s *Store) ReserveAttempt(ctx context.Context, id string, max int, now time.Time) (store.Consent, bool, error) {
	c, err := row.One(s.pool.QueryRow(ctx, `UPDATE consents SET attempts = attempts + 1
		WHERE id = $1 AND attempts < $2 AND confirmed_at = 0 AND expires_at > $3 RETURNING `+row.ConsentCols, id, max, row.Nanos(now)), row.Consent)
	if err == nil {
		return c, true, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Consent{}, false, fmt.Errorf("reserve attempt: %w", err)
	}
	c, err = s.Consent(ctx, id)
	return c, false, err
}

// ChangeStatus sets a principal's status if it is still from: the
// compare and the set are one UPDATE, so of two changes from the same
// status only the first applies.
func (s *Store) ChangeStatus(ctx context.Context, id, from, to, source, by, reason string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := row.Guarded(ctx, pgTx{tx}, row.PrincipalExists, id, row.ChangeStatus,
			store.NormStatus(to), source, by, reason, id, store.NormStatus(from)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, row.BumpPrincipals)
		return err
	})
	if err != nil {
		return fmt.Errorf("change status of %s: %w", id, err)
	}
	return nil
}

// Hit counts one event against a fixed-window rate limit: the insert and
// the conditional increment are one statement on the window's row.
func (s *Store) Hit(ctx context.Context, key string, now time.Time, window time.Duration, max int) (bool, time.Duration, error) {
	return row.Hit(ctx, pgTx{s.pool}, &s.pruneRates, key, now, window, max)
}

// approveLock is the first key of the two-key advisory locks Approve
// takes; the second is the hash of the action's key ("cusa" in ASCII).
const approveLock int32 = 0x63757361

// Approve records one approval of a two-person action. It holds a
// transaction-scoped advisory lock on the action's key, so the approvals of
// one action, from every gateway, are decided one after another; each
// statement after the lock reads what the one before committed (READ
// COMMITTED).
func (s *Store) Approve(ctx context.Context, key, by string, now time.Time, ttl time.Duration) (firstBy string, done bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, approveLock, key); err != nil {
			return err
		}
		firstBy, done, err = row.Approve(ctx, pgTx{tx}, key, by, now, ttl)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("approve %s: %w", key, err)
	}
	return firstBy, done, nil
}

// PutSession stores a dashboard session.
func (s *Store) PutSession(ctx context.Context, idHash []byte, principal string, expires time.Time) error {
	return row.PutSession(ctx, pgTx{s.pool}, &s.pruneSessions, orEmpty(idHash), principal, expires)
}

// Session returns a live session's principal and expiry.
func (s *Store) Session(ctx context.Context, idHash []byte) (string, time.Time, error) {
	var p string
	var exp int64
	err := s.pool.QueryRow(ctx, `SELECT principal, expires FROM sessions WHERE id_hash = $1 AND expires > $2`,
		orEmpty(idHash), time.Now().UnixNano()).Scan(&p, &exp)
	if err != nil {
		return "", time.Time{}, row.NotFound(err)
	}
	return p, row.Time(exp), nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE id_hash = $1`, orEmpty(idHash)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// sampleScan is the table size (as the planner estimates it) above which
// SampleCustomers reads a Bernoulli sample of the table rather than all of
// it.
const sampleScan = 100_000

// SampleCustomers draws up to n non-canary customers at random. On a large
// table it reads a Bernoulli sample of about 8n rows (TABLESAMPLE), and
// falls back to the whole table if that came up short; either way the
// server keeps only n rows in its top-n sort.
func (s *Store) SampleCustomers(ctx context.Context, n int) ([]store.Customer, error) {
	if n <= 0 {
		return nil, nil
	}
	var est float64
	if err := s.pool.QueryRow(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass`).Scan(&est); err != nil {
		return nil, fmt.Errorf("sample customers: %w", err)
	}
	sample := func(q string, args ...any) ([]store.Customer, error) {
		rows, _ := s.pool.Query(ctx, q, args...)
		cs, err := collect(rows, row.Customer)
		if err != nil {
			return nil, fmt.Errorf("sample customers: %w", err)
		}
		return cs, nil
	}
	if est > sampleScan {
		pct := min(100, 100*8*float64(n)/est)
		cs, err := sample(row.SelectCustomers+`WHERE c.id IN (SELECT id FROM customers TABLESAMPLE BERNOULLI ($1)
			WHERE NOT canary ORDER BY random() LIMIT $2)`, pct, n)
		if err != nil || len(cs) == n {
			return cs, err
		}
	}
	return sample(row.SelectCustomers+`WHERE c.id IN (SELECT id FROM customers WHERE NOT canary ORDER BY random() LIMIT $1)`, n)
}
