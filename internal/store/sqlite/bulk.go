package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// This file holds the bulk load (store.CustomerLoader), the single customer
// write (store.CustomerWriter) and the former blind indexes
// (store.FormerIndexes).
//
// A load stages its rows in a TEMP table on the writer connection. SQLite
// keeps temporary tables in a file of their own that it deletes when the
// connection closes (or the process dies), and writing them takes no lock
// on the database: a server using the same file goes on writing while the
// rows are staged, and a crash leaves the database exactly as it was.
// Commit then switches the rows in with one IMMEDIATE transaction.

var (
	_ store.CustomerLoader = (*Store)(nil)
	_ store.CustomerWriter = (*Store)(nil)
	_ store.FormerIndexes  = (*Store)(nil)
)

// loadRowsPerInsert is how many rows one multi-row INSERT stages (13
// parameters each, well under SQLite's bound on host parameters).
const loadRowsPerInsert = 256

// loadRowsPerTx is how many staged rows one transaction on the staging
// table carries.
const loadRowsPerTx = 100_000

// loadCacheKiB is the page cache of the writer connection (and of its
// temporary tables) while a load runs, so index builds sort in memory as
// far as they can. It is restored afterwards.
const loadCacheKiB = 96 << 10

// lookupIndexes are the customers table's lookup indexes, as schema.sql
// creates them. A full load drops them and builds them again at the end.
var lookupIndexes = []string{
	`CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone_idx)`,
	`CREATE INDEX IF NOT EXISTS customers_account ON customers (account_idx)`,
	`CREATE INDEX IF NOT EXISTS customers_name ON customers (name_idx)`,
}

const loadCols = `line, ` + row.CustomerCols

type load struct {
	s      *Store
	conn   *sql.Conn
	opt    store.LoadOptions
	ins    *sql.Stmt // loadRowsPerInsert rows
	inTx   int       // rows staged in the open staging transaction
	done   bool
	args   []any
	staged int
}

// LoadCustomers begins a staged load on the writer connection, which it
// holds until Commit or Abort: meanwhile this Store's other writes wait.
func (s *Store) LoadCustomers(ctx context.Context, opt store.LoadOptions) (store.CustomerLoad, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	l := &load{s: s, conn: conn, opt: opt}
	for _, q := range []string{
		fmt.Sprintf(`PRAGMA cache_size = -%d`, loadCacheKiB),
		fmt.Sprintf(`PRAGMA temp.cache_size = -%d`, loadCacheKiB),
		`DROP TABLE IF EXISTS temp.load_customers`,
		`CREATE TEMP TABLE load_customers (
			line INTEGER NOT NULL, id TEXT NOT NULL, region TEXT NOT NULL, site TEXT NOT NULL,
			name BLOB, phone BLOB, account BLOB, phone_idx BLOB, account_idx BLOB, name_idx BLOB,
			canary INTEGER NOT NULL, scope TEXT NOT NULL)`,
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			l.Abort()
			return nil, fmt.Errorf("load customers: %w", err)
		}
	}
	l.ins, err = conn.PrepareContext(ctx, insertRows(loadRowsPerInsert))
	if err != nil {
		l.Abort()
		return nil, fmt.Errorf("load customers: %w", err)
	}
	return l, nil
}

func insertRows(n int) string {
	one := "(?" + strings.Repeat(",?", 11) + ")"
	return `INSERT INTO temp.load_customers (` + loadCols + `) VALUES ` + one + strings.Repeat(","+one, n-1)
}

func appendLoadArgs(args []any, r store.StagedCustomer) []any {
	c := r.Customer
	return append(args, r.Line, c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account,
		c.PhoneIndex, c.AccountIndex, c.NameIndex, c.Canary, c.Scope)
}

