package importer_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// fuzzVault opens a vault on a throwaway SQLite store: the importer seals
// records and hashes tokens with it.
func fuzzVault(f *testing.F) *vault.Vault {
	f.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "custos.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	v, err := vault.Open(ctx, st, vault.NewKey())
	if err != nil {
		f.Fatal(err)
	}
	return v
}

// checkImportErr asserts the importer's error contract: every failure is a
// *LineError naming the file and a line >= 1, wrapping ErrBadRow, with a
// message on one line.
func checkImportErr(t *testing.T, file string, data []byte, err error) {
	t.Helper()
	var le *importer.LineError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *LineError", err, err)
	}
	if le.File != file || le.Line < 1 {
		t.Fatalf("LineError names %s:%d", le.File, le.Line)
	}
	if lines := bytes.Count(data, []byte("\n")) + 1; le.Line > lines+1 {
		t.Fatalf("line %d beyond the input's %d lines", le.Line, lines)
	}
	if !errors.Is(err, importer.ErrBadRow) {
		t.Fatalf("error %v does not wrap ErrBadRow", err)
	}
	if strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error message spans lines: %q", err.Error())
	}
}

// FuzzCustomers feeds arbitrary bytes to the customers.csv reader: it never
// panics, fails with a LineError, and what it accepts is well formed (valid,
// unique ids; phones in E.164 that unseal and re-normalise unchanged).
func FuzzCustomers(f *testing.F) {
	v := fuzzVault(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		cs, err := importer.Customers(bytes.NewReader(data), v)
		if err != nil {
			checkImportErr(t, "customers", data, err)
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if !importer.ValidID(c.ID) || seen[c.ID] {
				t.Fatalf("accepted bad or duplicate id %q", c.ID)
			}
			seen[c.ID] = true
			phone, err := v.Unseal(c, "phone")
			if err != nil {
				t.Fatal(err)
			}
			if again, err := vault.NormalizePhone(phone); err != nil || again != phone {
				t.Fatalf("stored phone %q is not normalised (%q, %v)", phone, again, err)
			}
			if c.Region == "" || c.Region != strings.ToUpper(c.Region) {
				t.Fatalf("region %q", c.Region)
			}
		}
	})
}

// FuzzPrincipals: never panics, LineError on failure, and accepted rows
// have known roles and org kinds and no token kept in the clear.
func FuzzPrincipals(f *testing.F) {
	v := fuzzVault(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ps, err := importer.Principals(bytes.NewReader(data), v)
		if err != nil {
			checkImportErr(t, "principals", data, err)
			return
		}
		for _, p := range ps {
			if !importer.ValidID(p.ID) || !importer.KnownRole(p.Role) || !importer.KnownOrgKind(p.OrgKind) || store.ReservedID(p.ID) {
				t.Fatalf("accepted bad principal %+v", p)
			}
			if len(p.TokenHash) != 0 && len(p.TokenHash) != 32 {
				t.Fatalf("token hash of %d bytes", len(p.TokenHash))
			}
			if len(p.TokenHash) > 0 && bytes.Contains(data, p.TokenHash) {
				t.Fatalf("token hash equals input bytes")
			}
		}
	})
}

// FuzzTickets: never panics, LineError on failure, accepted tickets have
// valid ids, a UTC opening time, and closing and expiry times after it.
func FuzzTickets(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ts, err := importer.Tickets(bytes.NewReader(data))
		if err != nil {
			checkImportErr(t, "tickets", data, err)
			return
		}
		for _, tk := range ts {
			for _, id := range []string{tk.ID, tk.Customer, tk.Site, tk.OpenedBy} {
				if !importer.ValidID(id) {
					t.Fatalf("accepted bad id %q", id)
				}
			}
			if tk.OpenedAt.Location().String() != "UTC" {
				t.Fatalf("opened_at not UTC: %v", tk.OpenedAt)
			}
			if tk.Assignee != "" && !importer.ValidID(tk.Assignee) {
				t.Fatalf("accepted bad assignee %q", tk.Assignee)
			}
			if !tk.ClosedAt.IsZero() && tk.ClosedAt.Before(tk.OpenedAt) || !tk.ExpiresAt.IsZero() && !tk.ExpiresAt.After(tk.OpenedAt) {
				t.Fatalf("accepted times out of order: %+v", tk)
			}
		}
	})
}
