package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// IndexAudit adds search terms for audit records in one statement.
func (s *Store) IndexAudit(ctx context.Context, terms []store.AuditTerms) error {
	if len(terms) == 0 {
		return nil
	}
	n := len(terms)
	idx, tm := make([]int64, n), make([]int64, n)
	actor, customer, org, site, action, decision := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, t := range terms {
		idx[i], tm[i] = int64(t.Index), row.Nanos(t.Time)
		actor[i], customer[i], org[i], site[i], action[i], decision[i] = t.Actor, t.Customer, t.Org, t.Site, t.Action, t.Decision
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO audit_search (idx, time, actor, customer, org, site, action, decision)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
		ON CONFLICT (idx) DO NOTHING`, idx, tm, actor, customer, org, site, action, decision)
	if err != nil {
		return fmt.Errorf("index audit records: %w", err)
	}
	return nil
}

// AuditIndexed returns the first index not yet in the search index.
func (s *Store) AuditIndexed(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_search`).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit search position: %w", err)
	}
	return uint64(n), nil
}

// SearchAudit returns the indexed records matching q, newest first.
func (s *Store) SearchAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query, args := row.SearchAudit(q, row.Dollar)
	rows, _ := s.pool.Query(ctx, query, args...)
	recs, err := collect(rows, row.Audit)
	if err != nil {
		return nil, fmt.Errorf("search audit: %w", err)
	}
	return recs, nil
}

// CreateCase opens c unless its alert has a case already.
func (s *Store) CreateCase(ctx context.Context, c store.Case) (store.Case, bool, error) {
	created := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO cases (alert_id, person, status, assignee, outcome, window_from, created_by, created_at, updated_at)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (alert_id) DO NOTHING`,
			c.AlertID, c.Person, c.Status, c.Assignee, c.Outcome, row.Nanos(c.From), c.CreatedBy, row.Nanos(c.CreatedAt), row.Nanos(c.UpdatedAt))
		if err != nil {
			return err
		}
		created = tag.RowsAffected() == 1
		c, err = row.Case(tx.QueryRow(ctx, `SELECT `+row.CaseCols+` FROM cases WHERE alert_id = $1`, c.AlertID))
		return err
	})
	if err != nil {
		return store.Case{}, false, fmt.Errorf("create case: %w", err)
	}
	return c, created, nil
}

// Case returns a case with its notes.
func (s *Store) Case(ctx context.Context, id int64) (store.Case, error) {
	c, err := row.Case(s.pool.QueryRow(ctx, `SELECT `+row.CaseCols+` FROM cases WHERE id = $1`, id))
	if err != nil {
		return c, row.NotFound(err)
	}
	rows, _ := s.pool.Query(ctx, `SELECT time, author, text FROM case_notes WHERE case_id = $1 ORDER BY seq`, id)
	if c.Notes, err = collect(rows, row.CaseNote); err != nil {
		return c, fmt.Errorf("case %d notes: %w", id, err)
	}
	return c, nil
}

// Cases returns up to limit cases, most recently updated first.
func (s *Store) Cases(ctx context.Context, limit int) ([]store.Case, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+row.CaseCols+` FROM cases ORDER BY updated_at DESC, id DESC LIMIT $1`,
		store.ClampLimit(limit, 100, 1000))
	cs, err := collect(rows, row.Case)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return cs, nil
}

// UpdateCase stores c's state and appends note, in one transaction.
func (s *Store) UpdateCase(ctx context.Context, c store.Case, note *store.CaseNote) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE cases SET status = $2, assignee = $3, outcome = $4, updated_at = $5 WHERE id = $1`,
			c.ID, c.Status, c.Assignee, c.Outcome, row.Nanos(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("update case %d: %w", c.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if note == nil {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO case_notes (case_id, seq, time, author, text)
			VALUES ($1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_notes WHERE case_id = $1), $2, $3, $4)`,
			c.ID, row.Nanos(note.Time), note.Author, note.Text)
		if err != nil {
			return fmt.Errorf("case %d note: %w", c.ID, err)
		}
		return nil
	})
}
