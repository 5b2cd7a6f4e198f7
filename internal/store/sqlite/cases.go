package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// IndexAudit adds search terms for audit records in one transaction.
func (s *Store) IndexAudit(ctx context.Context, terms []store.AuditTerms) error {
	if len(terms) == 0 {
		return nil
	}
	return s.derivedTx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO audit_search
			(idx, time, actor, customer, org, site, action, decision) VALUES (?,?,?,?,?,?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, t := range terms {
			if _, err := st.ExecContext(ctx, int64(t.Index), row.Nanos(t.Time), t.Actor, t.Customer, t.Org, t.Site, t.Action, t.Decision); err != nil {
				return fmt.Errorf("index audit record %d: %w", t.Index, err)
			}
		}
		return nil
	})
}

// AuditIndexed returns the first index not yet in the search index.
func (s *Store) AuditIndexed(ctx context.Context) (uint64, error) {
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_search`).Scan(&n)
	return uint64(n), err
}

// SearchAudit returns the indexed records matching q, newest first.
func (s *Store) SearchAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query, args := row.SearchAudit(q, row.Question)
	rows, err := s.r.QueryContext(ctx, query, args...)
	return collect(rows, err, row.Audit)
}
