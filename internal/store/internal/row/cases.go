package row

import (
	"strconv"
	"strings"

	"github.com/custos-dev/custos/internal/store"
)

// CaseCols are a case's columns, in the order Case reads them.
const CaseCols = `id, alert_id, person, status, assignee, outcome, window_from, created_by, created_at, updated_at`

// Case scans CaseCols.
func Case(r Scanner) (store.Case, error) {
	var c store.Case
	var from, created, updated int64
	err := r.Scan(&c.ID, &c.AlertID, &c.Person, &c.Status, &c.Assignee, &c.Outcome, &from, &c.CreatedBy, &created, &updated)
	c.From, c.CreatedAt, c.UpdatedAt = Time(from), Time(created), Time(updated)
	return c, err
}

// CaseNote scans time, author, text.
func CaseNote(r Scanner) (store.CaseNote, error) {
	var n store.CaseNote
	var t int64
	err := r.Scan(&t, &n.Author, &n.Text)
	n.Time = Time(t)
	return n, err
}

// SearchAudit builds the query for q: only the filters given appear in
// it, so that the planner can use the search index of each. arg(n) writes
// the n-th placeholder (1-based) in the store's dialect.
func SearchAudit(q store.AuditQuery, arg func(n int) string) (string, []any) {
	return searchAudit(q, arg, `SELECT a.idx, a.time, a.actor, a.customer, a.event, a.salt FROM audit_search s JOIN audit a ON a.idx = s.idx`)
}

// SearchAuditIndexes is SearchAudit for a search index kept apart from
// the log: it selects the matching records' indexes alone, newest first.
func SearchAuditIndexes(q store.AuditQuery, arg func(n int) string) (string, []any) {
	return searchAudit(q, arg, `SELECT s.idx FROM audit_search s`)
}

func searchAudit(q store.AuditQuery, arg func(n int) string, sql string) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.Replace(cond, "?", arg(len(args)), 1))
	}
	for _, f := range []struct{ col, v string }{
		{"s.actor", q.Actor}, {"s.customer", q.Customer}, {"s.org", q.Org}, {"s.site", q.Site},
		{"s.action", q.Action}, {"s.decision", q.Decision},
	} {
		if f.v != "" {
			add(f.col+" = ?", f.v)
		}
	}
	if !q.Since.IsZero() {
		add("s.time >= ?", Nanos(q.Since))
	}
	if !q.Until.IsZero() {
		add("s.time < ?", Nanos(q.Until))
	}
	if q.Before > 0 {
		add("s.idx < ?", int64(q.Before))
	}
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, store.ClampLimit(q.Limit, 100, 1000))
	return sql + " ORDER BY s.idx DESC LIMIT " + arg(len(args)), args
}

// Question is SQLite's placeholder; Dollar is PostgreSQL's.
func Question(int) string { return "?" }

// Dollar is PostgreSQL's n-th placeholder.
func Dollar(n int) string { return "$" + strconv.Itoa(n) }
