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

// CreateCase opens c unless its alert has a case already.
func (s *Store) CreateCase(ctx context.Context, c store.Case) (store.Case, bool, error) {
	created := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO cases (alert_id, person, status, assignee, outcome, window_from, created_by, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (alert_id) DO NOTHING`,
			c.AlertID, c.Person, c.Status, c.Assignee, c.Outcome, row.Nanos(c.From), c.CreatedBy, row.Nanos(c.CreatedAt), row.Nanos(c.UpdatedAt))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		c, err = row.Case(tx.QueryRowContext(ctx, `SELECT `+row.CaseCols+` FROM cases WHERE alert_id = ?`, c.AlertID))
		return err
	})
	return c, created, err
}

// Case returns a case with its notes.
func (s *Store) Case(ctx context.Context, id int64) (store.Case, error) {
	c, err := row.Case(s.r.QueryRowContext(ctx, `SELECT `+row.CaseCols+` FROM cases WHERE id = ?`, id))
	if err != nil {
		return c, row.NotFound(err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT time, author, text FROM case_notes WHERE case_id = ? ORDER BY seq`, id)
	c.Notes, err = collect(rows, err, row.CaseNote)
	return c, err
}

// Cases returns up to limit cases, most recently updated first.
func (s *Store) Cases(ctx context.Context, limit int) ([]store.Case, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+row.CaseCols+` FROM cases ORDER BY updated_at DESC, id DESC LIMIT ?`,
		store.ClampLimit(limit, 100, 1000))
	return collect(rows, err, row.Case)
}

// UpdateCase stores c's state and appends note, in one transaction.
func (s *Store) UpdateCase(ctx context.Context, c store.Case, note *store.CaseNote) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE cases SET status = ?, assignee = ?, outcome = ?, updated_at = ? WHERE id = ?`,
			c.Status, c.Assignee, c.Outcome, row.Nanos(c.UpdatedAt), c.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if note == nil {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO case_notes (case_id, seq, time, author, text)
			VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_notes WHERE case_id = ?), ?, ?, ?)`,
			c.ID, c.ID, row.Nanos(note.Time), note.Author, note.Text)
		return err
	})
}