// Add stages rows in multi-row inserts, in large transactions on the
// temporary table (which lock nothing in the database).
func (l *load) Add(ctx context.Context, rows []store.StagedCustomer) error {
	if l.done {
		return errors.New("load customers: load is over")
	}
	for len(rows) > 0 {
		if l.inTx == 0 {
			// A plain (deferred) BEGIN: it writes only the temporary
			// table, so it never takes the database's write lock.
			if _, err := l.conn.ExecContext(ctx, `BEGIN`); err != nil {
				return fmt.Errorf("load customers: %w", err)
			}
		}
		n := min(len(rows), loadRowsPerInsert)
		l.args = l.args[:0]
		for _, r := range rows[:n] {
			l.args = appendLoadArgs(l.args, r)
		}
		var err error
		if n == loadRowsPerInsert {
			_, err = l.ins.ExecContext(ctx, l.args...)
		} else {
			_, err = l.conn.ExecContext(ctx, insertRows(n), l.args...)
		}
		if err != nil {
			return fmt.Errorf("load customers: stage: %w", err)
		}
		rows = rows[n:]
		l.inTx += n
		l.staged += n
		if l.inTx >= loadRowsPerTx {
			if err := l.commitStage(ctx); err != nil {
				return err
			}
		}
	}
	clear(l.args)
	return nil
}

func (l *load) commitStage(ctx context.Context) error {
	if l.inTx == 0 {
		return nil
	}
	l.inTx = 0
	if _, err := l.conn.ExecContext(ctx, `COMMIT`); err != nil {
		return fmt.Errorf("load customers: stage: %w", err)
	}
	return nil
}

// Commit checks the staged ids, then switches the rows in with rest in one
// IMMEDIATE transaction.
func (l *load) Commit(ctx context.Context, rest store.Batch) (store.LoadResult, error) {
	if l.done {
		return store.LoadResult{}, errors.New("load customers: load is over")
	}
	defer l.Abort()
	if err := l.commitStage(ctx); err != nil {
		return store.LoadResult{}, err
	}
	// One index serves the duplicate check and the switch's ORDER BY id
	// (rows go into the customers table in key order: appends, not
	// random inserts).
	if _, err := l.conn.ExecContext(ctx, `CREATE INDEX temp.load_customers_id ON load_customers (id, line)`); err != nil {
		return store.LoadResult{}, fmt.Errorf("load customers: %w", err)
	}
	if err := l.checkDistinct(ctx); err != nil {
		return store.LoadResult{}, err
	}
	var res store.LoadResult
	err := l.switchIn(ctx, rest, &res)
	l.s.cache.drop()
	if err != nil {
		return store.LoadResult{}, fmt.Errorf("load customers: %w", err)
	}
	return res, nil
}

