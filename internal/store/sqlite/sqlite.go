// Package sqlite is the embedded store: one SQLite file through
// modernc.org/sqlite (no cgo). Writes go through one connection, so
// transactions never contend; reads use a small pool of read-only
// connections. The database runs in WAL mode with synchronous=FULL: a
// committed transaction survives a process crash and a power loss. The
// audit log's group commits are written without the flush and flushed
// after the writer is free for the next one (walSync), so each returns
// durable as well, without holding the writer while the disk works.
package sqlite

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // also the database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/prune"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

//go:embed schema.sql
var schema string

// Store is the SQLite implementation of store.Store.
type Store struct {
	row.Shared // alerts, checkpoints, cases, incidents: reads on r, writes on w
	w, r       *sql.DB
	// stmts caches prepared statements by pool and query text, so hot
	// queries are parsed once, not per call.
	stmts     sync.Map // stmtKey -> *sql.Stmt
	quota     *quotaCache
	cache     *row.Cache
	closeOnce sync.Once
	watchStop chan struct{}
	watchDone chan struct{}
	warm      chan struct{} // StartRowCache to watchDataVersion
	ck        *sql.DB       // checkpoints the WAL in the background; also takes snapshots
	ckDone    chan struct{}
	// pruneRates and pruneSessions pace the deletes of old rate-limit windows
	// and expired sessions.
	pruneRates, pruneSessions prune.Every
	wal                       *walSync // flushes the audit log's commits (nil at SyncNormal)
	unflushed                 unflushed
	// appendMu serializes the audit log's group commits with what they
	// know of the log's end: nextAudit, the index after this store's last
	// one, or -1 when unknown (auditNext).
	appendMu   sync.Mutex
	nextAudit  int64
	sx         *sql.DB // the derived database: search index, quota (derived.go)
	walRestart int64   // WAL frames at which the writer starts it over (checkpoint)
}

type stmtKey struct {
	db    *sql.DB
	query string
}

