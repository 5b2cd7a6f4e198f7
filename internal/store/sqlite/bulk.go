package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// This file holds the bulk load (store.CustomerLoader), the single customer
// write (store.CustomerWriter) and the former blind indexes
// (store.FormerIndexes).
//
// A load runs one of two ways:
//
//   - Into an empty customers table, when it is a full load (the first
//     load of a deployment, at the brand's scale): the lookup indexes are
//     dropped and the rows go straight into the table, all in one IMMEDIATE
//     transaction that builds the indexes again and commits at the end.
//     Until then the rows are in the write-ahead log only, invisible to
//     every reader, and a crash (however hard) rolls them back: the stage is
//     the uncommitted transaction. It holds the database's write lock
//     throughout, so other writers (a running server) wait for it. Once
//     committed, it copies the WAL into the database (a checkpoint).
//   - Otherwise (the table holds customers, or the load is an upsert): the
//     rows are staged in a TEMP table on the writer connection. SQLite keeps
//     temporary tables in a file of their own that is deleted when the
//     connection closes or the process dies, and writing them takes no lock
//     on the database: a server using the same file goes on working while
//     the rows are staged. Commit switches them in with one IMMEDIATE
//     transaction that also keeps the former indexes of replaced rows.

var (
	_ store.CustomerLoader = (*Store)(nil)
	_ store.CustomerWriter = (*Store)(nil)
	_ store.FormerIndexes  = (*Store)(nil)
)

// loadRowsPerInsert is how many rows one multi-row INSERT carries (13
// parameters each, well under SQLite's bound on host parameters).
const loadRowsPerInsert = 256

// loadRowsPerTx is how many staged rows one transaction on the staging
// table carries.
const loadRowsPerTx = 100_000

// loadCacheKiB is the page cache of the writer connection (and of its
// temporary tables) while a load stages rows, or inserts them directly out
// of id order (a direct load in order: directCacheKiB). The connection is
// discarded after the load.
const loadCacheKiB = 64 << 10

// directCacheKiB is the page cache of a direct load while its ids ascend
// (then loadCacheKiB). Such a load only appends, to the table and to its
// id index, so a larger cache would only hold written pages longer. And
// the first index build must copy each page still dirty into its
// statement journal before it writes the page to the WAL: with 64 MiB that
// was a tenth of the build's time. It is also 100 MB less memory.
const directCacheKiB = 8 << 10

// indexBuild prepares the writer connection to build the lookup indexes
// (SQLite sorts the keys of each): the sort runs in runs of 8 MiB that two
// helper threads sort while the table is still being scanned, then
// merges them. Measured on 1M rows, a fifth faster and 90 MB smaller than
// one sort in a 64 MiB cache. The connection is discarded after the load.
var indexBuild = []string{`PRAGMA threads = 2`, `PRAGMA cache_size = -8192`}