// checkDistinct returns a *store.DuplicateError for the first row (in file
// order) whose id an earlier row has.
func (l *load) checkDistinct(ctx context.Context) error {
	var id string
	err := l.conn.QueryRowContext(ctx, `SELECT id FROM load_customers GROUP BY id HAVING count(*) > 1 LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load customers: check ids: %w", err)
	}
	d := &store.DuplicateError{}
	err = l.conn.QueryRowContext(ctx, `SELECT l.id, l.line, (SELECT min(f.line) FROM load_customers f WHERE f.id = l.id)
		FROM load_customers l
		WHERE EXISTS (SELECT 1 FROM load_customers f WHERE f.id = l.id AND f.line < l.line)
		ORDER BY l.line LIMIT 1`).Scan(&d.ID, &d.Line, &d.First)
	if err != nil {
		return fmt.Errorf("load customers: check ids: %w", err)
	}
	return d
}

// formerFromLoad keeps the phone and account indexes that staged rows
// replace.
const formerFromLoad = `INSERT OR IGNORE INTO customer_former (kind, idx, customer, replaced_at)
	SELECT 'phone', c.phone_idx, c.id, ?1 FROM temp.load_customers l JOIN customers c ON c.id = l.id
		WHERE c.phone_idx IS NOT NULL AND c.phone_idx IS NOT l.phone_idx
	UNION ALL
	SELECT 'account', c.account_idx, c.id, ?1 FROM temp.load_customers l JOIN customers c ON c.id = l.id
		WHERE c.account_idx IS NOT NULL AND c.account_idx IS NOT l.account_idx`

func (l *load) switchIn(ctx context.Context, rest store.Batch, res *store.LoadResult) error {
	tx, err := l.conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM temp.load_customers l WHERE EXISTS
		(SELECT 1 FROM customers c WHERE c.id = l.id)`).Scan(&res.Replaced); err != nil {
		return err
	}
	res.Created = l.staged - res.Replaced
	if res.Replaced > 0 {
		if _, err := tx.ExecContext(ctx, formerFromLoad, row.Nanos(l.opt.Now)); err != nil {
			return fmt.Errorf("keep former indexes: %w", err)
		}
	}
	rebuild := !l.opt.Upsert && l.staged > 0
	if rebuild {
		for _, name := range []string{"customers_phone", "customers_account", "customers_name"} {
			if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+name); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO customers (`+row.CustomerCols+`)
		SELECT `+row.CustomerCols+` FROM temp.load_customers ORDER BY id`); err != nil {
		return err
	}
	if rebuild {
		for _, q := range lookupIndexes {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
	}
	if err := importTx(ctx, tx, rest); err != nil {
		return err
	}
	return tx.Commit()
}

// Abort drops the staged rows and gives the writer connection back. The
// connection is closed rather than reused (the pool opens a fresh one), so
// neither the staging table nor the load's settings outlive the load.
func (l *load) Abort() error {
	if l.done {
		return nil
	}
	l.done = true
	if l.ins != nil {
		l.ins.Close()
	}
	l.conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck // discards the connection
	return l.conn.Close()
}

// PutCustomer creates or replaces one customer, keeping the former phone
// and account indexes it replaces.
func (s *Store) PutCustomer(ctx context.Context, c store.Customer, at time.Time) (bool, error) {
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var pidx, aidx []byte
		err := tx.QueryRowContext(ctx, `SELECT phone_idx, account_idx FROM customers WHERE id = ?`, c.ID).Scan(&pidx, &aidx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
		case err != nil:
			return err
		default:
			if err := keepFormer(ctx, tx, c.ID, at, store.FormerPhone, pidx, c.PhoneIndex); err != nil {
				return err
			}
			if err := keepFormer(ctx, tx, c.ID, at, store.FormerAccount, aidx, c.AccountIndex); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO customers (`+row.CustomerCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account, c.PhoneIndex, c.AccountIndex, c.NameIndex, c.Canary, c.Scope)
		return err
	})
	s.cache.drop()
	if err != nil {
		return false, fmt.Errorf("put customer %s: %w", c.ID, err)
	}
	return created, nil
}

func keepFormer(ctx context.Context, tx *sql.Tx, id string, at time.Time, kind string, old, cur []byte) error {
	if len(old) == 0 || string(old) == string(cur) {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO customer_former (kind, idx, customer, replaced_at) VALUES (?,?,?,?)`,
		kind, old, id, row.Nanos(at))
	return err
}

// CustomerByFormer returns the customers that once had index idx.
func (s *Store) CustomerByFormer(ctx context.Context, kind string, idx []byte) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT customer FROM customer_former WHERE kind = ? AND idx = ? ORDER BY customer`, kind, idx)
	return collect(rows, err, row.String)
}

// lookupFormer resolves, through the former indexes, the keys of res that
// matched no current customer (leak tracing of replaced values).
func (s *Store) lookupFormer(ctx context.Context, kind string, keys [][]byte, res *store.Lookup) error {
	if kind != store.FormerPhone && kind != store.FormerAccount {
		return nil
	}
	var miss []any
	for i, k := range keys {
		if res.IDs[i] == "" && len(k) > 0 {
			miss = append(miss, k)
		}
	}
	const chunk = 500
	for start := 0; start < len(miss); start += chunk {
		part := miss[start:min(start+chunk, len(miss))]
		rows, err := s.r.QueryContext(ctx, `SELECT f.idx, f.customer, c.canary FROM customer_former f
			JOIN customers c ON c.id = f.customer
			WHERE f.kind = ? AND f.idx IN (?`+strings.Repeat(",?", len(part)-1)+`)`, append([]any{kind}, part...)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var k []byte
			var id string
			var canary bool
			if err := rows.Scan(&k, &id, &canary); err != nil {
				rows.Close()
				return err
			}
			res.Found(k, id, canary)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