// prep returns a cached prepared statement for query on db.
func (s *Store) prep(ctx context.Context, db *sql.DB, query string) (*sql.Stmt, error) {
	k := stmtKey{db, query}
	if st, ok := s.stmts.Load(k); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := s.stmts.LoadOrStore(k, st); loaded {
		st.Close()
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// chunkedInsert inserts rows in statements of at most chunk rows each:
// one prepared statement for a full chunk and one for the rest, prepared
// on a pool once a size (prep) and run in a transaction by exec.
type chunkedInsert struct {
	chunk int
	stmts map[int]*sql.Stmt
}

// prepInsert prepares "verb INTO table (cols) VALUES …" on db for n rows
// in chunks of at most chunk; verb is INSERT or, say, INSERT OR IGNORE.
func (s *Store) prepInsert(ctx context.Context, db *sql.DB, verb, table, cols string, n, chunk int) (chunkedInsert, error) {
	ci := chunkedInsert{chunk: chunk, stmts: map[int]*sql.Stmt{}}
	for _, k := range []int{min(n, chunk), n % chunk} {
		if k > 0 && ci.stmts[k] == nil {
			st, err := s.prep(ctx, db, verb+strings.TrimPrefix(insertRows(table, cols, k), "INSERT"))
			if err != nil {
				return chunkedInsert{}, err
			}
			ci.stmts[k] = st
		}
	}
	return ci, nil
}

// exec inserts n rows in tx (on the pool the statements were prepared on);
// fill appends row i's values to args.
func (ci chunkedInsert) exec(ctx context.Context, tx *sql.Tx, n int, fill func(args []any, i int) []any) error {
	var args []any
	for done := 0; done < n; {
		k := min(n-done, ci.chunk)
		args = args[:0]
		for i := done; i < done+k; i++ {
			args = fill(args, i)
		}
		if _, err := tx.StmtContext(ctx, ci.stmts[k]).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("rows %d to %d: %w", done, done+k-1, err)
		}
		done += k
	}
	return nil
}

// rowR runs a cached single-row query on the read pool.
func (s *Store) rowR(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := s.prep(ctx, s.r, query)
	if err != nil {
		return s.r.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

var _ store.Store = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	sync       string
	walRestart int64 // frames; walRestart unless a test sets it
}

// Durability levels for WithSync.
const (
	// SyncFull flushes the write-ahead log to disk on every commit: an
	// acknowledged write survives a process crash and a power loss.
	SyncFull = "FULL"
	// SyncNormal leaves the flush to checkpoints: an acknowledged write
	// survives a process crash (kill -9) but may be lost, with the last
	// few commits before it, on a power loss or kernel crash.
	SyncNormal = "NORMAL"
)

// SyncFor is the sync level of a configured durability: "process" is
// SyncNormal, anything else ("full") SyncFull.
func SyncFor(durability string) string {
	if durability == "process" {
		return SyncNormal
	}
	return SyncFull
}

// WithSync sets the durability level (SyncFull, the default, or SyncNormal).
func WithSync(level string) Option { return func(o *options) { o.sync = level } }

// Open opens (creating if needed) the database file at path and applies the
// schema. The caller MUST Close it.
func Open(ctx context.Context, path string, opt ...Option) (*Store, error) {
	o := options{sync: SyncFull, walRestart: walRestart}
	for _, f := range opt {
		f(&o)
	}
	if o.sync != SyncFull && o.sync != SyncNormal {
		return nil, fmt.Errorf("open store: sync level %q: want %s or %s", o.sync, SyncFull, SyncNormal)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := restrictFiles(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	dsn := func(ro bool, extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous("+o.sync+")")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "cache_size(-16384)")
		if ro {
			q.Add("_pragma", "query_only(1)")
		}
		for _, e := range extra {
			q.Add("_pragma", e)
		}
		q.Set("_txlock", "immediate")
		return "file:" + path + "?" + q.Encode()
	}
	// The writer never checkpoints the WAL on its own (a checkpoint inside
	// a group commit would stall every request waiting on it); a
	// background connection does, passively, without blocking writers,
	// and the writer only copies what that left, to start the WAL over
	// (checkpoint).
	// The writer overwrites what it deletes or replaces with zeros
	// (secure_delete), so a replaced record key leaves no copy in the
	// file's free space (docs/THREATS.md, erasure).
	// When it starts the WAL over, it cuts the file down to 64 MiB.
	w, err := openRelaxable(dsn(false, "wal_autocheckpoint(0)", "secure_delete(1)", "journal_size_limit(67108864)"), o.sync)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if _, err := w.ExecContext(ctx, schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: apply schema: %w", path, err)
	}
	if err := addColumns(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: upgrade schema: %w", path, err)
	}
	if err := upgradeIndexes(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: upgrade blind indexes: %w", path, err)
	}
	r, err := openDB(dsn(true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s := &Store{Shared: row.Shared{R: sqlTx{r}, W: sqlTx{w}}, w: w, r: r, quota: newQuotaCache(), cache: row.NewCache(true), walRestart: o.walRestart, nextAudit: -1,
		watchStop: make(chan struct{}), watchDone: make(chan struct{}), warm: make(chan struct{}, 1)}
	s.InTx = func(ctx context.Context, fn func(row.Tx) error) error {
		return s.tx(ctx, func(tx *sql.Tx) error { return fn(sqlTx{tx}) })
	}
	if s.sx, err = openDerived(ctx, DerivedPath(path), w); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := s.recountQuota(ctx, time.Now()); err != nil {
		w.Close()
		r.Close()
		s.sx.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if o.sync == SyncFull {
		if s.wal, err = openWALSync(path); err != nil {
			w.Close()
			r.Close()
			s.sx.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
	}
	ck, err := openDB(dsn(false))
	if err != nil {
		w.Close()
		r.Close()
		s.sx.Close()
		if s.wal != nil {
			s.wal.close()
		}
		return nil, fmt.Errorf("open store: %w", err)
	}
	ck.SetMaxOpenConns(1)
	s.ck = ck
	s.ckDone = make(chan struct{})
	go s.flushLoop()
	go s.watchDataVersion(s.watchStop, s.watchDone)
	go s.checkpointLoop()
	return s, nil
}

// restrictFiles makes the database file owner-only before SQLite opens it.
// SQLite creates the -wal and -shm files with the mode of the database
// file, so creating it 0600 first keeps them private too (they hold the
// same data); ones left by an earlier run are tightened as well.
func restrictFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close closes both connection pools.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.quota.stop); close(s.watchStop) })
	<-s.quota.done
	<-s.watchDone
	<-s.ckDone
	s.ck.Close()
	s.stmts.Range(func(_, v any) bool { v.(*sql.Stmt).Close(); return true })
	err := errors.Join(s.r.Close(), s.w.Close(), s.sx.Close())
	if s.wal != nil {
		err = errors.Join(err, s.wal.close())
	}
	return err
}

// addedColumns are the columns added to tables after the first release:
// databases created before them get them on Open. New databases have them
// from schema.sql already.
var addedColumns = []struct{ table, column, decl string }{
	{"principals", "status_source", "TEXT NOT NULL DEFAULT ''"},
	{"principals", "status_by", "TEXT NOT NULL DEFAULT ''"},
	{"principals", "status_reason", "TEXT NOT NULL DEFAULT ''"},
	{"tickets", "assignee", "TEXT NOT NULL DEFAULT ''"},
	{"tickets", "expires_at", "INTEGER NOT NULL DEFAULT 0"},
	{"tickets", "crm", "INTEGER NOT NULL DEFAULT 0"},
}

// addColumns adds every missing column of addedColumns, in one
// transaction on the writer (so a crash leaves all or none).
func addColumns(ctx context.Context, w *sql.DB) error {
	have := map[[2]string]bool{}
	for _, table := range []string{"principals", "tickets"} {
		rows, err := w.QueryContext(ctx, `SELECT name FROM pragma_table_info(?)`, table)
		if err != nil {
			return err
		}
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			have[[2]string{table, name}] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	var missing []string
	for _, c := range addedColumns {
		if !have[[2]string{c.table, c.column}] {
			missing = append(missing, "ALTER TABLE "+c.table+" ADD COLUMN "+c.column+" "+c.decl)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for _, q := range missing {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return tx.Commit()
}

// isUnique reports whether err is a primary key or unique constraint
// violation, by SQLite's extended result code.
func isUnique(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return true
	}
	return false
}

// created maps a constraint violation on insert to store.ErrExists.
func created(err error) error {
	if isUnique(err) {
		return store.ErrExists
	}
	return err
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, s.w, fn)
}

// inTx runs fn in a transaction begun on db (a pool or one connection),
// and commits it if fn returns nil.
func inTx(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// relaxedTx is tx with synchronous=NORMAL for its commit: the commit is
// written to the WAL but not flushed while it holds the writer. The writer
// stays at NORMAL after it, until a statement that is not relaxed comes
// (conn.use), so back-to-back group commits switch nothing.
func (s *Store) relaxedTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.tx(relaxed(ctx), fn)
}

// flush returns once every commit written before the call is on disk: at
// once at SyncNormal, else after s.wal's next flush (relaxedTx's commits
// wait here after the writer is free for the next one).
func (s *Store) flush() error {
	if s.wal == nil {
		return nil
	}
	return s.wal.wait()
}

// Import stores the batch in one transaction.
func (s *Store) Import(ctx context.Context, b store.Batch) error {
	defer s.cache.Drop()
	return s.tx(ctx, func(tx *sql.Tx) error { return importTx(ctx, tx, b) })
}

// importTx stores the batch in tx.
func importTx(ctx context.Context, tx *sql.Tx, b store.Batch) error {
	{
		if len(b.Customers) > 0 {
			st, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO customers
				(id, region, site, name, phone, account, phone_idx, account_idx, name_idx, canary, scope)
				VALUES (?,?,?,?,?,?,?,?,?,?,?)`)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, c := range b.Customers {
				if _, err := st.ExecContext(ctx, c.ID, c.Region, c.Site, c.Name, c.Phone, c.Account,
					store.IndexKey(c.PhoneIndex), store.IndexKey(c.AccountIndex), store.IndexKey(c.NameIndex), c.Canary, c.Scope); err != nil {
					return fmt.Errorf("customer %s: %w", c.ID, err)
				}
				if err := putKey(ctx, tx, c); err != nil {
					return fmt.Errorf("customer %s: %w", c.ID, err)
				}
			}
		}
		for _, p := range b.Principals {
			if err := putPrincipal(ctx, tx, p); err != nil {
				return err
			}
		}
		if len(b.Principals) > 0 {
			if err := bumpPrincipals(ctx, tx); err != nil {
				return err
			}
		}
		for _, t := range b.Tickets {
			if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO tickets (`+row.TicketCols+`) VALUES (?,?,?,?,?,?,?,?,?)`,
				ticketArgs(t)...); err != nil {
				return fmt.Errorf("ticket %s: %w", t.ID, err)
			}
		}
		return nil
	}
}

// putKey stores c's record key in tx, or deletes the stored one when c has
// none (a record sealed with the data key).
func putKey(ctx context.Context, tx *sql.Tx, c store.Customer) error {
	var err error
	if c.Key == nil {
		_, err = tx.ExecContext(ctx, `DELETE FROM customer_keys WHERE customer = ?`, c.ID)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO customer_keys (customer, wrapped) VALUES (?, ?)`, c.ID, c.Key)
	}
	return err
}

func (s *Store) Customer(ctx context.Context, id string) (store.Customer, error) {
	return s.cache.Customer(id, func() (store.Customer, error) {
		return row.One(s.rowR(ctx, row.SelectCustomers+`WHERE c.id = ?`, id), row.Customer)
	})
}

func (s *Store) CustomerByPhone(ctx context.Context, index []byte) (store.Customer, error) {
	return row.One(s.rowR(ctx, row.SelectCustomers+`WHERE phone_idx = ? ORDER BY id LIMIT 1`, store.IndexKey(index)), row.Customer)
}

func (s *Store) CustomerByAccount(ctx context.Context, index []byte) (store.Customer, error) {
	return row.One(s.rowR(ctx, row.SelectCustomers+`WHERE account_idx = ? ORDER BY id LIMIT 1`, store.IndexKey(index)), row.Customer)
}

func (s *Store) CustomerIDsByName(ctx context.Context, index []byte) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM customers WHERE name_idx = ? ORDER BY id`, store.IndexKey(index))
	return collect(rows, err, row.String)
}

func (s *Store) CustomerCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM customers`).Scan(&n)
	return n, err
}

func (s *Store) Principal(ctx context.Context, id string) (store.Principal, error) {
	return row.One(s.rowR(ctx, `SELECT `+row.PrincipalCols+` FROM principals WHERE id = ?`, id), row.Principal)
}

func (s *Store) PrincipalByToken(ctx context.Context, tokenHash []byte) (store.Principal, error) {
	return row.One(s.rowR(ctx, `SELECT `+row.PrincipalCols+` FROM principals WHERE token_hash = ?`, tokenHash), row.Principal)
}

func (s *Store) Principals(ctx context.Context) ([]store.Principal, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+row.PrincipalCols+` FROM principals ORDER BY id`)
	return collect(rows, err, row.Principal)
}

func putPrincipal(ctx context.Context, tx *sql.Tx, p store.Principal) error {
	if p.Status == "" {
		p.Status = store.StatusActive
	}
	var tok any
	if len(p.TokenHash) > 0 {
		tok = p.TokenHash
	}
	// An existing principal keeps its status: only ChangeStatus changes it.
	_, err := tx.ExecContext(ctx, `INSERT INTO principals (`+row.PrincipalCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
		ON CONFLICT (id) DO UPDATE SET name=excluded.name, org=excluded.org, org_kind=excluded.org_kind,
		role=excluded.role, site=excluded.site, region=excluded.region,
		token_hash=COALESCE(excluded.token_hash, principals.token_hash), notice=excluded.notice`,
		p.ID, p.Name, p.Org, p.OrgKind, p.Role, p.Site, p.Region, tok, p.Status, row.Nanos(p.Notice),
		p.StatusSource, p.StatusBy, p.StatusReason)
	if err != nil {
		if isUnique(err) {
			return fmt.Errorf("principal %s: token already in use: %w", p.ID, store.ErrExists)
		}
		return fmt.Errorf("principal %s: %w", p.ID, err)
	}
	return nil
}

func bumpPrincipals(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, row.BumpPrincipals)
	return err
}

func (s *Store) PutPrincipal(ctx context.Context, p store.Principal) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := putPrincipal(ctx, tx, p); err != nil {
			return err
		}
		return bumpPrincipals(ctx, tx)
	})
}