// buildLookupIndexes builds the lookup indexes in tx.
func buildLookupIndexes(ctx context.Context, tx *sql.Tx) error {
	for _, q := range append(indexBuild[:len(indexBuild):len(indexBuild)], lookupIndexes...) {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// lookupIndexes are the customers table's lookup indexes, as schema.sql
// creates them. A full load drops them and builds them again at the end.
var lookupIndexes = []string{
	`CREATE INDEX IF NOT EXISTS customers_phone ON customers (phone_idx)`,
	`CREATE INDEX IF NOT EXISTS customers_account ON customers (account_idx)`,
	`CREATE INDEX IF NOT EXISTS customers_name ON customers (name_idx)`,
}

func dropLookupIndexes(ctx context.Context, tx *sql.Tx) error {
	for _, name := range []string{"customers_phone", "customers_account", "customers_name"} {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS `+name); err != nil {
			return err
		}
	}
	return nil
}

type load struct {
	s    *Store
	conn *sql.Conn
	opt  store.LoadOptions
	// direct is set for a full load into an empty table: tx is the one
	// transaction, rows go into customers.
	direct bool
	tx     *sql.Tx
	ins    *rawStmt // loadRowsPerInsert rows
	// insKeys inserts loadRowsPerInsert rows' record keys (direct only).
	insKeys *rawStmt
	// rollback says ins and insKeys are the INSERT OR ROLLBACK forms
	// (direct only, while the ids ascend: see directInsert).
	rollback bool
	// path is the database file's; stopWriteback stops the background
	// writeback of its WAL (direct only, see writeback).
	path          string
	stopWriteback func()
	inTx          int // rows staged in the open staging transaction
	done          bool
	args          []any
	staged        int
	// lines maps the ordinal of a staged row (1-based) to its line: entry
	// {n, d} says rows from the n-th on are on line ordinal+d, until the
	// next entry. A file without quoted line breaks needs one entry.
	lines [][2]int
	// order says whether the ids staged ascend: then no id can repeat,
	// and the rows are already in key order.
	order row.IDOrder
}

// LoadCustomers begins a load on the writer connection, which it holds
// until Commit or Abort: meanwhile this Store's other writes wait.
func (s *Store) LoadCustomers(ctx context.Context, opt store.LoadOptions) (store.CustomerLoad, error) {
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	l := &load{s: s, conn: conn, opt: opt}
	if err := l.begin(ctx); err != nil {
		l.Abort()
		return nil, fmt.Errorf("load customers: %w", err)
	}
	return l, nil
}

func (l *load) begin(ctx context.Context) error {
	for _, q := range []string{
		fmt.Sprintf(`PRAGMA cache_size = -%d`, loadCacheKiB),
		fmt.Sprintf(`PRAGMA temp.cache_size = -%d`, loadCacheKiB),
	} {
		if _, err := l.conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if !l.opt.Upsert {
		tx, err := l.conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRowContext(ctx, `SELECT 1 FROM customers LIMIT 1`).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			l.direct, l.tx = true, tx
			if err := tx.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&l.path); err != nil {
				return err
			}
			l.stopWriteback = writeback(l.path + "-wal")
			if err := dropLookupIndexes(ctx, tx); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM customer_keys`); err != nil { // none without a record
				return err
			}
			return l.prepareDirect(ctx, true)
		}
		tx.Rollback()
		if err != nil {
			return err
		}
	}
	for _, q := range []string{
		`PRAGMA temp.journal_mode = OFF`, // the staging table is thrown away on any failure
		`DROP TABLE IF EXISTS temp.load_customers`,
		`CREATE TEMP TABLE load_customers (
			line INTEGER NOT NULL, id TEXT NOT NULL, region TEXT NOT NULL, site TEXT NOT NULL,
			name BLOB, phone BLOB, account BLOB, phone_idx INTEGER, account_idx INTEGER, name_idx INTEGER,
			canary INTEGER NOT NULL, scope TEXT NOT NULL, wrapped BLOB)`,
	} {
		if _, err := l.conn.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	var err error
	l.ins, err = prepareRaw(ctx, l.conn, insertRows("temp.load_customers", loadCols, loadRowsPerInsert))
	return err
}

// loadCols are the staging table's columns; keyCols customer_keys'.
// directCols are the columns a direct load sets: canary and scope keep
// their defaults (false and the empty string), as every imported row has
// them; a row that does not goes in by a statement of all the columns
// (plainCustomer).
// Each bound value costs the driver a copy into C memory and the writer
// time.
const (
	loadCols   = `line, ` + row.CustomerCols + `, wrapped`
	keyCols    = `customer, wrapped`
	directCols = `id, region, site, name, phone, account, phone_idx, account_idx, name_idx`
)

// plainCustomer reports whether c has the defaults of the columns a direct
// load leaves out (directCols).
func plainCustomer(c store.Customer) bool { return !c.Canary && c.Scope == "" }

func insertRows(table, cols string, n int) string {
	one := "(?" + strings.Repeat(",?", strings.Count(cols, ",")) + ")"
	return `INSERT INTO ` + table + ` (` + cols + `) VALUES ` + one + strings.Repeat(","+one, n-1)
}

// directInsert is insertRows for a direct load. With rollback it is an
// INSERT OR ROLLBACK: SQLite then keeps no statement journal (a copy of
// every page the statement changes, to undo that statement alone if a row
// breaks a constraint), which took about a tenth of the writer's time. It
// is for rows whose ids ascend from the last one stored: they cannot
// collide with a stored id (the table was empty), and no other constraint
// can fail (no value is NULL), so only an I/O error can fail it, and that
// fails the whole load anyway. A failed INSERT OR ROLLBACK ends the
// transaction; the load is then over (see insert).
func directInsert(rollback bool, table, cols string, n int) string {
	q := insertRows(table, cols, n)
	if rollback {
		q = `INSERT OR ROLLBACK` + strings.TrimPrefix(q, `INSERT`)
	}
	return q
}

// prepareDirect prepares the full-size inserts of a direct load, the
// INSERT OR ROLLBACK forms if rollback (directInsert).
func (l *load) prepareDirect(ctx context.Context, rollback bool) error {
	l.closeStmts()
	l.ins, l.insKeys, l.rollback = nil, nil, rollback
	cache := loadCacheKiB
	if rollback {
		cache = directCacheKiB
	}
	if _, err := l.tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size = -%d`, cache)); err != nil {
		return err
	}
	var err error
	if l.insKeys, err = prepareRaw(ctx, l.conn, directInsert(rollback, "customer_keys", keyCols, loadRowsPerInsert)); err != nil {
		return err
	}
	l.ins, err = prepareRaw(ctx, l.conn, directInsert(rollback, "customers", directCols, loadRowsPerInsert))
	return err
}

// closeStmts closes the prepared inserts.
func (l *load) closeStmts() {
	for _, st := range []*rawStmt{l.ins, l.insKeys} {
		if st != nil {
			st.close(l.conn)
		}
	}
	l.ins, l.insKeys = nil, nil
}

// rawStmt is a prepared statement run on the driver's statement itself
// (sql.Conn.Raw): database/sql would check, convert and copy each of the
// thousands of values of a multi-row insert on every call. It runs on the
// connection it was prepared on, in whatever transaction is open there.
type rawStmt struct {
	st   driver.StmtExecContext
	args []driver.NamedValue
}

func prepareRaw(ctx context.Context, conn *sql.Conn, query string) (*rawStmt, error) {
	r := &rawStmt{}
	err := conn.Raw(func(dc any) error {
		p, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return errors.New("sqlite: internal error: driver connection lacks PrepareContext")
		}
		st, err := p.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		if r.st, ok = st.(driver.StmtExecContext); !ok {
			st.Close()
			return errors.New("sqlite: internal error: driver statement lacks ExecContext")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// exec runs the statement with args, which MUST be values the driver takes
// as they are (int64, bool, string, []byte or nil).
func (r *rawStmt) exec(ctx context.Context, conn *sql.Conn, args []any) error {
	if len(r.args) < len(args) {
		r.args = make([]driver.NamedValue, len(args))
	}
	nv := r.args[:len(args)]
	for i, v := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	defer clear(nv)
	return conn.Raw(func(any) error {
		_, err := r.st.ExecContext(ctx, nv)
		return err
	})
}

func (r *rawStmt) close(conn *sql.Conn) {
	conn.Raw(func(any) error { return r.st.(driver.Stmt).Close() }) //nolint:errcheck
}

// appendArgs appends the values of r's row: a direct load's (directCols,
// or all of row.CustomerCols if all) or the staging table's (loadCols).
func (l *load) appendArgs(args []any, r store.StagedCustomer, all bool) []any {
	c := r.Customer
	if !l.direct {
		args = append(args, int64(r.Line))
	}
	args = append(args, c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account,
		store.IndexKey(c.PhoneIndex), store.IndexKey(c.AccountIndex), store.IndexKey(c.NameIndex))
	if all || !l.direct {
		args = append(args, c.Canary, c.Scope)
	}
	if !l.direct {
		args = append(args, c.Key)
	}
	return args
}

// insertKeys stores the record keys of rows in a direct load (rows with
// none, sealed with the data key, have no key row).
func (l *load) insertKeys(ctx context.Context, rows []store.StagedCustomer) error {
	l.args = l.args[:0]
	for _, r := range rows {
		if r.Key != nil {
			l.args = append(l.args, r.ID, r.Key)
		}
	}
	var err error
	switch n := len(l.args) / 2; n {
	case 0:
	case loadRowsPerInsert:
		err = l.insKeys.exec(ctx, l.conn, l.args)
	default:
		_, err = l.tx.ExecContext(ctx, directInsert(l.rollback, "customer_keys", keyCols, n), l.args...)
	}
	clear(l.args)
	return err
}

// note records a staged row's ordinal, line and id.
func (l *load) note(r store.StagedCustomer) {
	l.staged++
	if d := r.Line - l.staged; len(l.lines) == 0 || l.lines[len(l.lines)-1][1] != d {
		l.lines = append(l.lines, [2]int{l.staged, d})
	}
	l.order.Note(r.ID)
}

// lineOf returns the line of the n-th staged row.
func (l *load) lineOf(n int) int {
	d := 0
	for _, e := range l.lines {
		if e[0] > n {
			break
		}
		d = e[1]
	}
	return n + d
}

// Add inserts rows with multi-row inserts: into the customers table in the
// load's transaction (direct), or into the staging table in large
// transactions that lock nothing in the database.
func (l *load) Add(ctx context.Context, rows []store.StagedCustomer) error {
	if l.done {
		return errors.New("load customers: load is over")
	}
	for len(rows) > 0 {
		if !l.direct && l.inTx == 0 {
			// A plain (deferred) BEGIN: it writes only the temporary
			// table, so it never takes the database's write lock.
			if _, err := l.conn.ExecContext(ctx, `BEGIN`); err != nil {
				return fmt.Errorf("load customers: %w", err)
			}
		}
		n := min(len(rows), loadRowsPerInsert)
		if err := l.insert(ctx, rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
		if l.inTx += n; !l.direct && l.inTx >= loadRowsPerTx {
			if err := l.commitStage(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *load) insert(ctx context.Context, rows []store.StagedCustomer) error {
	if l.direct && l.rollback && !l.order.Ascends(rows) {
		// From here on ids may repeat: each statement must be undone alone.
		if err := l.prepareDirect(ctx, false); err != nil {
			return fmt.Errorf("load customers: %w", err)
		}
	}
	// all: a row of a direct load needs every column (directCols).
	all := l.direct && slices.ContainsFunc(rows, func(r store.StagedCustomer) bool { return !plainCustomer(r.Customer) })
	l.args = l.args[:0]
	for _, r := range rows {
		l.args = l.appendArgs(l.args, r, all)
	}
	var err error
	switch {
	case len(rows) == loadRowsPerInsert && !all:
		err = l.ins.exec(ctx, l.conn, l.args)
	case l.direct:
		cols := directCols
		if all {
			cols = row.CustomerCols
		}
		_, err = l.tx.ExecContext(ctx, directInsert(l.rollback, "customers", cols, len(rows)), l.args...)
	default:
		_, err = l.conn.ExecContext(ctx, insertRows("temp.load_customers", loadCols, len(rows)), l.args...)
	}
	clear(l.args)
	if l.direct && !l.rollback && isUnique(err) {
		// An id the file has twice: find it row by row (the failed
		// statement changed nothing).
		err = l.insertEach(ctx, rows)
		if err != nil {
			return err
		}
		return l.insertKeys(ctx, rows)
	}
	if err == nil && l.direct {
		err = l.insertKeys(ctx, rows)
	}
	if err != nil {
		if l.rollback {
			// The transaction is gone: nothing more may run on the
			// connection as if it were open.
			l.Abort()
		}
		return fmt.Errorf("load customers: %w", err)
	}
	for _, r := range rows {
		l.note(r)
	}
	return nil
}

// insertEach inserts rows one at a time into the customers table of a
// direct load, and returns a *store.DuplicateError for the first whose id
// is taken. Rows take rowids 1, 2, … in the order staged, so the earlier
// row's rowid is its ordinal.
func (l *load) insertEach(ctx context.Context, rows []store.StagedCustomer) error {
	for _, r := range rows {
		_, err := l.tx.ExecContext(ctx, insertRows("customers", row.CustomerCols, 1), l.appendArgs(nil, r, true)...)
		if isUnique(err) {
			var first int
			if err := l.tx.QueryRowContext(ctx, `SELECT rowid FROM customers WHERE id = ?`, r.ID).Scan(&first); err != nil {
				return fmt.Errorf("load customers: %w", err)
			}
			return &store.DuplicateError{ID: r.ID, First: l.lineOf(first), Line: r.Line}
		}
		if err != nil {
			return fmt.Errorf("load customers: %w", err)
		}
		l.note(r)
	}
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

// Commit finishes the load in one transaction with rest.
func (l *load) Commit(ctx context.Context, rest store.Batch) (store.LoadResult, error) {
	if l.done {
		return store.LoadResult{}, errors.New("load customers: load is over")
	}
	defer l.Abort()
	var res store.LoadResult
	var err error
	if l.direct {
		err = l.finishDirect(ctx, rest, &res)
	} else {
		if err := l.commitStage(ctx); err != nil {
			return store.LoadResult{}, err
		}
		if !l.order.Ascending() {
			// One index serves the duplicate check and the switch's ORDER
			// BY id (rows go into the customers table in key order:
			// appends, not random inserts).
			if _, err := l.conn.ExecContext(ctx, `CREATE INDEX temp.load_customers_id ON load_customers (id, line)`); err != nil {
				return store.LoadResult{}, fmt.Errorf("load customers: %w", err)
			}
			if err := l.checkDistinct(ctx); err != nil {
				return store.LoadResult{}, err
			}
		}
		err = l.switchIn(ctx, rest, &res)
	}
	l.s.cache.Drop()
	if err != nil {
		return store.LoadResult{}, fmt.Errorf("load customers: %w", err)
	}
	return res, nil
}

// finishDirect builds the lookup indexes, stores rest and commits.
func (l *load) finishDirect(ctx context.Context, rest store.Batch, res *store.LoadResult) error {
	// The table was empty, but erased customers keep their tombstones: a
	// load leaves them out (secure_delete is on: nothing of them stays).
	r, err := l.tx.ExecContext(ctx, `DELETE FROM customers WHERE id IN (SELECT customer FROM erasures)`)
	if err != nil {
		return err
	}
	erased, _ := r.RowsAffected()
	if _, err := l.tx.ExecContext(ctx, `DELETE FROM customer_keys WHERE customer IN (SELECT customer FROM erasures)`); err != nil {
		return err
	}
	if err := buildLookupIndexes(ctx, l.tx); err != nil {
		return err
	}
	if err := importTx(ctx, l.tx, rest); err != nil {
		return err
	}
	if err := l.tx.Commit(); err != nil {
		return err
	}
	res.Created, res.Erased = l.staged-int(erased), int(erased)
	l.stopWriteback()
	// Copy the WAL into the database now, while its pages are written out
	// in the background, rather than when the store closes. PASSIVE: it
	// waits for no reader and no writer, and whatever it leaves is copied
	// later as usual. The load is durable already (committed), so a
	// failure here changes nothing and is not the load's.
	stop := writeback(l.path)
	defer stop()
	l.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`) //nolint:errcheck
	return nil
}

