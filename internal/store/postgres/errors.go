package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custos-dev/custos/internal/store"
)

// classify marks err as store.ErrUnavailable when it says the database
// could not be reached or could not do the work for a reason that may pass
// (see unavailable). Every other error is returned unchanged: a caller's
// cancellation, "no rows", a constraint violation, a bug in a query.
func classify(err error) error { return store.Classify(err, unavailable) }

// unavailable reports whether err means the database is out of reach or
// out of resources:
//
//   - SQLSTATE class 08 (connection exception), 53 (insufficient resources:
//     disk full, out of memory, too many connections), 57P01..57P03 (admin
//     shutdown, crash shutdown, cannot connect now — a restart), 58030
//     (I/O error), 25006 (read-only transaction: the server we reached is a
//     standby, as during a failover);
//   - a connection that could not be made or broke (pgconn.ConnectError,
//     a network error, EOF on the socket, a closed connection);
//   - a deadline that passed while waiting, e.g. for a connection from an
//     exhausted pool.
//
// A context canceled by the caller is not unavailability.
func unavailable(err error) bool {
	if errors.Is(err, context.Canceled) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		code := pe.Code
		switch {
		case len(code) == 5 && (code[:2] == "08" || code[:2] == "53"):
			return true
		case code == "57P01", code == "57P02", code == "57P03", code == "58030", code == "25006":
			return true
		}
		return false
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return true
	}
	if errors.Is(err, pgconn.ErrConnClosed) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	// pgx marks errors that happened before anything reached the server
	// (a dead connection found on first use, for one).
	return pgconn.SafeToRetry(err)
}

// AcquireTimeout bounds the wait for a free connection from the pool: a
// call that finds every connection busy for that long (the pool is
// exhausted) fails with store.ErrUnavailable instead of queueing without
// end.
const AcquireTimeout = 5 * time.Second

// errPoolExhausted is wrapped by the error of a call that found no free
// connection within AcquireTimeout.
var errPoolExhausted = errors.New("no database connection free (pool exhausted)")

// dbPool is the connection pool with every error it, its connections,
// transactions, batches and rows return passed through classify, so that
// the Store's methods report a database that is restarting, failing over or
// out of connections as store.ErrUnavailable without each of them knowing
// SQLSTATEs. Each call takes its connection within AcquireTimeout and
// returns it to the pool when done (as pgxpool's own methods do: after
// Exec, once a Row is scanned, once Rows are closed or read to the end,
// once a Tx commits or rolls back, once a batch is closed). pgxpool
// replaces broken connections by itself: the first calls after an outage
// fail (and are answered 503), the next ones get fresh connections.
type dbPool struct {
	*pgxpool.Pool
	// acquireTimeout overrides AcquireTimeout when set (tests).
	acquireTimeout time.Duration
}

// acquire takes a connection, waiting at most AcquireTimeout.
func (p *dbPool) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	wait := AcquireTimeout
	if p.acquireTimeout > 0 {
		wait = p.acquireTimeout
	}
	actx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := p.Pool.Acquire(actx)
	if err != nil {
		if ctx.Err() == nil && actx.Err() != nil {
			st := p.Pool.Stat()
			return nil, store.Unavailable(fmt.Errorf("%w: %d of %d in use after %v: %w",
				errPoolExhausted, st.AcquiredConns(), st.MaxConns(), wait, err))
		}
		return nil, classify(err)
	}
	return c, nil
}

func (p *dbPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	t, err := c.Exec(ctx, sql, args...)
	return t, classify(err)
}

// Query returns Rows even with an error, which then carry it (as pgx's
// do: callers may ignore the error and find it in Rows.Err).
func (p *dbPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return errRows{err}, err
	}
	r, err := c.Query(ctx, sql, args...)
	if err != nil {
		if r != nil {
			r.Close()
		}
		c.Release()
		err = classify(err)
		return errRows{err}, err
	}
	return &releasingRows{classifiedRows{r}, pooled{c}}, nil
}

func (p *dbPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	c, err := p.acquire(ctx)
	if err != nil {
		return errRow{err}
	}
	return &releasingRow{classifiedRow{c.QueryRow(ctx, sql, args...)}, pooled{c}}
}

// SendBatch sends b on a connection it returns to the pool at Close; b
// MUST NOT begin a transaction (Batch.BeginTx) that outlives Close.
func (p *dbPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	c, err := p.acquire(ctx)
	if err != nil {
		return errBatch{err}
	}
	return &releasingBatch{classifiedBatch{c.SendBatch(ctx, b)}, pooled{c}}
}

func (p *dbPool) Begin(ctx context.Context) (pgx.Tx, error) {
	c, err := p.acquire(ctx)
	if err != nil {
		return nil, err
	}
	t, err := c.Begin(ctx)
	if err != nil {
		c.Release()
		return nil, classify(err)
	}
	return &releasingTx{classifiedTx{t}, pooled{c}}, nil
}

