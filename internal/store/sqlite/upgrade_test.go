package sqlite_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/store/storetest"
)

// todaysDatabase makes a database with today's schema in a new directory
// and returns its path and a plain connection to it, through which a test
// turns it into an older one (and then closes it).
func todaysDatabase(t *testing.T) (string, *sql.DB) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "custos.db")
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	return path, db
}

// TestUpgradeFromV1 opens a database made with the first schema (before
// tickets had holders and statuses had sources): Open must add the new
// columns, keep every row, and read the old rows with the new fields empty.
func TestUpgradeFromV1(t *testing.T) {
	ctx := t.Context()
	// A first-schema database: today's, without the columns added since.
	path, db := todaysDatabase(t)
	opened := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for _, q := range []string{
		`ALTER TABLE principals DROP COLUMN status_source`,
		`ALTER TABLE principals DROP COLUMN status_by`,
		`ALTER TABLE principals DROP COLUMN status_reason`,
		`ALTER TABLE tickets DROP COLUMN assignee`,
		`ALTER TABLE tickets DROP COLUMN expires_at`,
		`ALTER TABLE tickets DROP COLUMN crm`,
		`INSERT INTO principals (id, name, org, org_kind, role, site, region, status) VALUES ('emp-1', 'A', 'dist-1', 'distributor', 'store_clerk', 'store-1', 'GD', 'suspended')`,
		`INSERT INTO tickets (id, customer, site, opened_by, opened_at) VALUES ('t-1', 'c-1', 'store-1', 'emp-1', ` + strconv.FormatInt(opened.UnixNano(), 10) + `)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	assignee := ""
	for range 2 { // the second Open finds nothing left to do
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open of a v1 database: %v", err)
		}
		p, err := s.Principal(ctx, "emp-1")
		if err != nil || p.Status != store.StatusSuspended || p.StatusSource != "" {
			t.Errorf("Principal = %+v, %v", p, err)
		}
		tk, err := s.Ticket(ctx, "t-1")
		if err != nil || !tk.OpenedAt.Equal(opened) || tk.Assignee != assignee || !tk.ExpiresAt.IsZero() || tk.CRM {
			t.Errorf("Ticket = %+v, %v", tk, err)
		}
		if err := s.AssignTicket(ctx, "t-1", "emp-2"); err != nil {
			t.Errorf("AssignTicket on an upgraded database: %v", err)
		}
		assignee = "emp-2"
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSnapshot copies a live database and opens the copy: it holds what was
// committed, is owner-only, and Snapshot refuses to overwrite a file.
func TestSnapshot(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetMeta(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTicket(ctx, store.Ticket{ID: "t-1", Customer: "c-1", Site: "s", OpenedBy: "emp-1", OpenedAt: time.Now(), CRM: true}); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "backup.db")
	if err := s.Snapshot(ctx, dst); err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	if err := s.Snapshot(ctx, dst); !errors.Is(err, os.ErrExist) {
		t.Errorf("Snapshot onto an existing file: %v, want os.ErrExist", err)
	}
	fi, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("snapshot has mode %v, want owner-only", fi.Mode().Perm())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".backup.db.tmp-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	c, err := sqlite.Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.Meta(ctx, "k"); err != nil || string(v) != "v" {
		t.Errorf("Meta in the copy = %q, %v", v, err)
	}
	if tk, err := c.Ticket(ctx, "t-1"); err != nil || !tk.CRM {
		t.Errorf("Ticket in the copy = %+v, %v", tk, err)
	}
}

// TestUpgradeBlobIndexes opens a database whose blind indexes are 32-byte
// blobs (whole HMACs, before indexes were 64-bit integers): Open must turn
// each into the integer of its first 8 bytes, in the customers table and
// in customer_former, so that every customer and former index resolves by
// the 8-byte index the vault computes now, and the lookup indexes exist.
func TestUpgradeBlobIndexes(t *testing.T) {
	ctx := t.Context()
	old := storetest.NewBlobIndexes()
	path, db := todaysDatabase(t)
	for _, o := range old.Customers {
		if _, err := db.ExecContext(ctx, `INSERT INTO customers (id, region, site, name, phone_idx, account_idx, name_idx)
			VALUES (?, 'GD', '', X'00', ?, ?, ?)`, o.ID, o.Phone, o.Account, o.Name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO customer_former (kind, idx, customer, replaced_at) VALUES ('phone', ?, 'c-1', 1)`, old.Former); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for range 2 { // the second Open finds nothing left to do
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("Open of a database with blob indexes: %v", err)
		}
		old.Check(t, s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'index'
		AND name IN ('customers_phone', 'customers_account', 'customers_name')`).Scan(&n); err != nil || n != 3 {
		t.Errorf("lookup indexes after the upgrade: %d, %v; want 3", n, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM customers WHERE typeof(phone_idx) = 'blob'
		OR typeof(account_idx) = 'blob' OR typeof(name_idx) = 'blob'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("blob indexes left: %d, %v", n, err)
	}
}