func (s *Store) SetPrincipalStatus(ctx context.Context, id, status string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE principals SET status = ? WHERE id = ?`, status, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return bumpPrincipals(ctx, tx)
	})
}

func (s *Store) PrincipalsVersion(ctx context.Context) (int64, error) {
	var v int64
	err := s.rowR(ctx, `SELECT v FROM versions WHERE name = 'principals'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return v, err
}

func ticketArgs(t store.Ticket) []any {
	return []any{t.ID, t.Customer, t.Site, t.OpenedBy, row.Nanos(t.OpenedAt), row.Nanos(t.ClosedAt), t.Assignee, row.Nanos(t.ExpiresAt), t.CRM}
}

func (s *Store) CreateTicket(ctx context.Context, t store.Ticket) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO tickets (`+row.TicketCols+`) VALUES (?,?,?,?,?,?,?,?,?)`, ticketArgs(t)...)
	return created(err)
}

func (s *Store) Ticket(ctx context.Context, id string) (store.Ticket, error) {
	return s.cache.Ticket(id, func() (store.Ticket, error) {
		return row.One(s.rowR(ctx, `SELECT `+row.TicketCols+` FROM tickets WHERE id = ?`, id), row.Ticket)
	})
}

func (s *Store) TicketsByCustomer(ctx context.Context, customer string) ([]store.Ticket, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+row.TicketCols+` FROM tickets WHERE customer = ? ORDER BY opened_at, id`, customer)
	return collect(rows, err, row.Ticket)
}

func (s *Store) CreateConsent(ctx context.Context, c store.Consent) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO consents (id, customer, principal, code_hash, created_at, expires_at, attempts, confirmed_at, grant_until)
		VALUES (?,?,?,?,?,?,?,?,?)`, c.ID, c.Customer, c.Principal, c.CodeHash, row.Nanos(c.CreatedAt), row.Nanos(c.ExpiresAt),
		c.Attempts, row.Nanos(c.ConfirmedAt), row.Nanos(c.GrantUntil))
	return created(err)
}

