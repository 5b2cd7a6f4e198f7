package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

//go:embed derived.sql
var derivedSchema string

// DerivedPath returns the path of the derived database (the audit search
// index and the quota counts) that the store at path keeps beside it:
// "custos.db" keeps "custos-derived.db".
func DerivedPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-derived" + ext
}

// openDerived opens the derived database, with the audit log w holds.
// When the search index does not end with a record of this log (a
// database restored or replaced under it), it is emptied and its consumer
// rebuilds it; Open recounts the quota rows.
func openDerived(ctx context.Context, path string, w *sql.DB) (*sql.DB, error) {
	if err := restrictFiles(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	// Derived data: a power loss may take its last writes, never its
	// consistency (WAL at NORMAL), and the indexer writes them again.
	q.Add("_pragma", "synchronous(NORMAL)")
	// The multi-row inserts' statement journals stay in memory.
	q.Add("_pragma", "temp_store(MEMORY)")
	q.Set("_txlock", "immediate")
	db, err := openDB("file:" + path + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(3)
	if _, err := db.ExecContext(ctx, derivedSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("apply derived schema: %w", err)
	}
	if err := checkSearchIndex(ctx, db, w); err != nil {
		db.Close()
		return nil, fmt.Errorf("check search index: %w", err)
	}
	return db, nil
}

// checkSearchIndex empties the search index in db unless its last entry
// is the record at the same index, with the same time, in w's audit log.
func checkSearchIndex(ctx context.Context, db, w *sql.DB) error {
	var idx, t, lt int64
	err := db.QueryRowContext(ctx, `SELECT idx, time FROM audit_search ORDER BY idx DESC LIMIT 1`).Scan(&idx, &t)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // empty: nothing to check
	}
	if err != nil {
		return err
	}
	err = w.QueryRowContext(ctx, `SELECT time FROM audit WHERE idx = ?`, idx).Scan(&lt)
	switch {
	case err == nil && lt == t:
		return nil
	case err != nil && !errors.Is(err, sql.ErrNoRows):
		return err
	}
	_, err = db.ExecContext(ctx, `DELETE FROM audit_search`)
	return err
}

// IndexAudit adds search terms for audit records in one transaction, on
// the derived database: it never holds up an audit commit.
func (s *Store) IndexAudit(ctx context.Context, terms []store.AuditTerms) error {
	if len(terms) == 0 {
		return nil
	}
	// Up to searchChunk rows a statement: the statement's own cost, not
	// the B-trees', was half an index row's.
	ins, err := s.prepInsert(ctx, s.sx, "INSERT OR IGNORE", "audit_search",
		"idx, time, actor, customer, org, site, action, decision", len(terms), searchChunk)
	if err != nil {
		return err
	}
	return inTx(ctx, s.sx, func(tx *sql.Tx) error {
		err := ins.exec(ctx, tx, len(terms), func(args []any, i int) []any {
			t := terms[i]
			return append(args, int64(t.Index), row.Nanos(t.Time), t.Actor, t.Customer, t.Org, t.Site, t.Action, t.Decision)
		})
		if err != nil {
			return fmt.Errorf("index audit records from %d: %w", terms[0].Index, err)
		}
		return nil
	})
}

// searchChunk is the most search index rows one INSERT carries (8
// parameters each, under SQLite's bound on host parameters).
const searchChunk = 128

// AuditIndexed returns the first index not yet in the search index.
func (s *Store) AuditIndexed(ctx context.Context) (uint64, error) {
	var n int64
	err := s.sx.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_search`).Scan(&n)
	return uint64(n), err
}

// SearchAudit returns the indexed records matching q, newest first.
func (s *Store) SearchAudit(ctx context.Context, q store.AuditQuery) ([]store.AuditRecord, error) {
	query, args := row.SearchAuditIndexes(q, row.Question)
	idxs, err := s.searchIndexes(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	recs, err := s.auditAt(ctx, idxs)
	if err != nil {
		return nil, err
	}
	slices.Reverse(recs)
	return recs, nil
}

func (s *Store) searchIndexes(ctx context.Context, query string, args ...any) ([]int64, error) {
	rows, err := s.sx.QueryContext(ctx, query, args...)
	return collect(rows, err, func(r row.Scanner) (int64, error) {
		var idx int64
		err := r.Scan(&idx)
		return idx, err
	})
}

// auditAt returns the records at idxs, in ascending order.
func (s *Store) auditAt(ctx context.Context, idxs []int64) ([]store.AuditRecord, error) {
	idxs = slices.Sorted(slices.Values(idxs))
	var out []store.AuditRecord
	for len(idxs) > 0 {
		chunk := idxs[:min(len(idxs), 500)]
		idxs = idxs[len(chunk):]
		args := make([]any, len(chunk))
		for i, v := range chunk {
			args[i] = v
		}
		recs, err := s.auditQuery(ctx, `SELECT idx, time, actor, customer, event, salt FROM audit
			WHERE idx IN (?`+strings.Repeat(",?", len(chunk)-1)+`) ORDER BY idx`, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	return out, nil
}

// auditBy returns the records from index from on whose column col
// ("customer" or "actor") is v. The audit table has no index on them (see
// schema.sql): the records up to where the search index ends are found
// through it, and those past it — the moment the indexer trails the log
// by — by a scan of the log's tail, so the answer is complete.
func (s *Store) auditBy(ctx context.Context, col, v string, from uint64) ([]store.AuditRecord, error) {
	end, err := s.AuditIndexed(ctx)
	if err != nil {
		return nil, err
	}
	idxs, err := s.searchIndexes(ctx, `SELECT idx FROM audit_search WHERE `+col+` = ? AND idx >= ? AND idx < ? ORDER BY idx`,
		v, index(from), index(end))
	if err != nil {
		return nil, err
	}
	recs, err := s.auditAt(ctx, idxs)
	if err != nil {
		return nil, err
	}
	tail, err := s.auditQuery(ctx, `SELECT idx, time, actor, customer, event, salt FROM audit
		WHERE idx >= ? AND `+col+` = ? ORDER BY idx`, index(max(from, end)), v)
	if err != nil {
		return nil, err
	}
	return append(recs, tail...), nil
}
