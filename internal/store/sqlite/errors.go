package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/custos-dev/custos/internal/store"
)

// classify marks err as store.ErrUnavailable when it says the database
// could not be read or written for a reason that may pass: a full disk
// (SQLITE_FULL, ENOSPC), an I/O error, a file that cannot be opened, a lock
// held past the busy timeout, no memory. Every other error, including the
// driver's own signals to database/sql (driver.ErrSkip, driver.ErrBadConn,
// io.EOF), is returned unchanged.
func classify(err error) error { return store.Classify(err, unavailable) }

// unavailable reports whether err is one classify marks.
func unavailable(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary result code
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_BUSY, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}

// openDB opens dsn like sql.Open("sqlite", dsn), with every error the
// driver returns passed through classify, so that all of the Store's
// methods report a full disk or a failing one as store.ErrUnavailable
// without each of them knowing SQLite's result codes.
func openDB(dsn string) (*sql.DB, error) { return openRelaxable(dsn, "") }

// openRelaxable is openDB for the writer, whose DSN opens it at
// synchronous level full: a statement or transaction whose context is
// relaxed runs at SyncNormal instead, every other at full (see conn.use);
// at SyncNormal nothing switches. With full empty it is openDB.
func openRelaxable(dsn, full string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(classifyingConnector{c, full}), nil
}

type relaxedKey struct{}

// relaxed marks ctx so that what runs under it on a relaxable connection
// runs at SyncNormal: its commit is written to the WAL but not flushed.
func relaxed(ctx context.Context) context.Context {
	return context.WithValue(ctx, relaxedKey{}, true)
}

// classifyingConnector and the types below wrap the driver's connection,
// statement, transaction and rows, passing their errors through classify.
// They implement the optional interfaces the modernc driver implements and
// database/sql uses.
type classifyingConnector struct {
	driver.Connector
	full string // see openRelaxable
}

func (c classifyingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return &conn{c: dc, full: c.full, level: c.full}, nil
}

// inner is the set of optional interfaces the modernc connection has.
type inner interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type conn struct {
	c driver.Conn
	// full, on a relaxable connection (openRelaxable), is the level it
	// was opened at and level the one it is at now; inTx is set while a
	// transaction begun by BeginTx is open.
	full, level string
	inTx        bool
	// syncStmts holds "PRAGMA synchronous=…" prepared once per level.
	syncStmts map[string]driver.Stmt
}

// use sets the connection's synchronous level for what is about to run
// under ctx outside a transaction (a transaction keeps the level it began
// at): SyncNormal if ctx is relaxed, else full. The level is switched only
// when it differs, so a run of relaxed commits (the audit log's) switches
// it once, and the next statement that is not relaxed switches it back
// before it runs. If the switch fails, the statement does not run.
func (c *conn) use(ctx context.Context) error {
	if c.full == "" || c.inTx {
		return nil
	}
	want := c.full
	if ctx.Value(relaxedKey{}) != nil {
		want = SyncNormal
	}
	if want == c.level {
		return nil
	}
	c.level = "" // unknown until the switch succeeds
	i, ok := c.in()
	if !ok {
		return errors.New("sqlite: internal error: driver connection lacks PrepareContext")
	}
	st := c.syncStmts[want]
	if st == nil {
		var err error
		if st, err = i.PrepareContext(ctx, "PRAGMA synchronous="+want); err != nil {
			return classify(err)
		}
		if c.syncStmts == nil {
			c.syncStmts = map[string]driver.Stmt{}
		}
		c.syncStmts[want] = st
	}
	if _, err := st.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
		return classify(err)
	}
	c.level = want
	return nil
}

func (c *conn) in() (inner, bool) { i, ok := c.c.(inner); return i, ok }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) Close() error {
	for _, st := range c.syncStmts {
		st.Close()
	}
	return classify(c.c.Close())
}

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	i, ok := c.in()
	if !ok {
		return nil, errors.New("sqlite: internal error: driver connection lacks BeginTx")
	}
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	t, err := i.BeginTx(ctx, opts)
	if err != nil {
		return nil, classify(err)
	}
	c.inTx = true
	return tx{t, c}, nil
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var s driver.Stmt
	var err error
	if i, ok := c.in(); ok {
		s, err = i.PrepareContext(ctx, query)
	} else {
		s, err = c.c.Prepare(query)
	}
	if err != nil {
		return nil, classify(err)
	}
	return &stmt{s, c}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	i, ok := c.in()
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	r, err := i.ExecContext(ctx, query, args)
	return r, classify(err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	i, ok := c.in()
	if !ok {
		return nil, driver.ErrSkip
	}
	if err := c.use(ctx); err != nil {
		return nil, err
	}
	r, err := i.QueryContext(ctx, query, args)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

func (c *conn) Ping(ctx context.Context) error {
	if i, ok := c.in(); ok {
		return classify(i.Ping(ctx))
	}
	return nil
}

func (c *conn) ResetSession(ctx context.Context) error {
	if i, ok := c.in(); ok {
		return i.ResetSession(ctx)
	}
	return nil
}

func (c *conn) IsValid() bool {
	if i, ok := c.in(); ok {
		return i.IsValid()
	}
	return true
}

type tx struct {
	t driver.Tx
	c *conn
}

func (t tx) Commit() error   { t.c.inTx = false; return classify(t.t.Commit()) }
func (t tx) Rollback() error { t.c.inTx = false; return classify(t.t.Rollback()) }

type stmt struct {
	s driver.Stmt
	c *conn
}

func (s *stmt) Close() error  { return classify(s.s.Close()) }
func (s *stmt) NumInput() int { return s.s.NumInput() }

func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	if err := s.c.use(context.Background()); err != nil {
		return nil, err
	}
	r, err := s.s.Exec(args)
	return r, classify(err)
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	if err := s.c.use(context.Background()); err != nil {
		return nil, err
	}
	r, err := s.s.Query(args)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	sc, ok := s.s.(driver.StmtExecContext)
	if !ok {
		return nil, errors.New("sqlite: internal error: driver statement lacks ExecContext")
	}
	if err := s.c.use(ctx); err != nil {
		return nil, err
	}
	r, err := sc.ExecContext(ctx, args)
	return r, classify(err)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	sc, ok := s.s.(driver.StmtQueryContext)
	if !ok {
		return nil, errors.New("sqlite: internal error: driver statement lacks QueryContext")
	}
	if err := s.c.use(ctx); err != nil {
		return nil, err
	}
	r, err := sc.QueryContext(ctx, args)
	if err != nil {
		return nil, classify(err)
	}
	return rows{r}, nil
}

type rows struct{ r driver.Rows }

func (r rows) Columns() []string { return r.r.Columns() }
func (r rows) Close() error      { return classify(r.r.Close()) }

// Next keeps io.EOF as it is (classify leaves it alone): database/sql
// compares it with ==.
func (r rows) Next(dest []driver.Value) error { return classify(r.r.Next(dest)) }
