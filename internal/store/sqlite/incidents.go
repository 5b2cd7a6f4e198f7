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
