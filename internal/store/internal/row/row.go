// Package row is what the SQL stores (sqlite and postgres) share about
// their tables: the column lists their queries select, the functions that
// scan one row of each into its store type, and the time encoding. Both
// schemas keep the same columns in the same order, with times as Unix
// nanoseconds in a 64-bit integer (0 for the zero time), so one scanner
// serves database/sql and pgx rows alike.
package row

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// Scanner is one result row: *sql.Row, *sql.Rows, pgx.Row and
// pgx.CollectableRow all are.
type Scanner interface {
	Scan(dest ...any) error
}

// Nanos encodes t as stored: Unix nanoseconds, 0 for the zero time.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Time decodes a stored time (UTC; 0 is the zero time).
func Time(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Column lists, in the order the scanners below read them.
const (
	CustomerCols   = `id, region, site, name, phone, account, phone_idx, account_idx, name_idx, canary, scope`
	PrincipalCols  = `id, name, org, org_kind, role, site, region, token_hash, status, notice, status_source, status_by, status_reason`
	TicketCols     = `id, customer, site, opened_by, opened_at, closed_at, assignee, expires_at, crm`
	ConsentCols    = `id, customer, principal, code_hash, created_at, expires_at, attempts, confirmed_at, grant_until`
	BreakGlassCols = `id, principal, customer, reason, created_at, approved_by, approved_at, expires_at`
	AuditCols      = `idx, time, actor, customer, event, salt`
	CheckpointCols = `size, note, time`
	AlertCols      = `id, actor, time, score, reasons, records, kind, action, detail`
)

// SelectCustomers selects the customer rows with their record keys (kept
// apart, in customer_keys: see store.Customer.Key), in the order Customer
// scans them; a query adds its WHERE clause. The joined table has no
// column named as one of customers', so conditions need no prefix.
const SelectCustomers = `SELECT c.id, c.region, c.site, c.name, c.phone, c.account, c.phone_idx, c.account_idx,
	c.name_idx, c.canary, c.scope, k.wrapped FROM customers c LEFT JOIN customer_keys k ON k.customer = c.id `

// String scans one text column.
func String(r Scanner) (string, error) {
	var s string
	err := r.Scan(&s)
	return s, err
}

// Queries that need no parameters, so both stores run the same text.
const (
	CheckpointsQuery      = `SELECT ` + CheckpointCols + ` FROM checkpoints ORDER BY seq`
	LatestCheckpointQuery = `SELECT ` + CheckpointCols + ` FROM checkpoints ORDER BY seq DESC LIMIT 1`
)

// Customer scans a row of SelectCustomers.
func Customer(r Scanner) (store.Customer, error) {
	var c store.Customer
	var pidx, aidx, nidx *int64
	err := r.Scan(&c.ID, &c.Region, &c.Site, &c.Name, &c.Phone, &c.Account,
		&pidx, &aidx, &nidx, &c.Canary, &c.Scope, &c.Key)
	c.PhoneIndex, c.AccountIndex, c.NameIndex = Index(pidx), Index(aidx), Index(nidx)
	return c, err
}

// Index decodes a stored blind index (store.IndexKey): nil for NULL.
func Index(k *int64) []byte {
	if k == nil {
		return nil
	}
	return store.IndexBytes(*k)
}

// IndexKeys returns the stored forms (store.IndexKey) of blind indexes.
func IndexKeys(b [][]byte) []any {
	out := make([]any, len(b))
	for i, k := range b {
		out[i] = store.IndexKey(k)
	}
	return out
}

// Principal scans PrincipalCols.
func Principal(r Scanner) (store.Principal, error) {
	var p store.Principal
	var notice int64
	err := r.Scan(&p.ID, &p.Name, &p.Org, &p.OrgKind, &p.Role, &p.Site, &p.Region, &p.TokenHash, &p.Status, &notice,
		&p.StatusSource, &p.StatusBy, &p.StatusReason)
	p.Notice = Time(notice)
	return p, err
}

// Ticket scans TicketCols.
func Ticket(r Scanner) (store.Ticket, error) {
	var t store.Ticket
	var opened, closed, expires int64
	err := r.Scan(&t.ID, &t.Customer, &t.Site, &t.OpenedBy, &opened, &closed, &t.Assignee, &expires, &t.CRM)
	t.OpenedAt, t.ClosedAt, t.ExpiresAt = Time(opened), Time(closed), Time(expires)
	return t, err
}

// Consent scans ConsentCols.
func Consent(r Scanner) (store.Consent, error) {
	var c store.Consent
	var created, expires, confirmed, grant int64
	err := r.Scan(&c.ID, &c.Customer, &c.Principal, &c.CodeHash, &created, &expires, &c.Attempts, &confirmed, &grant)
	c.CreatedAt, c.ExpiresAt, c.ConfirmedAt, c.GrantUntil = Time(created), Time(expires), Time(confirmed), Time(grant)
	return c, err
}

// BreakGlass scans BreakGlassCols.
func BreakGlass(r Scanner) (store.BreakGlass, error) {
	var b store.BreakGlass
	var created, approved, expires int64
	err := r.Scan(&b.ID, &b.Principal, &b.Customer, &b.Reason, &created, &b.ApprovedBy, &approved, &expires)
	b.CreatedAt, b.ApprovedAt, b.ExpiresAt = Time(created), Time(approved), Time(expires)
	return b, err
}

// Audit scans AuditCols.
func Audit(r Scanner) (store.AuditRecord, error) {
	var a store.AuditRecord
	var idx, t int64
	err := r.Scan(&idx, &t, &a.Actor, &a.Customer, &a.Event, &a.Salt)
	a.Index, a.Time = uint64(idx), Time(t)
	return a, err
}

// Checkpoint scans CheckpointCols.
func Checkpoint(r Scanner) (store.Checkpoint, error) {
	var c store.Checkpoint
	var size, t int64
	err := r.Scan(&size, &c.Note, &t)
	c.Size, c.Time = uint64(size), Time(t)
	return c, err
}

// Alert scans AlertCols; reasons are stored as a JSON array (Reasons).
func Alert(r Scanner) (store.Alert, error) {
	var a store.Alert
	var t int64
	var reasons string
	if err := r.Scan(&a.ID, &a.Actor, &t, &a.Score, &reasons, &a.Records, &a.Kind, &a.Action, &a.Detail); err != nil {
		return a, err
	}
	a.Time = Time(t)
	if err := json.Unmarshal([]byte(reasons), &a.Reasons); err != nil {
		return a, fmt.Errorf("alert %d reasons: %w", a.ID, err)
	}
	return a, nil
}

// Reasons encodes an alert's reasons for the reasons column.
func Reasons(a store.Alert) (string, error) {
	b, err := json.Marshal(a.Reasons)
	return string(b), err
}

// Latest returns the first of cs (the newest, as queried), or
// store.ErrNotFound if there is none.
func Latest(cs []store.Checkpoint, err error) (store.Checkpoint, error) {
	if err != nil {
		return store.Checkpoint{}, err
	}
	if len(cs) == 0 {
		return store.Checkpoint{}, store.ErrNotFound
	}
	return cs[0], nil
}

// IndexColumn returns the customers table's blind index column for kind
// (store.IndexPhone, IndexAccount or IndexName).
func IndexColumn(kind string) (string, error) {
	switch kind {
	case store.IndexPhone:
		return "phone_idx", nil
	case store.IndexAccount:
		return "account_idx", nil
	case store.IndexName:
		return "name_idx", nil
	}
	return "", fmt.Errorf("customers by index: unknown kind %q", kind)
}
