package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// This file holds the bulk load (store.CustomerLoader), the single customer
// write (store.CustomerWriter) and the former blind indexes
// (store.FormerIndexes).
//
// A load is one transaction from start to end: the rows go by COPY into a
// temporary table (ON COMMIT DROP) that no other session sees, and Commit
// switches them in and commits. A crash or Abort at any point rolls it all
// back: the database is as it was.

var (
	_ store.CustomerLoader = (*Store)(nil)
	_ store.CustomerWriter = (*Store)(nil)
	_ store.FormerIndexes  = (*Store)(nil)
)

// customerLock is the first key of the two-key advisory locks that
// serialise writes of one customer ("cusw" in ASCII); the second is the
// hash of the id.
const customerLock int32 = 0x63757377

var loadColumns = []string{"line", "id", "region", "site", "name", "phone", "account",
	"phone_idx", "account_idx", "name_idx", "canary", "scope", "wrapped"}

// lookupIndexes are the customers table's lookup indexes, as the
// migrations create them. A full load drops them and builds them again.
var lookupIndexes = []string{
	`CREATE INDEX customers_phone ON customers (phone_idx)`,
	`CREATE INDEX customers_account ON customers (account_idx)`,
	`CREATE INDEX customers_name ON customers (name_idx)`,
}

type load struct {
	cache  *row.Cache // dropped when the load commits
	conn   *pgxpool.Conn
	tx     pgx.Tx
	opt    store.LoadOptions
	done   bool
	staged int
	// order says whether the ids staged ascend (files sorted by id, the
	// usual export): then no id can repeat.
	order row.IDOrder
}

// LoadCustomers begins a load: one transaction on a connection of its own.
func (s *Store) LoadCustomers(ctx context.Context, opt store.LoadOptions) (store.CustomerLoad, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, fmt.Errorf("load customers: %w", err)
	}
	l := &load{cache: s.cache, conn: conn, tx: tx, opt: opt}
	for _, q := range []string{
		`SET LOCAL maintenance_work_mem = '256MB'`,
		`CREATE TEMP TABLE load_customers (
			line BIGINT NOT NULL, id TEXT NOT NULL, region TEXT NOT NULL, site TEXT NOT NULL,
			name BYTEA, phone BYTEA, account BYTEA, phone_idx BIGINT, account_idx BIGINT, name_idx BIGINT,
			canary BOOLEAN NOT NULL, scope TEXT NOT NULL, wrapped BYTEA) ON COMMIT DROP`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			l.Abort()
			return nil, fmt.Errorf("load customers: %w", err)
		}
	}
	return l, nil
}

// Add stages rows with COPY.
func (l *load) Add(ctx context.Context, rows []store.StagedCustomer) error {
	if l.done {
		return errors.New("load customers: load is over")
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		c := rows[i].Customer
		return []any{int64(rows[i].Line), c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account,
			store.IndexKey(c.PhoneIndex), store.IndexKey(c.AccountIndex), store.IndexKey(c.NameIndex), c.Canary, c.Scope, c.Key}, nil
	})
	if _, err := l.tx.CopyFrom(ctx, pgx.Identifier{"load_customers"}, loadColumns, src); err != nil {
		return fmt.Errorf("load customers: copy: %w", err)
	}
	for _, r := range rows {
		l.order.Note(r.ID)
	}
	l.staged += len(rows)
	return nil
}

// formerFromLoad keeps the phone and account indexes that staged rows
// replace.
const formerFromLoad = `INSERT INTO customer_former (kind, idx, customer, replaced_at)
	SELECT 'phone', c.phone_idx, c.id, $1::bigint FROM load_customers l JOIN customers c ON c.id = l.id
		WHERE c.phone_idx IS NOT NULL AND c.phone_idx IS DISTINCT FROM l.phone_idx
	UNION ALL
	SELECT 'account', c.account_idx, c.id, $1::bigint FROM load_customers l JOIN customers c ON c.id = l.id
		WHERE c.account_idx IS NOT NULL AND c.account_idx IS DISTINCT FROM l.account_idx
	ON CONFLICT DO NOTHING`

// Commit checks the staged ids, switches the rows in with rest and commits.
func (l *load) Commit(ctx context.Context, rest store.Batch) (store.LoadResult, error) {
	if l.done {
		return store.LoadResult{}, errors.New("load customers: load is over")
	}
	defer l.Abort()
	defer l.cache.Drop()
	var res store.LoadResult
	if err := l.switchIn(ctx, rest, &res); err != nil {
		var d *store.DuplicateError
		if errors.As(err, &d) {
			return store.LoadResult{}, err
		}
		return store.LoadResult{}, fmt.Errorf("load customers: %w", err)
	}
	l.done = true
	l.conn.Release()
	return res, nil
}

