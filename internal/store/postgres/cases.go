package postgres

import (
	"context"
	"fmt"

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
