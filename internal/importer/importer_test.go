package importer_test

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

func openStore(t *testing.T) (*sqlite.Store, *vault.Vault) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := vault.Open(t.Context(), st, vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return st, v
}

// TestReservedPrincipalIDs: ids starting with "custos" or "subject", in any
// case, belong to custos itself (the detectors ignore them), so an import
// must refuse them, naming the file and line.
func TestReservedPrincipalIDs(t *testing.T) {
	_, v := openStore(t)
	for _, id := range []string{"custos:evil", "CUSTOS", "Subject-1", "subject", "custosx"} {
		t.Run(id, func(t *testing.T) {
			csv := "id,name,org,org_kind,role,site,region,token\n" +
				"emp-1,A,dist-1,distributor,store_clerk,store-1,GD,\n" +
				id + ",B,dist-1,distributor,store_clerk,store-1,GD,\n"
			_, err := importer.Principals(strings.NewReader(csv), v)
			var le *importer.LineError
			if !errors.As(err, &le) || le.File != "principals" || le.Line != 3 || !errors.Is(err, importer.ErrBadRow) ||
				!strings.Contains(err.Error(), "reserved") {
				t.Errorf("import of %q: %v; want a reserved-id error on principals line 3", id, err)
			}
		})
	}
	for _, id := range []string{"emp-custos", "cust", "subjec", "my-subject"} {
		if store.ReservedID(id) {
			t.Errorf("ReservedID(%q) = true", id)
		}
	}
}

// TestRoles: the role and org-kind sets cannot be changed through the
// slices handed out.
func TestRoles(t *testing.T) {
	p := importer.PartnerRoles()
	p[0] = "security_analyst"
	if importer.PartnerRoles()[0] == "security_analyst" {
		t.Error("PartnerRoles shares its slice")
	}
	for _, r := range append(importer.PartnerRoles(), importer.CompanyRoles()...) {
		if !importer.KnownRole(r) {
			t.Errorf("KnownRole(%q) = false", r)
		}
	}
	if slices.Contains(importer.PartnerRoles(), "security_analyst") || !slices.Contains(importer.CompanyRoles(), "provisioner") {
		t.Error("roles in the wrong group")
	}
	if importer.KnownRole("root") || importer.KnownOrgKind("partner") || !importer.KnownOrgKind("callcenter") {
		t.Error("KnownRole or KnownOrgKind accepts the wrong values")
	}
}

// TestTicketOptionalColumns reads tickets.csv with and without the
// optional columns assignee, closed_at and expires_at.
func TestTicketOptionalColumns(t *testing.T) {
	opened := time.Date(2026, 3, 2, 9, 14, 5, 0, time.UTC)
	tests := []struct {
		name, csv string
		want      []store.Ticket
		badLine   int // > 0: want an error on this line
	}{
		{"contract header only", "id,customer,site,opened_by,opened_at\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z\n",
			[]store.Ticket{{ID: "T-1", Customer: "c-1", Site: "store-1", OpenedBy: "emp-1", OpenedAt: opened}}, 0},
		{"all columns", "id,customer,site,opened_by,opened_at,assignee,closed_at,expires_at\n" +
			"T-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z,emp-2,2026-03-02T10:14:05Z,2026-03-05T09:14:05+00:00\n" +
			"T-2,c-1,store-1,emp-1,2026-03-02T17:14:05+08:00,,,\n",
			[]store.Ticket{
				{ID: "T-1", Customer: "c-1", Site: "store-1", OpenedBy: "emp-1", OpenedAt: opened, Assignee: "emp-2",
					ClosedAt: opened.Add(time.Hour), ExpiresAt: opened.Add(72 * time.Hour)},
				{ID: "T-2", Customer: "c-1", Site: "store-1", OpenedBy: "emp-1", OpenedAt: opened},
			}, 0},
		{"bad assignee", "id,customer,site,opened_by,opened_at,assignee\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z,emp/2\n", nil, 2},
		{"bad closed_at", "id,customer,site,opened_by,opened_at,closed_at\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z,yesterday\n", nil, 2},
		{"closed before opened", "id,customer,site,opened_by,opened_at,closed_at\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z,2026-03-01T09:14:05Z\n", nil, 2},
		{"expires before opened", "id,customer,site,opened_by,opened_at,expires_at\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z,2026-03-02T09:14:05Z\n", nil, 2},
		{"duplicate id", "id,customer,site,opened_by,opened_at\nT-1,c-1,store-1,emp-1,2026-03-02T09:14:05Z\nT-1,c-2,store-1,emp-1,2026-03-02T09:14:05Z\n", nil, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := importer.Tickets(strings.NewReader(tc.csv))
			if tc.badLine > 0 {
				var le *importer.LineError
				if !errors.As(err, &le) || le.Line != tc.badLine || le.File != "tickets" {
					t.Errorf("err = %v, want a LineError on tickets line %d", err, tc.badLine)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d tickets, want %d", len(got), len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.ID != w.ID || g.Assignee != w.Assignee || !g.OpenedAt.Equal(w.OpenedAt) ||
					!g.ClosedAt.Equal(w.ClosedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) {
					t.Errorf("ticket %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// TestLoadChecksAssignees: an assignee must be a principal at the ticket's
// site, looked up in the same import first and then in the store; with no
// principals known anywhere the assignee is taken as given.
func TestLoadChecksAssignees(t *testing.T) {
	ctx := t.Context()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tk := func(id, assignee string) store.Ticket {
		return store.Ticket{ID: id, Customer: "c-1", Site: "store-1", OpenedBy: "emp-1", OpenedAt: at, Assignee: assignee}
	}
	pr := func(id, site string) store.Principal {
		return store.Principal{ID: id, Name: id, Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: site, Region: "GD"}
	}

	st, _ := openStore(t)
	if err := importer.Load(ctx, st, store.Batch{Tickets: []store.Ticket{tk("T-0", "emp-x")}}); err != nil {
		t.Errorf("no principals known: %v", err)
	}
	if err := importer.Load(ctx, st, store.Batch{
		Principals: []store.Principal{pr("emp-2", "store-1"), pr("emp-3", "store-2")},
		Tickets:    []store.Ticket{tk("T-1", "emp-2")},
	}); err != nil {
		t.Errorf("assignee in the same import: %v", err)
	}
	if err := importer.Load(ctx, st, store.Batch{Tickets: []store.Ticket{tk("T-2", "emp-2")}}); err != nil {
		t.Errorf("assignee in the store: %v", err)
	}
	for _, tc := range []struct {
		name string
		b    store.Batch
	}{
		{"unknown assignee", store.Batch{Tickets: []store.Ticket{tk("T-3", "emp-9")}}},
		{"assignee at another site (store)", store.Batch{Tickets: []store.Ticket{tk("T-3", "emp-3")}}},
		{"assignee at another site (batch beats store)", store.Batch{
			Principals: []store.Principal{pr("emp-2", "store-7")}, Tickets: []store.Ticket{tk("T-3", "emp-2")}}},
	} {
		err := importer.Load(ctx, st, tc.b)
		if !errors.Is(err, importer.ErrBadRow) || !strings.Contains(err.Error(), "T-3") {
			t.Errorf("%s: %v; want a bad row naming T-3", tc.name, err)
		}
		if _, err := st.Ticket(ctx, "T-3"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: T-3 was stored", tc.name)
		}
	}
}