func (l *load) switchIn(ctx context.Context, rest store.Batch, res *store.LoadResult) error {
	tx := l.tx
	if !l.order.Ascending() {
		if err := l.checkDistinct(ctx); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `ANALYZE load_customers`); err != nil {
		return err
	}
	// Writers of customers (PutCustomer, other loads) wait for the
	// switch; readers do not, unless the indexes are rebuilt.
	if _, err := tx.Exec(ctx, `LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return err
	}
	// A load never brings an erased customer back.
	tag, err := tx.Exec(ctx, `DELETE FROM load_customers l USING erasures e WHERE l.id = e.customer`)
	if err != nil {
		return err
	}
	res.Erased = int(tag.RowsAffected())
	var empty bool
	if err := tx.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM customers)`).Scan(&empty); err != nil {
		return err
	}
	if !empty {
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM load_customers l JOIN customers c ON c.id = l.id`).Scan(&res.Replaced); err != nil {
			return err
		}
	}
	res.Created = l.staged - res.Replaced - res.Erased
	if res.Replaced > 0 {
		if _, err := tx.Exec(ctx, formerFromLoad, row.Nanos(l.opt.Now)); err != nil {
			return fmt.Errorf("keep former indexes: %w", err)
		}
	}
	// The table's size is the planner's estimate.
	var rows float64
	if err := tx.QueryRow(ctx, `SELECT reltuples::float8 FROM pg_class WHERE oid = 'customers'::regclass`).Scan(&rows); err != nil {
		return err
	}
	if empty {
		rows = 0
	}
	rebuild := row.RebuildIndexes(l.opt, l.staged, rows)
	if rebuild {
		if _, err := tx.Exec(ctx, `DROP INDEX IF EXISTS customers_phone, customers_account, customers_name`); err != nil {
			return err
		}
	}
	insert := `INSERT INTO customers (` + row.CustomerCols + `) SELECT ` + row.CustomerCols + ` FROM load_customers`
	if !l.order.Ascending() {
		insert += ` ORDER BY id` // key order: the primary key's index grows at its end
	}
	if !empty {
		insert += ` ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, site = EXCLUDED.site,
		name = EXCLUDED.name, phone = EXCLUDED.phone, account = EXCLUDED.account,
		phone_idx = EXCLUDED.phone_idx, account_idx = EXCLUDED.account_idx, name_idx = EXCLUDED.name_idx,
		canary = EXCLUDED.canary, scope = EXCLUDED.scope`
	}
	if _, err := tx.Exec(ctx, insert); err != nil {
		return err
	}
	// The staged rows' record keys replace the stored ones; a row sealed
	// with the data key (no key) drops the one it replaces.
	if _, err := tx.Exec(ctx, `INSERT INTO customer_keys (customer, wrapped)
		SELECT id, wrapped FROM load_customers WHERE wrapped IS NOT NULL
		ON CONFLICT (customer) DO UPDATE SET wrapped = EXCLUDED.wrapped`); err != nil {
		return err
	}
	if !empty {
		if _, err := tx.Exec(ctx, `DELETE FROM customer_keys k USING load_customers l
			WHERE k.customer = l.id AND l.wrapped IS NULL`); err != nil {
			return err
		}
	}
	if rebuild {
		for _, q := range lookupIndexes {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
	}
	principals := lastByID(rest.Principals, func(p store.Principal) string { return p.ID })
	tickets := lastByID(rest.Tickets, func(t store.Ticket) string { return t.ID })
	if err := importTx(ctx, tx, lastByID(rest.Customers, func(c store.Customer) string { return c.ID }), principals, tickets); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// checkDistinct returns a *store.DuplicateError for the first row (in file
// order) whose id an earlier row has.
func (l *load) checkDistinct(ctx context.Context) error {
	tx := l.tx
	if _, err := tx.Exec(ctx, `CREATE INDEX ON load_customers (id, line)`); err != nil {
		return err
	}
	var dup string
	err := tx.QueryRow(ctx, `SELECT id FROM load_customers GROUP BY id HAVING count(*) > 1 LIMIT 1`).Scan(&dup)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check ids: %w", err)
	}
	d := &store.DuplicateError{}
	var line, first int64
	if err := tx.QueryRow(ctx, `SELECT id, line, first FROM
		(SELECT id, line, min(line) OVER (PARTITION BY id) AS first FROM load_customers) t
		WHERE line > first ORDER BY line LIMIT 1`).Scan(&d.ID, &line, &first); err != nil {
		return fmt.Errorf("check ids: %w", err)
	}
	d.Line, d.First = int(line), int(first)
	return d
}

// Abort rolls the load back and releases its connection.
func (l *load) Abort() error {
	if l.done {
		return nil
	}
	l.done = true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := l.tx.Rollback(ctx)
	if errors.Is(err, pgx.ErrTxClosed) {
		err = nil
	}
	l.conn.Release()
	return err
}

// PutCustomer creates or replaces one customer, keeping the former phone
// and account indexes it replaces. Writes of one id are serialised by an
// advisory lock, so the former indexes are kept whichever gateway writes.
func (s *Store) PutCustomer(ctx context.Context, c store.Customer, at time.Time) (bool, error) {
	defer s.cache.ForgetCustomer(c.ID)
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, customerLock, c.ID); err != nil {
			return err
		}
		var pidx, aidx *int64
		err := tx.QueryRow(ctx, `SELECT phone_idx, account_idx FROM customers WHERE id = $1`, c.ID).Scan(&pidx, &aidx)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created = true
		case err != nil:
			return err
		default:
			for _, f := range row.Replaced(c, pidx, aidx) {
				if _, err := tx.Exec(ctx, `INSERT INTO customer_former (kind, idx, customer, replaced_at) VALUES ($1,$2,$3,$4)
					ON CONFLICT DO NOTHING`, f.Kind, f.Idx, c.ID, row.Nanos(at)); err != nil {
					return err
				}
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO customers (`+row.CustomerCols+`) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
			ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, site = EXCLUDED.site,
			name = EXCLUDED.name, phone = EXCLUDED.phone, account = EXCLUDED.account,
			phone_idx = EXCLUDED.phone_idx, account_idx = EXCLUDED.account_idx, name_idx = EXCLUDED.name_idx,
			canary = EXCLUDED.canary, scope = EXCLUDED.scope`,
			c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account, store.IndexKey(c.PhoneIndex), store.IndexKey(c.AccountIndex),
			store.IndexKey(c.NameIndex), c.Canary, c.Scope)
		if err != nil {
			return err
		}
		return putKeys(ctx, tx, []store.Customer{c})
	})
	if err != nil {
		return false, fmt.Errorf("put customer %s: %w", c.ID, err)
	}
	return created, nil
}

