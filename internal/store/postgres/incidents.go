package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// CreateIncident records inc and its customers unless its list is known.
func (s *Store) CreateIncident(ctx context.Context, inc store.Incident, customers []string) (store.Incident, bool, error) {
	created := false
	var id int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if id, created, err = row.InsertIncident(ctx, pgTx{tx}, inc); err != nil || !created {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO incident_customers (incident_id, customer) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING`, id, customers)
		return err
	})
	if err != nil {
		return store.Incident{}, false, fmt.Errorf("create incident: %w", err)
	}
	out, err := s.Incident(ctx, id)
	return out, created, err
}

// Incident returns one incident with its counts.
func (s *Store) Incident(ctx context.Context, id int64) (store.Incident, error) {
	in, err := row.Incident(s.pool.QueryRow(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+` WHERE i.id = $1`, id))
	return in, row.NotFound(err)
}

// ListIncidents returns incidents, newest first.
func (s *Store) ListIncidents(ctx context.Context, limit int) ([]store.Incident, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+` ORDER BY i.id DESC LIMIT $1`, store.ClampLimit(limit, 100, 1000))
	return collect(rows, row.Incident)
}

// IncidentsOf returns the incidents that affected customer, newest first.
func (s *Store) IncidentsOf(ctx context.Context, customer string) ([]store.Incident, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+`
		WHERE i.id IN (SELECT incident_id FROM incident_customers WHERE customer = $1) ORDER BY i.id DESC`, customer)
	return collect(rows, row.Incident)
}

// IncidentCustomers returns an incident's customers.
func (s *Store) IncidentCustomers(ctx context.Context, id int64) ([]store.IncidentCustomer, error) {
	rows, _ := s.pool.Query(ctx, `SELECT customer, notified_at FROM incident_customers WHERE incident_id = $1 ORDER BY customer`, id)
	return collect(rows, row.IncidentCustomer)
}

// PendingNotices returns notices not yet sent, oldest incident first.
func (s *Store) PendingNotices(ctx context.Context, limit int) ([]store.Notice, error) {
	rows, _ := s.pool.Query(ctx, `SELECT incident_id, customer FROM incident_customers
		WHERE notified_at = 0 ORDER BY incident_id, customer LIMIT $1`, store.ClampLimit(limit, 100, 10000))
	return collect(rows, row.Notice)
}

// MarkNotified records a notice as sent, once across gateways.
func (s *Store) MarkNotified(ctx context.Context, n store.Notice, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE incident_customers SET notified_at = $1 WHERE incident_id = $2 AND customer = $3 AND notified_at = 0`,
		row.Nanos(at), n.Incident, n.Customer)
	if err != nil {
		return false, fmt.Errorf("mark notice: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// EraseCustomer deletes the customer's row and record key and keeps a
// tombstone, then VACUUMs customer_keys (a small table) so that the key's
// dead tuple is pruned now, not when autovacuum comes by. PostgreSQL does
// not scrub what it prunes, and the deleted row's tuples stay in customers'
// pages until VACUUM reclaims them; without the key they are ciphertexts
// no one can open (docs/THREATS.md). A failed VACUUM is not a failed
// erasure: autovacuum prunes the key later.
func (s *Store) EraseCustomer(ctx context.Context, id, by, reason string, at time.Time) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return row.Erase(ctx, pgTx{tx}, id, by, reason, at)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("erase customer: %w", err)
	}
	if err == nil {
		s.pool.Exec(ctx, `VACUUM customer_keys`) //nolint:errcheck // best effort, see above
	}
	return err
}

// Erased reports whether id was erased.
func (s *Store) Erased(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM erasures WHERE customer = $1`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("erased: %w", err)
	}
	return n > 0, nil
}

// RequestErasure records a customer's request to be erased, once.
func (s *Store) RequestErasure(ctx context.Context, customer string, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO erasure_requests (customer, at) VALUES ($1, $2) ON CONFLICT (customer) DO NOTHING`, customer, row.Nanos(at))
	if err != nil {
		return false, fmt.Errorf("request erasure: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// ErasureRequests returns the pending requests, oldest first.
func (s *Store) ErasureRequests(ctx context.Context) ([]store.ErasureRequest, error) {
	rows, _ := s.pool.Query(ctx, `SELECT customer, at FROM erasure_requests ORDER BY at, customer`)
	return collect(rows, row.ErasureRequest)
}
