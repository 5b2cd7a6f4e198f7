package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Databases made before blind indexes were 64-bit integers keep them as
// 32-byte blobs (whole HMACs). upgradeIndexes converts them on Open, in one
// transaction: each blob becomes the integer of its first 8 bytes
// (store.IndexKey), which is what the vault computes now, so every stored
// customer and former index stays resolvable.

// hasBlobIndexes reports whether any blind index is still a blob. SQLite
// sorts every blob after every integer, so one seek on each lookup index
// (and on customer_former's key) answers, whatever the table's size.
const hasBlobIndexes = `SELECT EXISTS (SELECT 1 FROM customers WHERE phone_idx >= x'')
	OR EXISTS (SELECT 1 FROM customers WHERE account_idx >= x'')
	OR EXISTS (SELECT 1 FROM customers WHERE name_idx >= x'')
	OR EXISTS (SELECT 1 FROM customer_former WHERE kind IN ('phone', 'account') AND idx >= x'')`

// blobIndexToInt returns an SQL expression for col as an integer index:
// a blob's first 8 bytes read big-endian as a signed 64-bit integer (a
// shorter blob as if padded with zero bytes), anything else unchanged.
// SQLite has no function for it, so it reads the hex digits: the first
// byte signed, the others added in, which never leaves the int64 range.
func blobIndexToInt(col string) string {
	hex := "hex(substr(" + col + ", 1, 8))"
	digit := func(i int) string {
		return fmt.Sprintf("(instr('0123456789ABCDEF', substr(%s, %d, 1)) - 1)", hex, i)
	}
	byteAt := func(i int) string { return fmt.Sprintf("(%s * 16 + %s)", digit(2*i+1), digit(2*i+2)) }
	e := fmt.Sprintf("(%s - 256 * (%s >= 128))", byteAt(0), byteAt(0))
	for i := 1; i < 8; i++ {
		e = fmt.Sprintf("(%s * 256 + %s)", e, byteAt(i))
	}
	return "CASE WHEN typeof(" + col + ") = 'blob' THEN " + e + " ELSE " + col + " END"
}

// upgradeIndexes converts blob blind indexes to integers, if any are left.
func upgradeIndexes(ctx context.Context, w *sql.DB) error {
	var blobs bool
	if err := w.QueryRowContext(ctx, hasBlobIndexes).Scan(&blobs); err != nil {
		return err
	}
	if !blobs {
		return nil
	}
	tx, err := w.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// The lookup indexes go and are built again: cheaper than updating
	// them row by row.
	if err := dropLookupIndexes(ctx, tx); err != nil {
		return err
	}
	var set []string
	for _, col := range []string{"phone_idx", "account_idx", "name_idx"} {
		set = append(set, col+" = "+blobIndexToInt(col))
	}
	if _, err := tx.ExecContext(ctx, `UPDATE customers SET `+strings.Join(set, ", ")+`
		WHERE typeof(phone_idx) = 'blob' OR typeof(account_idx) = 'blob' OR typeof(name_idx) = 'blob'`); err != nil {
		return fmt.Errorf("convert customers' blind indexes: %w", err)
	}
	for _, q := range lookupIndexes {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	// customer_former gets the new declared type too; two former indexes
	// of one customer that share their first 8 bytes become one.
	for _, q := range []string{
		`CREATE TABLE customer_former_int (
			kind TEXT NOT NULL, idx INTEGER NOT NULL, customer TEXT NOT NULL,
			replaced_at INTEGER NOT NULL,
			PRIMARY KEY (kind, idx, customer)
		) WITHOUT ROWID`,
		`INSERT OR IGNORE INTO customer_former_int (kind, idx, customer, replaced_at)
			SELECT kind, ` + blobIndexToInt("idx") + `, customer, replaced_at FROM customer_former ORDER BY replaced_at`,
		`DROP TABLE customer_former`,
		`ALTER TABLE customer_former_int RENAME TO customer_former`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("convert former blind indexes: %w", err)
		}
	}
	return tx.Commit()
}