// Acquire takes a connection for several statements; the caller MUST
// Release it. Only Acquire's own error is classified: errors of calls on
// the connection are the caller's to pass through classify.
func (p *dbPool) Acquire(ctx context.Context) (*pgxpool.Conn, error) {
	return p.acquire(ctx)
}

// The releasing wrappers return their connection to the pool exactly once,
// when the work on it is done.

// pooled is the connection a releasing wrapper holds.
type pooled struct{ c *pgxpool.Conn }

// release returns the connection to the pool unless it already was.
func (p *pooled) release() {
	if p.c != nil {
		p.c.Release()
		p.c = nil
	}
}

type releasingRows struct {
	classifiedRows
	pooled
}

func (r *releasingRows) Close() { r.classifiedRows.Close(); r.release() }

func (r *releasingRows) Next() bool {
	if r.classifiedRows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *releasingRows) Scan(dest ...any) error {
	err := r.classifiedRows.Scan(dest...)
	if err != nil {
		r.Close()
	}
	return err
}

func (r *releasingRows) Values() ([]any, error) {
	v, err := r.classifiedRows.Values()
	if err != nil {
		r.Close()
	}
	return v, err
}

type releasingRow struct {
	classifiedRow
	pooled
}

func (r *releasingRow) Scan(dest ...any) error {
	err := r.classifiedRow.Scan(dest...)
	r.release()
	return err
}

// errRows are the Rows of a query that could not be sent.
type errRows struct{ err error }

func (r errRows) Close()                                       {}
func (r errRows) Err() error                                   { return r.err }
func (r errRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (r errRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (r errRows) Next() bool                                   { return false }
func (r errRows) Scan(...any) error                            { return r.err }
func (r errRows) Values() ([]any, error)                       { return nil, r.err }
func (r errRows) RawValues() [][]byte                          { return nil }
func (r errRows) Conn() *pgx.Conn                              { return nil }
func (r errRows) TypeMap() *pgtype.Map                         { return nil }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type releasingBatch struct {
	classifiedBatch
	pooled
}

func (b *releasingBatch) Close() error {
	err := b.classifiedBatch.Close()
	b.release()
	return err
}

type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow{b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

type releasingTx struct {
	classifiedTx
	pooled
}

func (t *releasingTx) Commit(ctx context.Context) error {
	err := t.classifiedTx.Commit(ctx)
	t.release()
	return err
}

func (t *releasingTx) Rollback(ctx context.Context) error {
	err := t.classifiedTx.Rollback(ctx)
	t.release()
	return err
}

type classifiedTx struct{ pgx.Tx }

func (t classifiedTx) Begin(ctx context.Context) (pgx.Tx, error) {
	n, err := t.Tx.Begin(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return classifiedTx{n}, nil
}

func (t classifiedTx) Commit(ctx context.Context) error { return classify(t.Tx.Commit(ctx)) }

func (t classifiedTx) Rollback(ctx context.Context) error { return classify(t.Tx.Rollback(ctx)) }

func (t classifiedTx) CopyFrom(ctx context.Context, table pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	n, err := t.Tx.CopyFrom(ctx, table, cols, src)
	return n, classify(err)
}

func (t classifiedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return classifiedBatch{t.Tx.SendBatch(ctx, b)}
}

func (t classifiedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := t.Tx.Exec(ctx, sql, args...)
	return tag, classify(err)
}

func (t classifiedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r, err := t.Tx.Query(ctx, sql, args...)
	if err != nil {
		return r, classify(err)
	}
	return classifiedRows{r}, nil
}

func (t classifiedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{t.Tx.QueryRow(ctx, sql, args...)}
}

type classifiedBatch struct{ pgx.BatchResults }

func (b classifiedBatch) Exec() (pgconn.CommandTag, error) {
	t, err := b.BatchResults.Exec()
	return t, classify(err)
}

func (b classifiedBatch) Query() (pgx.Rows, error) {
	r, err := b.BatchResults.Query()
	if err != nil {
		return r, classify(err)
	}
	return classifiedRows{r}, nil
}

func (b classifiedBatch) QueryRow() pgx.Row { return classifiedRow{b.BatchResults.QueryRow()} }

func (b classifiedBatch) Close() error { return classify(b.BatchResults.Close()) }

type classifiedRow struct{ r pgx.Row }

func (r classifiedRow) Scan(dest ...any) error { return classify(r.r.Scan(dest...)) }

type classifiedRows struct{ pgx.Rows }

func (r classifiedRows) Err() error { return classify(r.Rows.Err()) }

func (r classifiedRows) Scan(dest ...any) error { return classify(r.Rows.Scan(dest...)) }

func (r classifiedRows) Values() ([]any, error) {
	v, err := r.Rows.Values()
	return v, classify(err)
}
