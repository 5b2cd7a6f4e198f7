// Package importer reads the contract's CSV files (customers, principals,
// tickets) and turns them into one store batch. It is all or nothing: the
// first bad row is reported with its file and line, and nothing is stored.
package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
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

// OrgKinds are the contract's org kinds.
var OrgKinds = map[string]bool{"company": true, "distributor": true, "retailer": true, "contractor": true, "callcenter": true}

// Roles known out of the box.
var Roles = map[string]bool{
	"store_clerk": true, "store_manager": true, "repair_tech": true, "callcenter_agent": true, "partner_admin": true,
	"security_analyst": true, "privacy_officer": true, "auditor": true, "integration": true, "provisioner": true,
}

// Headers the contract fixes.
var (
	CustomerHeader  = []string{"id", "name", "phone", "account", "region", "site"}
	PrincipalHeader = []string{"id", "name", "org", "org_kind", "role", "site", "region", "token"}
	TicketHeader    = []string{"id", "customer", "site", "opened_by", "opened_at"}
)

// MinTokenLen is the shortest API token accepted on import.
const MinTokenLen = 16

// reader walks a CSV file row by row with line numbers.
type reader struct {
	name string
	cr   *csv.Reader
	cols map[string]int
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
	return &reader{name: name, cr: cr, cols: cols}, nil
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
	seen := map[string]int{}
	var out []store.Customer
	for {
		get, line, err := cr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		id := get("id")
		if !ValidID(id) {
			return nil, cr.bad(line, "id %q is not a valid id", truncate(id))
		}
		if prev, dup := seen[id]; dup {
			return nil, cr.bad(line, "duplicate id (first on line %d)", prev)
		}
		seen[id] = line
		name := get("name")
		if name == "" || len(name) > 200 {
			return nil, cr.bad(line, "name is required (at most 200 bytes)")
		}
		phone, err := vault.NormalizePhone(get("phone"))
		if err != nil {
			return nil, cr.bad(line, "phone is not a phone number in E.164 form (+8613800138000)")
		}
		account := vault.NormalizeAccount(get("account"))
		if account == "" || len(account) > 320 || strings.ContainsAny(account, " \t") {
			return nil, cr.bad(line, "account is required: an e-mail-like login")
		}
		region := strings.ToUpper(get("region"))
		if region == "" || len(region) > 16 {
			return nil, cr.bad(line, "region is required: a code such as GD")
		}
		site := get("site")
		if site != "" && !ValidID(site) {
			return nil, cr.bad(line, "site %q is not a valid id", truncate(site))
		}
		out = append(out, store.Customer{
			ID: id, Region: region, Site: site,
			Name:         v.Seal(id, "name", name),
			Phone:        v.Seal(id, "phone", phone),
			Account:      v.Seal(id, "account", account),
			PhoneIndex:   v.BlindIndex(vault.IndexPhone, phone),
			AccountIndex: v.BlindIndex(vault.IndexAccount, account),
			NameIndex:    v.BlindIndex(vault.IndexName, vault.NormalizeName(name)),
		})
	}
}

// Principals reads principals.csv; tokens are stored only as hashes.
func Principals(r io.Reader, v *vault.Vault) ([]store.Principal, error) {
	cr, err := newReader("principals", r, PrincipalHeader)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	tokens := map[string]int{}
	var out []store.Principal
	for {
		get, line, err := cr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		p := store.Principal{ID: get("id"), Name: get("name"), Org: get("org"), OrgKind: strings.ToLower(get("org_kind")),
			Role: strings.ToLower(get("role")), Site: get("site"), Region: strings.ToUpper(get("region")), Status: store.StatusActive}
		if !ValidID(p.ID) {
			return nil, cr.bad(line, "id %q is not a valid id", truncate(p.ID))
		}
		if prev, dup := seen[p.ID]; dup {
			return nil, cr.bad(line, "duplicate id (first on line %d)", prev)
		}
		seen[p.ID] = line
		if !ValidID(p.Org) {
			return nil, cr.bad(line, "org is required")
		}
		if !OrgKinds[p.OrgKind] {
			return nil, cr.bad(line, "org_kind %q: want company, distributor, retailer, contractor or callcenter", truncate(p.OrgKind))
		}
		if !Roles[p.Role] {
			return nil, cr.bad(line, "role %q is not a known role", truncate(p.Role))
		}
		if p.Site != "" && !ValidID(p.Site) {
			return nil, cr.bad(line, "site %q is not a valid id", truncate(p.Site))
		}
		if tok := get("token"); tok != "" {
			if len(tok) < MinTokenLen || len(tok) > 512 || strings.ContainsAny(tok, " \t") {
				return nil, cr.bad(line, "token must be %d to 512 characters without spaces", MinTokenLen)
			}
			if prev, dup := tokens[tok]; dup {
				return nil, cr.bad(line, "token already used on line %d", prev)
			}
			tokens[tok] = line
			p.TokenHash = v.TokenHash(tok)
		}
		out = append(out, p)
	}
}

// Tickets reads tickets.csv.
func Tickets(r io.Reader) ([]store.Ticket, error) {
	cr, err := newReader("tickets", r, TicketHeader)
	if err != nil {
		return nil, err
	}
	seen := map[string]int{}
	var out []store.Ticket
	for {
		get, line, err := cr.next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		t := store.Ticket{ID: get("id"), Customer: get("customer"), Site: get("site"), OpenedBy: get("opened_by")}
		for _, f := range []struct{ name, v string }{{"id", t.ID}, {"customer", t.Customer}, {"site", t.Site}, {"opened_by", t.OpenedBy}} {
			if !ValidID(f.v) {
				return nil, cr.bad(line, "%s %q is not a valid id", f.name, truncate(f.v))
			}
		}
		if prev, dup := seen[t.ID]; dup {
			return nil, cr.bad(line, "duplicate id (first on line %d)", prev)
		}
		seen[t.ID] = line
		at, err := time.Parse(time.RFC3339, get("opened_at"))
		if err != nil {
			return nil, cr.bad(line, "opened_at must be RFC 3339, e.g. 2026-03-02T09:14:05Z")
		}
		t.OpenedAt = at.UTC()
		out = append(out, t)
	}
}

// Load stores the batch; a failure stores nothing.
func Load(ctx context.Context, st store.Store, b store.Batch) error {
	if err := st.Import(ctx, b); err != nil {
		return fmt.Errorf("import: nothing was loaded: %w", err)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