func (s *Store) Consent(ctx context.Context, id string) (store.Consent, error) {
	return row.One(s.rowR(ctx, `SELECT `+row.ConsentCols+` FROM consents WHERE id = ?`, id), row.Consent)
}

func (s *Store) ConsentFailed(ctx context.Context, id string) (int, error) {
	var n int
	err := s.w.QueryRowContext(ctx, `UPDATE consents SET attempts = attempts + 1 WHERE id = ? RETURNING attempts`, id).Scan(&n)
	return n, row.NotFound(err)
}

func (s *Store) ConfirmConsent(ctx context.Context, id string, at, grantUntil time.Time) error {
	return row.ConfirmConsent(ctx, sqlTx{s.w}, id, at, grantUntil)
}

func (s *Store) CreateBreakGlass(ctx context.Context, b store.BreakGlass) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO breakglass (id, principal, customer, reason, created_at) VALUES (?,?,?,?,?)`,
		b.ID, b.Principal, b.Customer, b.Reason, row.Nanos(b.CreatedAt))
	return created(err)
}

func (s *Store) BreakGlass(ctx context.Context, id string) (store.BreakGlass, error) {
	b, err := row.BreakGlass(s.rowR(ctx, `SELECT `+row.BreakGlassCols+` FROM breakglass WHERE id = ?`, id))
	return b, row.NotFound(err)
}

func (s *Store) ApproveBreakGlass(ctx context.Context, id, approver string, at, expires time.Time) error {
	return row.ApproveBreakGlass(ctx, sqlTx{s.w}, id, approver, at, expires)
}

// ChargeQuota decides in memory and persists the counted customers in the
// background (flushed every few milliseconds and on Close). A crash can lose
// the last few rows, but never a read that was answered: every answered read
// is in the audit log, and Open re-counts the current day from it.
func (s *Store) ChargeQuota(ctx context.Context, principal, customer string, at time.Time, l store.QuotaLimits) (store.QuotaResult, error) {
	hw, dw, hEnd, dEnd := store.QuotaWindows(at)
	q := s.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	hs, err := q.window(ctx, s, principal, hw)
	if err != nil {
		return store.QuotaResult{}, err
	}
	ds, err := q.window(ctx, s, principal, dw)
	if err != nil {
		return store.QuotaResult{}, err
	}
	_, inHour := hs[customer]
	_, inDay := ds[customer]
	res := store.QuotaResult{HourCount: len(hs), DayCount: len(ds)}
	if !inHour && l.PerHour > 0 && len(hs) >= l.PerHour {
		res.RetryAfter = hEnd.Sub(at)
		return res, nil
	}
	if !inDay && l.PerDay > 0 && len(ds) >= l.PerDay {
		res.RetryAfter = dEnd.Sub(at)
		return res, nil
	}
	res.Allowed = true
	if !inHour {
		hs[customer] = struct{}{}
		q.pending = append(q.pending, quotaRow{principal, hw, customer})
		res.HourCount++
	}
	if !inDay {
		ds[customer] = struct{}{}
		q.pending = append(q.pending, quotaRow{principal, dw, customer})
		res.DayCount++
	}
	return res, nil
}

func (s *Store) QuotaUsage(ctx context.Context, principal string, at time.Time) (int, int, error) {
	hw, dw, _, _ := store.QuotaWindows(at)
	q := s.quota
	q.mu.Lock()
	defer q.mu.Unlock()
	hs, err := q.window(ctx, s, principal, hw)
	if err != nil {
		return 0, 0, err
	}
	ds, err := q.window(ctx, s, principal, dw)
	if err != nil {
		return 0, 0, err
	}
	return len(hs), len(ds), nil
}

type quotaRow struct{ principal, win, customer string }

// maxQuotaWindows bounds the windows quotaCache keeps in memory.
const maxQuotaWindows = 200000

// quotaCache holds the quota windows in use in memory, loaded from the
// quota table on first use and written back by flushLoop.
type quotaCache struct {
	mu      sync.Mutex
	wins    map[[2]string]map[string]struct{} // (principal, window) → customers
	pending []quotaRow
	stop    chan struct{}
	done    chan struct{}
}

func newQuotaCache() *quotaCache {
	return &quotaCache{wins: map[[2]string]map[string]struct{}{},
		stop: make(chan struct{}), done: make(chan struct{})}
}

// window returns the set for (principal, win), loading it if needed.
// The caller holds q.mu.
func (q *quotaCache) window(ctx context.Context, s *Store, principal, win string) (map[string]struct{}, error) {
	k := [2]string{principal, win}
	if set, ok := q.wins[k]; ok {
		return set, nil
	}
	rows, err := s.sx.QueryContext(ctx, `SELECT customer FROM quota WHERE principal = ? AND win = ?`, principal, win)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := map[string]struct{}{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		set[c] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Rows not yet committed by flushQuota are not in the table yet.
	for _, r := range q.pending {
		if r.principal == principal && r.win == win {
			set[r.customer] = struct{}{}
		}
	}
	if len(q.wins) > maxQuotaWindows { // bound memory: drop everything, reload on demand
		q.wins = map[[2]string]map[string]struct{}{}
	}
	q.wins[k] = set
	return set, nil
}

// quotaFlushEvery is how often counted customers are written to the table.
const quotaFlushEvery = 100 * time.Millisecond

// flushLoop writes pending quota rows until stop, then flushes once more.
func (s *Store) flushLoop() {
	q := s.quota
	defer close(q.done)
	// One transaction every quotaFlushEvery carries every charge since the
	// last: rows lost in a crash are recounted from the audit log on open.
	t := time.NewTicker(quotaFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			s.flushQuota()
			return
		case <-t.C:
		}
		s.flushQuota()
	}
}

func (s *Store) flushQuota() {
	q := s.quota
	// The rows stay in pending until they are committed, so that a window
	// (re)loaded meanwhile still counts them (see window).
	q.mu.Lock()
	rows := q.pending[:len(q.pending):len(q.pending)]
	q.mu.Unlock()
	if len(rows) == 0 {
		return
	}
	// In the derived database: the writes never hold up an audit commit.
	err := inTx(context.Background(), s.sx, func(tx *sql.Tx) error {
		st, err := tx.Prepare(`INSERT OR IGNORE INTO quota (principal, win, customer) VALUES (?,?,?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, r := range rows {
			if _, err := st.Exec(r.principal, r.win, r.customer); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return // they stay pending for the next try; Open also recounts from the audit log
	}
	q.mu.Lock()
	q.pending = q.pending[len(rows):]
	q.mu.Unlock()
}

