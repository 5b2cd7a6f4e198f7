package postgres_test

import (
	"bytes"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store/postgres"
	"github.com/custos-dev/custos/internal/store/storetest"
)

// TestMigrateBlobIndexes takes a database as migration 0008 left it, blind
// indexes as 32-byte bytea (whole HMACs), and applies 0009: each index must
// become the bigint of its first 8 bytes, in customers and in
// customer_former, so that every customer and former index resolves by the
// 8-byte index the vault computes now.
func TestMigrateBlobIndexes(t *testing.T) {
	ctx := t.Context()
	dbURL := newDatabase(t)
	s, err := postgres.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// Back to version 8: the columns as 0001 and 0004 made them, and
	// nothing of the migrations after 0009 (applied again on open).
	for _, q := range []string{
		`DELETE FROM schema_migrations WHERE version >= 9`,
		`DROP TABLE quota_counts`,
		`DROP TRIGGER quota_counted ON quota`,
		`DROP FUNCTION custos_quota_counted()`,
		`ALTER TABLE customers ALTER COLUMN phone_idx TYPE BYTEA USING NULL,
			ALTER COLUMN account_idx TYPE BYTEA USING NULL, ALTER COLUMN name_idx TYPE BYTEA USING NULL`,
		`DROP TABLE customer_former`,
		`CREATE TABLE customer_former (kind TEXT NOT NULL, idx BYTEA NOT NULL, customer TEXT NOT NULL,
			replaced_at BIGINT NOT NULL, PRIMARY KEY (kind, idx, customer))`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old := storetest.NewBlobIndexes()
	for _, o := range old.Customers {
		if _, err := conn.Exec(ctx, `INSERT INTO customers (id, region, site, name, phone_idx, account_idx, name_idx)
			VALUES ($1, 'GD', '', '\x00', $2, $3, $4)`, o.ID, o.Phone, o.Account, o.Name); err != nil {
			t.Fatal(err)
		}
	}
	// Two former indexes of c-1 that share their first 8 bytes become one.
	sameStart := append(bytes.Clone(old.Former[:8]), storetest.Blob("other")[8:]...)
	for _, idx := range [][]byte{old.Former, sameStart} {
		if _, err := conn.Exec(ctx, `INSERT INTO customer_former (kind, idx, customer, replaced_at) VALUES ('phone', $1, 'c-1', 1)`, idx); err != nil {
			t.Fatal(err)
		}
	}

	s = open(t, dbURL) // applies 0009
	old.Check(t, s)
	var version int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != postgres.SchemaVersion() {
		t.Errorf("schema version %d, %v; want %d", version, err, postgres.SchemaVersion())
	}
}
