package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// CreateIncident records inc and its customers unless its list is known.
func (s *Store) CreateIncident(ctx context.Context, inc store.Incident, customers []string) (store.Incident, bool, error) {
	created := false
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if id, created, err = row.InsertIncident(ctx, sqlTx{tx}, inc); err != nil || !created {
			return err
		}
		st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO incident_customers (incident_id, customer) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, c := range customers {
			if _, err := st.ExecContext(ctx, id, c); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return store.Incident{}, false, fmt.Errorf("create incident: %w", err)
	}
	out, err := s.Incident(ctx, id)
	return out, created, err
}

// Incident returns one incident with its counts.
func (s *Store) Incident(ctx context.Context, id int64) (store.Incident, error) {
	in, err := row.Incident(s.r.QueryRowContext(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+` WHERE i.id = ?`, id))
	return in, row.NotFound(err)
}

// ListIncidents returns incidents, newest first.
func (s *Store) ListIncidents(ctx context.Context, limit int) ([]store.Incident, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+` ORDER BY i.id DESC LIMIT ?`, store.ClampLimit(limit, 100, 1000))
	return collect(rows, err, row.Incident)
}

// IncidentsOf returns the incidents that affected customer, newest first.
func (s *Store) IncidentsOf(ctx context.Context, customer string) ([]store.Incident, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+row.IncidentCols+row.IncidentFrom+`
		WHERE i.id IN (SELECT incident_id FROM incident_customers WHERE customer = ?) ORDER BY i.id DESC`, customer)
	return collect(rows, err, row.Incident)
}

// IncidentCustomers returns an incident's customers.
func (s *Store) IncidentCustomers(ctx context.Context, id int64) ([]store.IncidentCustomer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT customer, notified_at FROM incident_customers WHERE incident_id = ? ORDER BY customer`, id)
	return collect(rows, err, row.IncidentCustomer)
}

// PendingNotices returns notices not yet sent, oldest incident first.
func (s *Store) PendingNotices(ctx context.Context, limit int) ([]store.Notice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT incident_id, customer FROM incident_customers
		WHERE notified_at = 0 ORDER BY incident_id, customer LIMIT ?`, store.ClampLimit(limit, 100, 10000))
	return collect(rows, err, row.Notice)
}

// MarkNotified records a notice as sent, once.
func (s *Store) MarkNotified(ctx context.Context, n store.Notice, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `UPDATE incident_customers SET notified_at = ? WHERE incident_id = ? AND customer = ? AND notified_at = 0`,
		row.Nanos(at), n.Incident, n.Customer)
	if err != nil {
		return false, err
	}
	k, _ := res.RowsAffected()
	return k == 1, nil
}

// EraseCustomer deletes the customer's row and record key with SQLite's
// secure delete (what is deleted is overwritten with zeros), keeps a
// tombstone, and then truncates the write-ahead log so no copy of the old
// pages stays in it.
func (s *Store) EraseCustomer(ctx context.Context, id, by, reason string, at time.Time) error {
	defer s.cache.drop()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `PRAGMA secure_delete = ON`); err != nil {
			return err
		}
		return row.Erase(ctx, sqlTx{tx}, id, by, reason, at)
	})
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return fmt.Errorf("erase %s: checkpoint: %w", id, err)
	}
	return nil
}

// Erased reports whether id was erased.
func (s *Store) Erased(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM erasures WHERE customer = ?`, id).Scan(&n)
	return n > 0, err
}

// RequestErasure records a customer's request to be erased, once.
func (s *Store) RequestErasure(ctx context.Context, customer string, at time.Time) (bool, error) {
	res, err := s.w.ExecContext(ctx, `INSERT INTO erasure_requests (customer, at) VALUES (?, ?) ON CONFLICT (customer) DO NOTHING`, customer, row.Nanos(at))
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ErasureRequests returns the pending requests, oldest first.
func (s *Store) ErasureRequests(ctx context.Context) ([]store.ErasureRequest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT customer, at FROM erasure_requests ORDER BY at, customer`)
	return collect(rows, err, row.ErasureRequest)
}