// recountQuota adds to the quota table every customer read in an allowed
// read or search since the start of the current UTC day, from the audit
// log: counts hold even if the last quota rows were lost in a crash.
func (s *Store) recountQuota(ctx context.Context, now time.Time) error {
	_, _, _, dEnd := store.QuotaWindows(now)
	from := dEnd.AddDate(0, 0, -1)
	// Records are appended in time order, give or take the moments
	// between stamping and committing: walk back from the end until an hour
	// before the day began.
	var found []quotaRow
	before := int64(1) << 62
	for done := false; !done; {
		rows, err := s.w.QueryContext(ctx, `SELECT idx, time, event FROM audit WHERE idx < ? ORDER BY idx DESC LIMIT 4096`, before)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			var idx, t int64
			var b []byte
			if err := rows.Scan(&idx, &t, &b); err != nil {
				rows.Close()
				return err
			}
			n++
			before = idx
			if t < from.Add(-time.Hour).UnixNano() {
				done = true
			}
			ev, err := event.Parse(b)
			if err != nil || ev.Time.Before(from) || !store.QuotaCharged(ev) {
				continue
			}
			hw, dw, _, _ := store.QuotaWindows(ev.Time)
			found = append(found, quotaRow{ev.Actor, hw, ev.Customer}, quotaRow{ev.Actor, dw, ev.Customer})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if len(found) == 0 {
		return nil
	}
	s.quota.pending = found
	s.flushQuota()
	if len(s.quota.pending) > 0 {
		return errors.New("recount quota: could not write")
	}
	return nil
}

// AppendAudit appends recs in one transaction and returns once it is on
// disk: AppendAuditPipelined, then its flush.
func (s *Store) AppendAudit(ctx context.Context, recs []store.AuditRecord) (uint64, error) {
	first, durable, err := s.AppendAuditPipelined(ctx, recs)
	if err != nil {
		return 0, err
	}
	return first, durable()
}

// AppendAuditPipelined writes recs in one transaction and returns before
// it is on disk, with durable, which returns once it is (or the flush's
// error). The writer is free for the next commit meanwhile, so an audit
// committer that calls durable elsewhere has the next group commit
// written while this one is flushed: a pipelined group fsync. Until
// durable returns nil the records are visible to readers but left out of
// AuditSize.
func (s *Store) AppendAuditPipelined(ctx context.Context, recs []store.AuditRecord) (uint64, func() error, error) {
	// A group commit's records go in as few statements as possible
	// (auditChunk rows each), each size prepared once — before the
	// transaction, which holds the writer's one connection.
	ins, err := s.prepInsert(ctx, s.w, "INSERT", "audit", "idx, time, actor, customer, event, salt", len(recs), auditChunk)
	if err != nil {
		return 0, nil, fmt.Errorf("append audit: %w", err)
	}
	size, err := s.prep(ctx, s.w, `SELECT max(idx) + 1 FROM audit`)
	if err != nil {
		return 0, nil, fmt.Errorf("append audit: %w", err)
	}
	s.appendMu.Lock()
	defer s.appendMu.Unlock()
	var first uint64
	write := func(tx *sql.Tx) error {
		next, err := s.auditNext(ctx, tx, size)
		if err != nil {
			return err
		}
		err = ins.exec(ctx, tx, len(recs), func(args []any, i int) []any {
			r := recs[i]
			return append(args, next+int64(i), row.Nanos(r.Time), r.Actor, r.Customer, r.Event, r.Salt)
		})
		if err != nil {
			return err
		}
		first = uint64(next)
		// Before the commit makes them visible: AuditSize hides them
		// until they are on disk.
		s.unflushed.add(first)
		return nil
	}
	err = s.relaxedTx(ctx, write)
	if isUnique(err) && s.nextAudit >= 0 {
		// Another process appended since this store's last commit: once
		// more, from the end of the table.
		s.nextAudit = -1
		err = s.relaxedTx(ctx, write)
	}
	if err != nil {
		// Committed or not, the log's end is unknown: the next commit
		// reads it. Whether or not it committed, its start stays hidden
		// from AuditSize until a later commit, which reuses or follows
		// it, is flushed.
		s.nextAudit = -1
		return 0, nil, fmt.Errorf("append audit: %w", err)
	}
	s.nextAudit = int64(first) + int64(len(recs))
	// The commit is written and the writer free for the next group
	// commit; this one is acknowledged once it is on disk. After a failed
	// flush its records stay hidden from AuditSize: nothing vouches for them.
	durable := func() error {
		if err := s.flush(); err != nil {
			return fmt.Errorf("append audit: %w", err)
		}
		s.unflushed.flushed(first)
		return nil
	}
	return first, durable, nil
}

// auditNext returns the index the next audit record takes: where this
// store's last group commit ended, or, when that is unknown (at the start,
// after a failed commit), the end of the table (size, prepared on the
// writer's pool). The caller holds appendMu and is in the writer's
// transaction.
func (s *Store) auditNext(ctx context.Context, tx *sql.Tx, size *sql.Stmt) (int64, error) {
	if s.nextAudit >= 0 {
		return s.nextAudit, nil
	}
	var next sql.NullInt64
	if err := tx.StmtContext(ctx, size).QueryRowContext(ctx).Scan(&next); err != nil {
		return 0, err
	}
	return next.Int64, nil
}

// auditChunk is the most audit records one INSERT carries (6 parameters
// each, well under SQLite's bound on host parameters).
const auditChunk = 64

// AuditSize returns the number of audit records on disk. Records that this
// process committed and is still flushing (see flush) are visible to
// readers already, but are left out: a follower such as the transparency
// log's integrator must never take a record that a power loss could still
// undo.
func (s *Store) AuditSize(ctx context.Context) (uint64, error) {
	var n sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT max(idx) + 1 FROM audit`).Scan(&n)
	return s.unflushed.cap(uint64(n.Int64)), err
}

// unflushed holds the first index of each audit group commit that is
// written but not yet flushed, oldest first (commits are serialized by the
// writer).
type unflushed struct {
	mu     sync.Mutex
	starts []uint64
}

func (u *unflushed) add(start uint64) {
	u.mu.Lock()
	u.starts = append(u.starts, start)
	u.mu.Unlock()
}

// flushed drops start and every earlier commit: one flush covers them all.
func (u *unflushed) flushed(start uint64) {
	u.mu.Lock()
	i := 0
	for i < len(u.starts) && u.starts[i] <= start {
		i++
	}
	u.starts = append(u.starts[:0], u.starts[i:]...)
	u.mu.Unlock()
}

// cap returns size, or the first unflushed index when that is lower.
func (u *unflushed) cap(size uint64) uint64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.starts) > 0 {
		return min(size, u.starts[0])
	}
	return size
}

func (s *Store) auditQuery(ctx context.Context, q string, args ...any) ([]store.AuditRecord, error) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	return collect(rows, err, row.Audit)
}

// collect scans every row with scan (one of package row's scanners) and
// closes rows; err is the query's.
func collect[T any](rows *sql.Rows, err error, scan func(row.Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	return row.Collect(sqlRows{rows}, nil, scan)
}

// index converts a log index to the INTEGER it is stored as, saturating
// (a plain conversion would turn math.MaxUint64, "to the end", into -1).
func index(u uint64) int64 {
	return int64(min(u, math.MaxInt64))
}

func (s *Store) AuditRange(ctx context.Context, from, to uint64) ([]store.AuditRecord, error) {
	return s.auditQuery(ctx, `SELECT idx, time, actor, customer, event, salt FROM audit WHERE idx >= ? AND idx < ? ORDER BY idx`, index(from), index(to))
}

func (s *Store) AuditByCustomer(ctx context.Context, customer string) ([]store.AuditRecord, error) {
	return s.auditBy(ctx, "customer", customer, 0)
}

func (s *Store) AuditByActor(ctx context.Context, actor string, from uint64) ([]store.AuditRecord, error) {
	return s.auditBy(ctx, "actor", actor, from)
}

func (s *Store) AddCheckpoint(ctx context.Context, c store.Checkpoint) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO checkpoints (size, note, time) VALUES (?,?,?)`, int64(c.Size), c.Note, row.Nanos(c.Time))
	return err
}

