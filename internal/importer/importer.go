// Package importer reads the contract's CSV files (customers, principals,
// tickets) into the store, all or nothing: the first bad row is reported
// with its file and line (a *LineError wrapping ErrBadRow), and nothing is
// stored.
//
// Customers stream (LoadCustomers): rows are checked and sealed by a pool
// of workers, in file order, into a staged bulk load of the store
// (store.CustomerLoader) that one transaction switches in with the
// principals and tickets of the same import, so memory stays bounded
// whatever the file's size. Principals and tickets are small and read
// whole (Principals, Tickets, Load). SealCustomer is the one place a
// customer record is checked and sealed: the CRM's PUT uses it too.
package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// LineError reports a bad row.
type LineError struct {
	File string
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// ErrBadRow is wrapped by every row problem.
var ErrBadRow = errors.New("bad row")

// orgKinds are the contract's org kinds.
var orgKinds = []string{"company", "distributor", "retailer", "contractor", "callcenter"}

// The roles known out of the box: partner staff, and company staff and
// systems.
var (
	partnerRoles = []string{"store_clerk", "store_manager", "repair_tech", "callcenter_agent", "partner_admin"}
	companyRoles = []string{"security_analyst", "privacy_officer", "auditor", "integration", "provisioner"}
)

// KnownOrgKind reports whether k is one of the contract's org kinds.
func KnownOrgKind(k string) bool { return slices.Contains(orgKinds, k) }

// KnownRole reports whether r is a role known out of the box.
func KnownRole(r string) bool {
	return slices.Contains(partnerRoles, r) || slices.Contains(companyRoles, r)
}

// PartnerRoles returns the partner-staff roles, in a new slice.
func PartnerRoles() []string { return slices.Clone(partnerRoles) }

// CompanyRoles returns the company-staff and system roles, in a new slice.
func CompanyRoles() []string { return slices.Clone(companyRoles) }

// Headers the contract fixes. TicketHeader may be followed by the optional
// columns TicketOptional.
var (
	CustomerHeader  = []string{"id", "name", "phone", "account", "region", "site"}
	PrincipalHeader = []string{"id", "name", "org", "org_kind", "role", "site", "region", "token"}
	TicketHeader    = []string{"id", "customer", "site", "opened_by", "opened_at"}
	TicketOptional  = []string{"assignee", "closed_at", "expires_at"}
)

// MinTokenLen is the shortest API token accepted on import.
const MinTokenLen = 16

// reader walks a CSV file row by row with line numbers.
type reader struct {
	name string
	cr   *csv.Reader
	cols map[string]int
	seen map[string]int // row ids so far, and their lines
}

func newReader(name string, r io.Reader, want []string) (*reader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	head, err := cr.Read()
	if err == io.EOF {
		return nil, &LineError{name, 1, fmt.Errorf("%w: empty file; want header %s", ErrBadRow, strings.Join(want, ","))}
	}
	if err != nil {
		return nil, &LineError{name, 1, fmt.Errorf("%w: %v", ErrBadRow, err)}
	}
	cols := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		cols[h] = i
	}
	for _, w := range want {
		if _, ok := cols[w]; !ok && !(w == "token" || w == "site" && name == "customers") {
			return nil, &LineError{name, 1, fmt.Errorf("%w: header lacks column %q; want %s", ErrBadRow, w, strings.Join(want, ","))}
		}
	}
	return &reader{name: name, cr: cr, cols: cols, seen: map[string]int{}}, nil
}

// each calls fn for every row until the end of the file or an error.
func (r *reader) each(fn func(get func(string) string, line int) error) error {
	for {
		get, line, err := r.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(get, line); err != nil {
			return err
		}
	}
}

// newID checks a row's own id: valid, and not on an earlier row.
func (r *reader) newID(id string, line int) error {
	if !ValidID(id) {
		return r.bad(line, "id %q is not a valid id", truncate(id))
	}
	if prev, dup := r.seen[id]; dup {
		return r.bad(line, "duplicate id (first on line %d)", prev)
	}
	r.seen[id] = line
	return nil
}

