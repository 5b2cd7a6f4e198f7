package row

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/prune"
)

// Tx runs the statements of the code both stores share, on a connection
// or in a transaction of either: the sqlite store adapts database/sql, the
// postgres store pgx. Statements are written with ? placeholders, which
// the postgres store numbers with Rebind; they keep to the SQL both
// dialects read alike (INSERT … ON CONFLICT, RETURNING).
type Tx interface {
	// Exec runs a statement and returns how many rows it changed.
	Exec(ctx context.Context, q string, args ...any) (int64, error)
	// QueryRow runs a query for one row; its Scan reports sql.ErrNoRows
	// (pgx.ErrNoRows wraps it) when there is none.
	QueryRow(ctx context.Context, q string, args ...any) Scanner
	// Query runs a query for any number of rows.
	Query(ctx context.Context, q string, args ...any) (Rows, error)
}

// Rebind numbers the ? placeholders of q as PostgreSQL's $1, $2, …. q
// MUST NOT hold a ? that is not a placeholder.
func Rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for {
		i := strings.IndexByte(q, '?')
		if i < 0 {
			break
		}
		n++
		b.WriteString(q[:i])
		b.WriteString(Dollar(n))
		q = q[i+1:]
	}
	b.WriteString(q)
	return b.String()
}

// NotFound maps "no rows" (from database/sql or pgx) to store.ErrNotFound
// and returns every other error unchanged.
func NotFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// One scans the single row r with scan, and maps "no rows" to
// store.ErrNotFound; on an error the value is T's zero value.
func One[T any](r Scanner, scan func(Scanner) (T, error)) (T, error) {
	v, err := scan(r)
	if err != nil {
		var zero T
		return zero, NotFound(err)
	}
	return v, nil
}

// Guarded runs update, which changes a row only while it is in the state
// the caller expects. When it changes nothing, Guarded tells a missing row
// (store.ErrNotFound) from one in another state (store.ErrConflict) by
// exists, a query that selects one integer column of the row whose key is
// key.
func Guarded(ctx context.Context, tx Tx, exists string, key any, update string, args ...any) error {
	n, err := tx.Exec(ctx, update, args...)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var one int
	if err := tx.QueryRow(ctx, exists, key).Scan(&one); err != nil {
		return NotFound(err)
	}
	return store.ErrConflict
}

// Statements both stores guard rows with.
const (
	TicketExists     = `SELECT 1 FROM tickets WHERE id = ?`
	PrincipalExists  = `SELECT 1 FROM principals WHERE id = ?`
	ConsentExists    = `SELECT 1 FROM consents WHERE id = ?`
	BreakGlassExists = `SELECT 1 FROM breakglass WHERE id = ?`

	// ChangeStatus sets a principal's status if it is still the one
	// given: args to, source, by, reason, id, from (statuses normalised
	// with store.NormStatus).
	ChangeStatus = `UPDATE principals SET status = ?, status_source = ?, status_by = ?, status_reason = ?
		WHERE id = ? AND (CASE status WHEN '' THEN 'active' ELSE status END) = ?`
	// BumpPrincipals counts one change to the principals.
	BumpPrincipals = `INSERT INTO versions (name, v) VALUES ('principals', 1)
		ON CONFLICT (name) DO UPDATE SET v = versions.v + 1`
)

// ConfirmConsent confirms consent id once (store.ErrConflict if it
// already was).
func ConfirmConsent(ctx context.Context, tx Tx, id string, at, grantUntil time.Time) error {
	return Guarded(ctx, tx, `SELECT 1 FROM consents WHERE id = ?`, id,
		`UPDATE consents SET confirmed_at = ?, grant_until = ? WHERE id = ? AND confirmed_at = 0`, Nanos(at), Nanos(grantUntil), id)
}

// ApproveBreakGlass approves break-glass request id once (store.ErrConflict
// if it already was).
func ApproveBreakGlass(ctx context.Context, tx Tx, id, approver string, at, expires time.Time) error {
	return Guarded(ctx, tx, `SELECT 1 FROM breakglass WHERE id = ?`, id,
		`UPDATE breakglass SET approved_by = ?, approved_at = ?, expires_at = ? WHERE id = ? AND approved_by = ''`,
		approver, Nanos(at), Nanos(expires), id)
}