func (s *Store) Meta(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	return v, row.NotFound(err)
}

func (s *Store) SetMetaOnce(ctx context.Context, key string, value []byte) ([]byte, error) {
	var v []byte
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	})
	return v, err
}

func (s *Store) SetMeta(ctx context.Context, key string, value []byte) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return err
}

// LookupCustomers resolves many keys in one query: kind is "id", "phone" or
// "account", keys are ids or blind indexes. ids[i] is the customer for
// keys[i] ("" if none; the smallest id when several share a key),
// canary[i] whether it is a canary and shared[i] whether several customers
// share the key. Leak tracing uses it.
func (s *Store) LookupCustomers(ctx context.Context, kind string, keys [][]byte) (ids []string, canary, shared []bool, err error) {
	col, ok := map[string]string{"id": "id", "phone": "phone_idx", "account": "account_idx"}[kind]
	if !ok {
		return nil, nil, nil, fmt.Errorf("lookup customers: unknown kind %q", kind)
	}
	res := store.NewLookup(kind, keys)
	const chunk = 500 // well under SQLite's bound on host parameters
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		args := make([]any, len(part))
		for j, k := range part {
			if kind == "id" {
				args[j] = string(k)
			} else {
				args[j] = store.IndexKey(k)
			}
		}
		q := "SELECT " + col + ", id, canary FROM customers WHERE " + col + " IN (?" + strings.Repeat(",?", len(part)-1) + ")"
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
		}
		for rows.Next() {
			var k any
			var id string
			var c bool
			if err := rows.Scan(&k, &id, &c); err != nil {
				rows.Close()
				return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
			}
			foundKey(res, k, id, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
		}
	}
	if err := s.lookupFormer(ctx, kind, keys, res); err != nil {
		return nil, nil, nil, fmt.Errorf("lookup customers: %w", err)
	}
	return res.IDs, res.Canary, res.Shared, nil
}

