package row

import (
	"context"
	"fmt"

	"github.com/custos-dev/custos/internal/store"
)

// Rows is a result set of either driver, as Tx.Query returns it.
type Rows interface {
	Scanner
	Next() bool
	Err() error
	Close()
}

// Collect scans every row of rows with scan (rows and err as a query
// returned them) and closes rows.
func Collect[T any](rows Rows, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Shared holds the store.Store methods whose statements and results are
// the same on both stores; each store embeds it. Reads go to R, writes to
// W (on PostgreSQL, both are the pool), and InTx runs fn in a transaction
// on the writer, committed if fn returns nil.
type Shared struct {
	R, W Tx
	InTx func(ctx context.Context, fn func(Tx) error) error
}

func (s Shared) checkpoints(ctx context.Context, q string) ([]store.Checkpoint, error) {
	rows, err := s.R.Query(ctx, q)
	cs, err := Collect(rows, err, Checkpoint)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return cs, nil
}

// Checkpoints returns every checkpoint kept, oldest first.
func (s Shared) Checkpoints(ctx context.Context) ([]store.Checkpoint, error) {
	return s.checkpoints(ctx, CheckpointsQuery)
}

// LatestCheckpoint returns the newest checkpoint; store.ErrNotFound before
// the first.
func (s Shared) LatestCheckpoint(ctx context.Context) (store.Checkpoint, error) {
	return Latest(s.checkpoints(ctx, LatestCheckpointQuery))
}

// AddAlert stores a (its Reasons as a JSON array) and returns the new id.
func (s Shared) AddAlert(ctx context.Context, a store.Alert) (int64, error) {
	reasons, err := Reasons(a)
	if err != nil {
		return 0, fmt.Errorf("add alert: %w", err)
	}
	var id int64
	err = s.W.QueryRow(ctx, `INSERT INTO alerts (actor, time, score, reasons, records, kind, action, detail)
		VALUES (?,?,?,?,?,?,?,?) RETURNING id`,
		a.Actor, Nanos(a.Time), a.Score, reasons, a.Records, a.Kind, a.Action, a.Detail).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add alert: %w", err)
	}
	return id, nil
}

// Alert returns one alert (store.ErrNotFound if there is none).
func (s Shared) Alert(ctx context.Context, id int64) (store.Alert, error) {
	return One(s.R.QueryRow(ctx, `SELECT `+AlertCols+` FROM alerts WHERE id = ?`, id), Alert)
}

// Alerts returns up to limit alerts (100 if limit <= 0), newest first.
func (s Shared) Alerts(ctx context.Context, limit int) ([]store.Alert, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.R.Query(ctx, `SELECT `+AlertCols+` FROM alerts ORDER BY time DESC, id DESC LIMIT ?`, limit)
	as, err := Collect(rows, err, Alert)
	if err != nil {
		return nil, fmt.Errorf("read alerts: %w", err)
	}
	return as, nil
}

// SetAlertAction records the containment taken on an alert.
func (s Shared) SetAlertAction(ctx context.Context, id int64, action string) error {
	n, err := s.W.Exec(ctx, `UPDATE alerts SET action = ? WHERE id = ?`, action, id)
	if err != nil {
		return fmt.Errorf("set alert action: %w", err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
