package postgres_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
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
	hmac := func(seed string) []byte {
		h := sha256.Sum256([]byte(seed))
		return h[:]
	}
	neg := hmac("phone-2")
	neg[0] |= 0x80 // a negative bigint
	olds := []struct {
		id                  string
		phone, account, nam []byte
	}{
		{"c-1", hmac("phone-1"), hmac("account-1"), hmac("name")},
		{"c-2", neg, nil, hmac("name")},
	}
	for _, o := range olds {
		if _, err := conn.Exec(ctx, `INSERT INTO customers (id, region, site, name, phone_idx, account_idx, name_idx)
			VALUES ($1, 'GD', '', '\x00', $2, $3, $4)`, o.id, o.phone, o.account, o.nam); err != nil {
			t.Fatal(err)
		}
	}
	formerIdx := hmac("phone-old")
	// Two former indexes of c-1 that share their first 8 bytes become one.
	sameStart := append(bytes.Clone(formerIdx[:8]), hmac("other")[8:]...)
	for _, idx := range [][]byte{formerIdx, sameStart} {
		if _, err := conn.Exec(ctx, `INSERT INTO customer_former (kind, idx, customer, replaced_at) VALUES ('phone', $1, 'c-1', 1)`, idx); err != nil {
			t.Fatal(err)
		}
	}

	s = open(t, dbURL) // applies 0009
	want := func(b []byte) []byte {
		if b == nil {
			return nil
		}
		return b[:store.IndexSize]
	}
	for _, o := range olds {
		c, err := s.Customer(ctx, o.id)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(c.PhoneIndex, want(o.phone)) || !bytes.Equal(c.AccountIndex, want(o.account)) || !bytes.Equal(c.NameIndex, want(o.nam)) {
			t.Errorf("%s: indexes %x %x %x; want the first 8 bytes of %x %x %x", o.id,
				c.PhoneIndex, c.AccountIndex, c.NameIndex, o.phone, o.account, o.nam)
		}
		for _, idx := range [][]byte{o.phone, o.phone[:store.IndexSize]} {
			if cs, err := s.CustomersByIndex(ctx, store.IndexPhone, idx); err != nil || len(cs) != 1 || cs[0].ID != o.id {
				t.Errorf("CustomersByIndex(phone, %x) = %v, %v; want %s", idx, cs, err, o.id)
			}
		}
	}
	if ids, err := s.CustomerIDsByName(ctx, hmac("name")[:store.IndexSize]); err != nil || len(ids) != 2 {
		t.Errorf("CustomerIDsByName = %v, %v; want both", ids, err)
	}
	if ids, err := s.CustomerByFormer(ctx, store.FormerPhone, formerIdx[:store.IndexSize]); err != nil || len(ids) != 1 || ids[0] != "c-1" {
		t.Errorf("CustomerByFormer = %v, %v; want [c-1]", ids, err)
	}
	var version int
	if err := conn.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&version); err != nil || version != postgres.SchemaVersion() {
		t.Errorf("schema version %d, %v; want %d", version, err, postgres.SchemaVersion())
	}
}