// checkpointLoop checkpoints the WAL every checkpointEvery (see
// checkpoint).
func (s *Store) checkpointLoop() {
	defer close(s.ckDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.watchStop:
			return
		case <-t.C:
		}
		s.checkpoint()
	}
}

// checkpoint copies the WAL into the database in the background
// (PASSIVE: it never waits for, or blocks, readers and the writer). Once
// the WAL holds walRestart frames, it has the writer start it over.
//
// Under steady writes a background checkpoint never catches up: frames
// are added while it copies, and only a WAL copied whole is started over.
// The WAL would then grow for as long as the load lasts (by 10 MB a
// second under bench/load), and every commit's flush would extend the
// file, which costs the file system a journal commit: on the reference
// machine an fdatasync that extends a file takes 230–250 µs and 115–130
// µs of CPU, one that overwrites 135–145 µs and 77 µs. So,
// between two of the writer's transactions, the writer copies what the
// background pass left (the frames of the last moments), and the next
// write transaction starts the WAL over from its beginning: from then on
// a commit overwrites blocks the file already has, and its flush writes
// only data. A reader still on an older snapshot can defer that to the
// next pass.
//
// The writer does this itself because a WAL started over by a
// connection other than the writer reads, to the writer's PRAGMA
// data_version, as another process's commit, and would empty the row
// cache (watchDataVersion); for the same reason it never truncates.
func (s *Store) checkpoint() {
	if s.copyWAL(s.ck) >= s.walRestart {
		s.copyWAL(s.w)
	}
}

// copyWAL checkpoints the WAL passively on db and returns how many frames
// it holds (0 if the checkpoint failed).
func (s *Store) copyWAL(db *sql.DB) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var busy, frames, copied int64
	if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		return 0
	}
	return frames
}

// checkpointEvery is how often the WAL is checkpointed in the background.
const checkpointEvery = 500 * time.Millisecond

// walRestart is how many frames (pages) the WAL holds before the writer
// starts it over: about 16 MiB, a quarter of its journal_size_limit.
const walRestart = 4096
