package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/custos-dev/custos/internal/store/internal/row"
)

// EraseCustomer deletes the customer's row and record key with SQLite's
// secure delete (the writer always runs with it, see Open: what is deleted
// is overwritten with zeros), keeps a tombstone, and then truncates the
// write-ahead log so no copy of the old pages stays in it.
func (s *Store) EraseCustomer(ctx context.Context, id, by, reason string, at time.Time) error {
	defer s.cache.Drop()
	err := s.tx(ctx, func(tx *sql.Tx) error {
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
