package row

import (
	"context"
	"fmt"

	"github.com/custos-dev/custos/internal/store"
)

// CreateCase opens c unless its alert has a case already, and returns the
// alert's case (created if it is c).
func (s Shared) CreateCase(ctx context.Context, c store.Case) (store.Case, bool, error) {
	created := false
	err := s.InTx(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `INSERT INTO cases (alert_id, person, status, assignee, outcome, window_from, created_by, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (alert_id) DO NOTHING`,
			c.AlertID, c.Person, c.Status, c.Assignee, c.Outcome, Nanos(c.From), c.CreatedBy, Nanos(c.CreatedAt), Nanos(c.UpdatedAt))
		if err != nil {
			return err
		}
		created = n == 1
		c, err = Case(tx.QueryRow(ctx, `SELECT `+CaseCols+` FROM cases WHERE alert_id = ?`, c.AlertID))
		return err
	})
	if err != nil {
		return store.Case{}, false, fmt.Errorf("create case: %w", err)
	}
	return c, created, nil
}

// Case returns a case with its notes.
func (s Shared) Case(ctx context.Context, id int64) (store.Case, error) {
	c, err := One(s.R.QueryRow(ctx, `SELECT `+CaseCols+` FROM cases WHERE id = ?`, id), Case)
	if err != nil {
		return c, err
	}
	rows, err := s.R.Query(ctx, `SELECT time, author, text FROM case_notes WHERE case_id = ? ORDER BY seq`, id)
	if c.Notes, err = Collect(rows, err, CaseNote); err != nil {
		return c, fmt.Errorf("case %d notes: %w", id, err)
	}
	return c, nil
}

// Cases returns up to limit cases, most recently updated first.
func (s Shared) Cases(ctx context.Context, limit int) ([]store.Case, error) {
	rows, err := s.R.Query(ctx, `SELECT `+CaseCols+` FROM cases ORDER BY updated_at DESC, id DESC LIMIT ?`,
		store.ClampLimit(limit, 100, 1000))
	cs, err := Collect(rows, err, Case)
	if err != nil {
		return nil, fmt.Errorf("read cases: %w", err)
	}
	return cs, nil
}

// UpdateCase stores c's state and appends note, in one transaction.
func (s Shared) UpdateCase(ctx context.Context, c store.Case, note *store.CaseNote) error {
	return s.InTx(ctx, func(tx Tx) error {
		n, err := tx.Exec(ctx, `UPDATE cases SET status = ?, assignee = ?, outcome = ?, updated_at = ? WHERE id = ?`,
			c.Status, c.Assignee, c.Outcome, Nanos(c.UpdatedAt), c.ID)
		if err != nil {
			return fmt.Errorf("update case %d: %w", c.ID, err)
		}
		if n == 0 {
			return store.ErrNotFound
		}
		if note == nil {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO case_notes (case_id, seq, time, author, text)
			VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_notes WHERE case_id = ?), ?, ?, ?)`,
			c.ID, c.ID, Nanos(note.Time), note.Author, note.Text)
		if err != nil {
			return fmt.Errorf("case %d note: %w", c.ID, err)
		}
		return nil
	})
}