// writebackEvery is how often writeback looks at its file, and
// writebackChunk how much the file must have grown since the last
// writeback it started for it to start another.
const (
	writebackEvery = 100 * time.Millisecond
	writebackChunk = 32 << 20
)

// writeback has the file at path written out to disk in the background,
// in chunks of writebackChunk as it grows, until the returned function is
// called. A direct load writes hundreds of MB to its WAL, then the
// checkpoint as much to the database, and the kernel would keep all of it
// in memory until SQLite's fsync (the commit's, then the checkpoint's)
// waits for the disk to write it all; begun early, the disk writes while
// the CPU works. It only starts the writes (startWriteback): the fsyncs,
// and any write error, are SQLite's as before. A file it cannot open is
// left alone.
func writeback(path string) (stop func()) {
	f, err := os.Open(path)
	if err != nil {
		return func() {}
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		defer f.Close()
		t := time.NewTicker(writebackEvery)
		defer t.Stop()
		var from int64 // what is before has been started
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if fi, err := f.Stat(); err == nil && fi.Size()-from >= writebackChunk {
					startWriteback(f, from, fi.Size()-from)
					from = fi.Size()
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
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

// skipErased leaves the staged rows of erased customers out of a load.
const skipErased = `DELETE FROM temp.load_customers WHERE id IN (SELECT customer FROM erasures)`

// formerFromLoad keeps the phone and account indexes that staged rows
// replace.
const formerFromLoad = `INSERT OR IGNORE INTO customer_former (kind, idx, customer, replaced_at)
	SELECT 'phone', c.phone_idx, c.id, ?1 FROM temp.load_customers l JOIN customers c ON c.id = l.id
		WHERE c.phone_idx IS NOT NULL AND c.phone_idx IS NOT l.phone_idx
	UNION ALL
	SELECT 'account', c.account_idx, c.id, ?1 FROM temp.load_customers l JOIN customers c ON c.id = l.id
		WHERE c.account_idx IS NOT NULL AND c.account_idx IS NOT l.account_idx`

// switchIn moves the staged rows into the customers table.
func (l *load) switchIn(ctx context.Context, rest store.Batch, res *store.LoadResult) error {
	tx, err := l.conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	r, err := tx.ExecContext(ctx, skipErased)
	if err != nil {
		return err
	}
	erased, _ := r.RowsAffected()
	res.Erased = int(erased)
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM temp.load_customers l WHERE EXISTS
		(SELECT 1 FROM customers c WHERE c.id = l.id)`).Scan(&res.Replaced); err != nil {
		return err
	}
	res.Created = l.staged - res.Replaced - res.Erased
	if res.Replaced > 0 {
		if _, err := tx.ExecContext(ctx, formerFromLoad, row.Nanos(l.opt.Now)); err != nil {
			return fmt.Errorf("keep former indexes: %w", err)
		}
	}
	// The table's size is max(rowid), a count that costs one seek.
	var rows int64
	if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM customers`).Scan(&rows); err != nil {
		return err
	}
	rebuild := row.RebuildIndexes(l.opt, l.staged, float64(rows))
	order := "id"
	if l.order.Ascending() {
		order = "rowid" // the same order, without a sort
	}
	if rebuild {
		if err := dropLookupIndexes(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO customers (`+row.CustomerCols+`)
		SELECT `+row.CustomerCols+` FROM temp.load_customers ORDER BY `+order); err != nil {
		return err
	}
	// The staged rows' record keys replace the stored ones; a row sealed
	// with the data key (no key) drops the one it replaces.
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO customer_keys (`+keyCols+`)
		SELECT id, wrapped FROM temp.load_customers WHERE wrapped IS NOT NULL ORDER BY `+order); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM customer_keys WHERE customer IN
		(SELECT id FROM temp.load_customers WHERE wrapped IS NULL)`); err != nil {
		return err
	}
	if rebuild {
		if err := buildLookupIndexes(ctx, tx); err != nil {
			return err
		}
	}
	if err := importTx(ctx, tx, rest); err != nil {
		return err
	}
	return tx.Commit()
}

// Abort drops the staged rows (or rolls the direct load back) and gives
// the writer connection back. The connection is closed rather than reused
// (the pool opens a fresh one), so neither the staging table nor the
// load's settings outlive the load.
func (l *load) Abort() error {
	if l.done {
		return nil
	}
	l.done = true
	if l.stopWriteback != nil {
		l.stopWriteback()
	}
	l.closeStmts()
	if l.tx != nil {
		l.tx.Rollback()
	}
	// Returning driver.ErrBadConn from Raw makes database/sql close the
	// connection instead of pooling it (Raw then reports that error).
	l.conn.Raw(func(any) error { return driver.ErrBadConn }) //nolint:errcheck
	if err := l.conn.Close(); err != nil && !errors.Is(err, sql.ErrConnDone) {
		return err
	}
	return nil
}

// PutCustomer creates or replaces one customer, keeping the former phone
// and account indexes it replaces.
func (s *Store) PutCustomer(ctx context.Context, c store.Customer, at time.Time) (bool, error) {
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var pidx, aidx *int64
		err := tx.QueryRowContext(ctx, `SELECT phone_idx, account_idx FROM customers WHERE id = ?`, c.ID).Scan(&pidx, &aidx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
		case err != nil:
			return err
		default:
			for _, f := range row.Replaced(c, pidx, aidx) {
				if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO customer_former (kind, idx, customer, replaced_at) VALUES (?,?,?,?)`,
					f.Kind, f.Idx, c.ID, row.Nanos(at)); err != nil {
					return err
				}
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO customers (`+row.CustomerCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
			c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account,
			store.IndexKey(c.PhoneIndex), store.IndexKey(c.AccountIndex), store.IndexKey(c.NameIndex), c.Canary, c.Scope)
		if err != nil {
			return err
		}
		return putKey(ctx, tx, c)
	})
	s.cache.ForgetCustomer(c.ID)
	if err != nil {
		return false, fmt.Errorf("put customer %s: %w", c.ID, err)
	}
	return created, nil
}

// CustomerByFormer returns the customers that once had index idx.
func (s *Store) CustomerByFormer(ctx context.Context, kind string, idx []byte) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT customer FROM customer_former WHERE kind = ? AND idx = ? ORDER BY customer`,
		kind, store.IndexKey(idx))
	return collect(rows, err, row.String)
}

// CustomersByIndex returns the customers whose blind index of kind is
// index, in id order.
func (s *Store) CustomersByIndex(ctx context.Context, kind string, index []byte) ([]store.Customer, error) {
	col, err := row.IndexColumn(kind)
	if err != nil || len(index) == 0 {
		return nil, err
	}
	q := row.SelectCustomers + `WHERE c.` + col + ` = ? ORDER BY c.id`
	var rows *sql.Rows
	st, err := s.prep(ctx, s.r, q) // exact search runs it on every call
	if err == nil {
		rows, err = st.QueryContext(ctx, store.IndexInt(index))
	}
	cs, err := collect(rows, err, row.Customer)
	if err != nil {
		return nil, fmt.Errorf("customers by index: %w", err)
	}
	return cs, nil
}

// foundKey records in res a row of LookupCustomers: k is the key column as
// scanned (an id, or a blind index as stored).
func foundKey(res *store.Lookup, k any, id string, canary bool) {
	switch k := k.(type) {
	case int64:
		res.FoundIndex(k, id, canary)
	case string:
		res.Found([]byte(k), id, canary)
	case []byte:
		res.Found(k, id, canary)
	}
}

// lookupFormer resolves, through the former indexes, the keys of res that
// matched no current customer (leak tracing of replaced values).
func (s *Store) lookupFormer(ctx context.Context, kind string, keys [][]byte, res *store.Lookup) error {
	var miss []any
	for _, k := range row.Unresolved(kind, keys, res) {
		miss = append(miss, k)
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
			var k int64
			var id string
			var canary bool
			if err := rows.Scan(&k, &id, &canary); err != nil {
				rows.Close()
				return err
			}
			res.FoundIndex(k, id, canary)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}