// indexPtr is store.IndexKey for a bigint[] argument (nil for NULL).
func indexPtr(b []byte) *int64 {
	if len(b) == 0 {
		return nil
	}
	k := store.IndexInt(b)
	return &k
}

// indexInts returns the stored forms of the non-empty blind indexes keys.
func indexInts(keys [][]byte) []int64 {
	out := make([]int64, 0, len(keys))
	for _, k := range keys {
		if len(k) > 0 {
			out = append(out, store.IndexInt(k))
		}
	}
	return out
}

// CustomersByIndex returns the customers whose blind index of kind is
// index, in id order.
func (s *Store) CustomersByIndex(ctx context.Context, kind string, index []byte) ([]store.Customer, error) {
	col, err := row.IndexColumn(kind)
	if err != nil || len(index) == 0 {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, row.SelectCustomers+`WHERE c.`+col+` = $1 ORDER BY c.id`, store.IndexInt(index))
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Customer, error) { return row.Customer(r) })
	if err != nil {
		return nil, fmt.Errorf("customers by index: %w", err)
	}
	return cs, nil
}

// CustomerByFormer returns the customers that once had index idx.
func (s *Store) CustomerByFormer(ctx context.Context, kind string, idx []byte) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT customer FROM customer_former WHERE kind = $1 AND idx = $2 ORDER BY customer`,
		kind, store.IndexKey(idx))
	if err != nil {
		return nil, fmt.Errorf("customer by former index: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("customer by former index: %w", err)
	}
	return ids, nil
}

// lookupFormer resolves, through the former indexes, the keys of res that
// matched no current customer (leak tracing of replaced values).
func (s *Store) lookupFormer(ctx context.Context, kind string, keys [][]byte, res *store.Lookup) error {
	miss := row.Unresolved(kind, keys, res)
	if len(miss) == 0 {
		return nil
	}
	rows, err := s.pool.Query(ctx, `SELECT f.idx, f.customer, c.canary FROM customer_former f
		JOIN customers c ON c.id = f.customer WHERE f.kind = $1 AND f.idx = ANY($2)`, kind, miss)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k int64
		var id string
		var canary bool
		if err := rows.Scan(&k, &id, &canary); err != nil {
			return err
		}
		res.FoundIndex(k, id, canary)
	}
	return rows.Err()
}