// next returns the next row as a column getter, or io.EOF.
func (r *reader) next() (func(string) string, int, error) {
	rec, err := r.cr.Read()
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		// FieldPos panics after a failed Read: take the line from the error.
		line := 1
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.Line
			err = pe.Err
		}
		return nil, line, &LineError{r.name, line, fmt.Errorf("%w: %v", ErrBadRow, err)}
	}
	line, _ := r.cr.FieldPos(0)
	for _, f := range rec {
		if !utf8.ValidString(f) {
			return nil, line, &LineError{r.name, line, fmt.Errorf("%w: not valid UTF-8", ErrBadRow)}
		}
	}
	get := func(col string) string {
		i, ok := r.cols[col]
		if !ok || i >= len(rec) {
			return ""
		}
		return strings.TrimSpace(rec[i])
	}
	return get, line, nil
}

func (r *reader) bad(line int, format string, args ...any) error {
	return &LineError{r.name, line, fmt.Errorf("%w: "+format, append([]any{ErrBadRow}, args...)...)}
}

// ValidID reports whether s is a usable id (store.ValidID).
func ValidID(s string) bool { return store.ValidID(s) }

// Customers reads customers.csv and seals each record with v.
func Customers(r io.Reader, v *vault.Vault) ([]store.Customer, error) {
	cr, err := newReader("customers", r, CustomerHeader)
	if err != nil {
		return nil, err
	}
	var out []store.Customer
	sv := v.NewSealer()
	err = cr.each(func(get func(string) string, line int) error {
		id := get("id")
		if err := cr.newID(id, line); err != nil {
			return err
		}
		c, err := sealCustomer(sv, CustomerFields{ID: id, Name: get("name"), Phone: get("phone"), Account: get("account"),
			Region: get("region"), Site: get("site")})
		if err != nil {
			return cr.bad(line, "%s", err)
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Principals reads principals.csv; tokens are stored only as hashes. Ids
// reserved for custos itself (store.ReservedID: "custos…", "subject…") are
// refused.
func Principals(r io.Reader, v *vault.Vault) ([]store.Principal, error) {
	cr, err := newReader("principals", r, PrincipalHeader)
	if err != nil {
		return nil, err
	}
	tokens := map[string]int{}
	var out []store.Principal
	err = cr.each(func(get func(string) string, line int) error {
		p := store.Principal{ID: get("id"), Name: get("name"), Org: get("org"), OrgKind: strings.ToLower(get("org_kind")),
			Role: strings.ToLower(get("role")), Site: get("site"), Region: strings.ToUpper(get("region")), Status: store.StatusActive}
		if err := cr.newID(p.ID, line); err != nil {
			return err
		}
		if store.ReservedID(p.ID) {
			return cr.bad(line, "id %q is reserved: ids starting with \"custos\" or \"subject\" belong to custos itself", truncate(p.ID))
		}
		if !ValidID(p.Org) {
			return cr.bad(line, "org is required")
		}
		if !KnownOrgKind(p.OrgKind) {
			return cr.bad(line, "org_kind %q: want %s", truncate(p.OrgKind), orList(orgKinds))
		}
		if !KnownRole(p.Role) {
			return cr.bad(line, "role %q is not a known role", truncate(p.Role))
		}
		if p.Site != "" && !ValidID(p.Site) {
			return cr.bad(line, "site %q is not a valid id", truncate(p.Site))
		}
		if tok := get("token"); tok != "" {
			if len(tok) < MinTokenLen || len(tok) > 512 || strings.ContainsAny(tok, " \t") {
				return cr.bad(line, "token must be %d to 512 characters without spaces", MinTokenLen)
			}
			if prev, dup := tokens[tok]; dup {
				return cr.bad(line, "token already used on line %d", prev)
			}
			tokens[tok] = line
			p.TokenHash = v.TokenHash(tok)
		}
		out = append(out, p)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// orList spells out a list of choices: "a, b or c".
func orList(xs []string) string {
	if len(xs) < 2 {
		return strings.Join(xs, "")
	}
	return strings.Join(xs[:len(xs)-1], ", ") + " or " + xs[len(xs)-1]
}

// Tickets reads tickets.csv, with the optional columns assignee (a
// principal id; empty means the opener holds the ticket), closed_at and
// expires_at (RFC 3339; empty means open, and never expiring). Whether an
// assignee is a principal at the ticket's site is checked by Load, which
// knows the principals.
func Tickets(r io.Reader) ([]store.Ticket, error) {
	cr, err := newReader("tickets", r, TicketHeader)
	if err != nil {
		return nil, err
	}
	var out []store.Ticket
	err = cr.each(func(get func(string) string, line int) error {
		t := store.Ticket{ID: get("id"), Customer: get("customer"), Site: get("site"), OpenedBy: get("opened_by"), Assignee: get("assignee")}
		if err := cr.newID(t.ID, line); err != nil {
			return err
		}
		for _, f := range []struct{ name, v string }{{"customer", t.Customer}, {"site", t.Site}, {"opened_by", t.OpenedBy}} {
			if !ValidID(f.v) {
				return cr.bad(line, "%s %q is not a valid id", f.name, truncate(f.v))
			}
		}
		if t.Assignee != "" && !ValidID(t.Assignee) {
			return cr.bad(line, "assignee %q is not a valid id", truncate(t.Assignee))
		}
		var err error
		if t.OpenedAt, err = parseTime(get("opened_at")); err != nil || t.OpenedAt.IsZero() {
			return cr.bad(line, "opened_at must be RFC 3339, e.g. 2026-03-02T09:14:05Z")
		}
		if t.ClosedAt, err = parseTime(get("closed_at")); err != nil {
			return cr.bad(line, "closed_at must be empty or RFC 3339, e.g. 2026-03-02T09:14:05Z")
		}
		if t.ExpiresAt, err = parseTime(get("expires_at")); err != nil {
			return cr.bad(line, "expires_at must be empty or RFC 3339, e.g. 2026-03-05T09:14:05Z")
		}
		if !t.ClosedAt.IsZero() && t.ClosedAt.Before(t.OpenedAt) {
			return cr.bad(line, "closed_at is before opened_at")
		}
		if !t.ExpiresAt.IsZero() && !t.ExpiresAt.After(t.OpenedAt) {
			return cr.bad(line, "expires_at must be after opened_at")
		}
		out = append(out, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseTime parses an RFC 3339 time into UTC; empty is the zero time.
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() || t.Unix() == 0 && t.Nanosecond() == 0 {
		return time.Time{}, errors.New("not a real time")
	}
	return t.UTC(), nil
}

// Load checks the batch against what the store holds, then stores it; a
// failure stores nothing. A ticket's assignee must be a principal at the
// ticket's site when principals are known (in the batch, or in the store):
// a principal in the batch counts over one of the same id in the store.
// Such an error wraps ErrBadRow and names the ticket.
func Load(ctx context.Context, st store.Store, b store.Batch) error {
	if err := checkAssignees(ctx, st, b); err != nil {
		return fmt.Errorf("import: nothing was loaded: %w", err)
	}
	if err := st.Import(ctx, b); err != nil {
		return fmt.Errorf("import: nothing was loaded: %w", err)
	}
	return nil
}

func checkAssignees(ctx context.Context, st store.Store, b store.Batch) error {
	sites := map[string]string{} // principal → site, from the batch, then the store
	for _, p := range b.Principals {
		sites[p.ID] = p.Site
	}
	known := len(b.Principals) > 0
	checkedStore := false
	for i, t := range b.Tickets {
		if t.Assignee == "" {
			continue
		}
		site, ok := sites[t.Assignee]
		if !ok {
			p, err := st.Principal(ctx, t.Assignee)
			switch {
			case err == nil:
				site, ok = p.Site, true
				sites[p.ID] = p.Site
			case !errors.Is(err, store.ErrNotFound):
				return fmt.Errorf("tickets: ticket %s: look up assignee: %w", t.ID, err)
			}
		}
		if !ok && !known && !checkedStore {
			// Principals are known if the store has any.
			v, err := st.PrincipalsVersion(ctx)
			if err != nil {
				return fmt.Errorf("tickets: %w", err)
			}
			known, checkedStore = v > 0, true
		}
		switch {
		case !ok && known:
			return fmt.Errorf("tickets: ticket %s (row %d): %w: assignee %q is not a known principal", t.ID, i+1, ErrBadRow, truncate(t.Assignee))
		case ok && site != t.Site:
			return fmt.Errorf("tickets: ticket %s (row %d): %w: assignee %q works at site %q, not at the ticket's site %q",
				t.ID, i+1, ErrBadRow, truncate(t.Assignee), site, t.Site)
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
