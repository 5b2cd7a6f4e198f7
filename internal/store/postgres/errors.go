package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/custos-dev/custos/internal/store"
)

// classify marks err as store.ErrUnavailable when it says the database
// could not be reached or could not do the work for a reason that may pass
// (see unavailable). Every other error is returned unchanged: a caller's
// cancellation, "no rows", a constraint violation, a bug in a query.
func classify(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) {
		return err
	}
	if unavailable(err) {
		return store.Unavailable(err)
	}
	return err
}

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

// dbPool is the connection pool with every error it, its connections,
// transactions, batches and rows return passed through classify, so that
// the Store's methods report a database that is restarting, failing over or
// out of connections as store.ErrUnavailable without each of them knowing
// SQLSTATEs. pgxpool replaces broken connections by itself: the first calls
// after an outage fail (and are answered 503), the next ones get fresh
// connections.
type dbPool struct{ *pgxpool.Pool }

func (p *dbPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t, err := p.Pool.Exec(ctx, sql, args...)
	return t, classify(err)
}

func (p *dbPool) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r, err := p.Pool.Query(ctx, sql, args...)
	if err != nil {
		return r, classify(err)
	}
	return classifiedRows{r}, nil
}

func (p *dbPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{p.Pool.QueryRow(ctx, sql, args...)}
}

func (p *dbPool) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return classifiedBatch{p.Pool.SendBatch(ctx, b)}
}

func (p *dbPool) Begin(ctx context.Context) (pgx.Tx, error) {
	t, err := p.Pool.Begin(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return classifiedTx{t}, nil
}

func (p *dbPool) Acquire(ctx context.Context) (*poolConn, error) {
	c, err := p.Pool.Acquire(ctx)
	if err != nil {
		return nil, classify(err)
	}
	return &poolConn{c}, nil
}

// poolConn is a connection taken from the pool; Release returns it.
type poolConn struct{ *pgxpool.Conn }

func (c *poolConn) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	t, err := c.Conn.Exec(ctx, sql, args...)
	return t, classify(err)
}

func (c *poolConn) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	r, err := c.Conn.Query(ctx, sql, args...)
	if err != nil {
		return r, classify(err)
	}
	return classifiedRows{r}, nil
}

func (c *poolConn) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{c.Conn.QueryRow(ctx, sql, args...)}
}

func (c *poolConn) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return classifiedBatch{c.Conn.SendBatch(ctx, b)}
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
