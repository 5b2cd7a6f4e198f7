package row

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// CreateIncident records inc and its customers unless an incident with
// its leak hash exists; either way it returns the incident that stands
// (created if it is inc). The customers go in chunks of multi-row inserts.
func (s Shared) CreateIncident(ctx context.Context, inc store.Incident, customers []string) (store.Incident, bool, error) {
	var id int64
	var created bool
	err := s.InTx(ctx, func(tx Tx) error {
		var err error
		if id, created, err = InsertIncident(ctx, tx, inc); err != nil || !created {
			return err
		}
		for cs := range slices.Chunk(customers, incidentChunk) {
			q := `INSERT INTO incident_customers (incident_id, customer) VALUES ` +
				strings.Repeat("(?, ?), ", len(cs)-1) + `(?, ?) ON CONFLICT DO NOTHING`
			args := make([]any, 0, 2*len(cs))
			for _, c := range cs {
				args = append(args, id, c)
			}
			if _, err := tx.Exec(ctx, q, args...); err != nil {
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

// incidentChunk is how many customers one insert of CreateIncident adds
// (two parameters each, well under either database's limit).
const incidentChunk = 500

// Incident returns one incident with its counts.
func (s Shared) Incident(ctx context.Context, id int64) (store.Incident, error) {
	return One(s.R.QueryRow(ctx, `SELECT `+IncidentCols+IncidentFrom+` WHERE i.id = ?`, id), Incident)
}

// ListIncidents returns incidents, newest first.
func (s Shared) ListIncidents(ctx context.Context, limit int) ([]store.Incident, error) {
	rows, err := s.R.Query(ctx, `SELECT `+IncidentCols+IncidentFrom+` ORDER BY i.id DESC LIMIT ?`, store.ClampLimit(limit, 100, 1000))
	return Collect(rows, err, Incident)
}

// IncidentsOf returns the incidents that affected customer, newest first.
func (s Shared) IncidentsOf(ctx context.Context, customer string) ([]store.Incident, error) {
	rows, err := s.R.Query(ctx, `SELECT `+IncidentCols+IncidentFrom+`
		WHERE i.id IN (SELECT incident_id FROM incident_customers WHERE customer = ?) ORDER BY i.id DESC`, customer)
	return Collect(rows, err, Incident)
}

// IncidentCustomers returns an incident's customers.
func (s Shared) IncidentCustomers(ctx context.Context, id int64) ([]store.IncidentCustomer, error) {
	rows, err := s.R.Query(ctx, `SELECT customer, notified_at FROM incident_customers WHERE incident_id = ? ORDER BY customer`, id)
	return Collect(rows, err, IncidentCustomer)
}

// PendingNotices returns notices not yet sent, oldest incident first.
func (s Shared) PendingNotices(ctx context.Context, limit int) ([]store.Notice, error) {
	rows, err := s.R.Query(ctx, `SELECT incident_id, customer FROM incident_customers
		WHERE notified_at = 0 ORDER BY incident_id, customer LIMIT ?`, store.ClampLimit(limit, 100, 10000))
	return Collect(rows, err, Notice)
}

// MarkNotified records a notice as sent, once (across gateways on one
// database: the update applies only while notified_at is 0).
func (s Shared) MarkNotified(ctx context.Context, n store.Notice, at time.Time) (bool, error) {
	k, err := s.W.Exec(ctx, `UPDATE incident_customers SET notified_at = ? WHERE incident_id = ? AND customer = ? AND notified_at = 0`,
		Nanos(at), n.Incident, n.Customer)
	if err != nil {
		return false, fmt.Errorf("mark notice: %w", err)
	}
	return k == 1, nil
}

// KeepTombstone records that id was erased, holding no record of it.
func (s Shared) KeepTombstone(ctx context.Context, id, by, reason string, at time.Time) error {
	if _, err := s.W.Exec(ctx, `INSERT INTO erasures (customer, at, by, reason) VALUES (?, ?, ?, ?) ON CONFLICT (customer) DO NOTHING`,
		id, Nanos(at), by, reason); err != nil {
		return fmt.Errorf("keep tombstone: %w", err)
	}
	return nil
}

// Erased reports whether id was erased.
func (s Shared) Erased(ctx context.Context, id string) (bool, error) {
	var n int
	if err := s.R.QueryRow(ctx, `SELECT COUNT(*) FROM erasures WHERE customer = ?`, id).Scan(&n); err != nil {
		return false, fmt.Errorf("erased: %w", err)
	}
	return n > 0, nil
}

// RequestErasure records a customer's request to be erased, once.
func (s Shared) RequestErasure(ctx context.Context, customer string, at time.Time) (bool, error) {
	n, err := s.W.Exec(ctx, `INSERT INTO erasure_requests (customer, at) VALUES (?, ?) ON CONFLICT (customer) DO NOTHING`, customer, Nanos(at))
	if err != nil {
		return false, fmt.Errorf("request erasure: %w", err)
	}
	return n == 1, nil
}

// ErasureRequests returns the pending requests, oldest first.
func (s Shared) ErasureRequests(ctx context.Context) ([]store.ErasureRequest, error) {
	rows, err := s.R.Query(ctx, `SELECT customer, at FROM erasure_requests ORDER BY at, customer`)
	return Collect(rows, err, ErasureRequest)
}