// Hit counts one event against the fixed-window rate limit key (at most
// max in each window): the insert and the conditional increment are one
// statement on the window's row. When prune says it is time, it deletes the
// windows older than store.RateRetention, as best it can.
func Hit(ctx context.Context, tx Tx, prune *prune.Every, key string, now time.Time, window time.Duration, max int) (bool, time.Duration, error) {
	start, end := store.RateWindow(now, window)
	if max < 1 {
		return false, end.Sub(now), nil
	}
	var n int
	err := tx.QueryRow(ctx, `INSERT INTO ratelimit (key, start, ends, n) VALUES (?, ?, ?, 1)
		ON CONFLICT (key, start, ends) DO UPDATE SET n = ratelimit.n + 1 WHERE ratelimit.n < ? RETURNING n`,
		key, start.UnixNano(), end.UnixNano(), max).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return false, end.Sub(now), nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("rate limit: %w", err)
	}
	if prune.Due(now) {
		// Best effort: rows left now go next time.
		tx.Exec(ctx, `DELETE FROM ratelimit WHERE ends < ?`, now.Add(-store.RateRetention).UnixNano()) //nolint:errcheck
	}
	return true, 0, nil
}

// PutSession stores a dashboard session and, when prune says it is time,
// deletes the expired ones (best effort).
func PutSession(ctx context.Context, tx Tx, prune *prune.Every, idHash []byte, principal string, expires time.Time) error {
	now := time.Now()
	if _, err := tx.Exec(ctx, `INSERT INTO sessions (id_hash, principal, expires) VALUES (?, ?, ?)
		ON CONFLICT (id_hash) DO UPDATE SET principal = excluded.principal, expires = excluded.expires`,
		idHash, principal, Nanos(expires)); err != nil {
		return fmt.Errorf("put session: %w", err)
	}
	if prune.Due(now) {
		tx.Exec(ctx, `DELETE FROM sessions WHERE expires <= ?`, now.UnixNano()) //nolint:errcheck
	}
	return nil
}

// Approve records one approval by by of the two-person action key in tx,
// which the caller MUST hold so that the approvals of one key are decided
// one after another. The first approval, or one after an earlier one
// expired (older than ttl at now), is kept and returns firstBy == by; the
// same approver again changes nothing; a second approver completes the
// action (done) and removes the pending approval.
func Approve(ctx context.Context, tx Tx, key, by string, now time.Time, ttl time.Duration) (firstBy string, done bool, err error) {
	var at int64
	err = tx.QueryRow(ctx, `SELECT by, at FROM approvals WHERE key = ?`, key).Scan(&firstBy, &at)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && at <= now.Add(-ttl).UnixNano():
		_, err = tx.Exec(ctx, `INSERT INTO approvals (key, by, at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET by = excluded.by, at = excluded.at`, key, by, Nanos(now))
		return by, false, err
	case err != nil:
		return "", false, err
	case firstBy == by:
		return firstBy, false, nil
	}
	_, err = tx.Exec(ctx, `DELETE FROM approvals WHERE key = ?`, key)
	return firstBy, true, err
}

// Erase deletes customer id's row, record key, former values and pending
// erasure request in tx and keeps a tombstone (store.ErrNotFound if there
// is no such customer). What else erasing takes (scrubbing freed pages) is
// the store's.
func Erase(ctx context.Context, tx Tx, id, by, reason string, at time.Time) error {
	n, err := tx.Exec(ctx, `DELETE FROM customers WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	for _, table := range []string{"customer_keys", "customer_former", "erasure_requests"} {
		if _, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE customer = ?`, id); err != nil {
			return err
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO erasures (customer, at, by, reason) VALUES (?, ?, ?, ?)
		ON CONFLICT (customer) DO NOTHING`, id, Nanos(at), by, reason)
	return err
}

// InsertIncident inserts inc in tx unless an incident with its leak hash
// exists, and returns the id of the one that stands (created if it is
// inc's).
func InsertIncident(ctx context.Context, tx Tx, inc store.Incident) (id int64, created bool, err error) {
	err = tx.QueryRow(ctx, `INSERT INTO incidents (title, found_at, fields, notice, leak_hash, created_by, created_at, report)
		VALUES (?,?,?,?,?,?,?,?) ON CONFLICT (leak_hash) DO NOTHING RETURNING id`,
		inc.Title, Nanos(inc.FoundAt), Fields(inc), inc.Notice, inc.LeakHash, inc.CreatedBy, Nanos(inc.CreatedAt), inc.Report).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = tx.QueryRow(ctx, `SELECT id FROM incidents WHERE leak_hash = ?`, inc.LeakHash).Scan(&id)
		return id, false, err
	}
	return id, err == nil, err
}
