package backup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/masterkey"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
)

// PostgresFormat names the archive layout of a PostgreSQL deployment's
// backup: tables/<name>.copy (each table in PostgreSQL's COPY text
// format, all from one snapshot), the key files the data dir has
// (log-signing.key and log-keys only before they were imported into the
// database), master.key only when asked, and the Manifest.
const PostgresFormat = "custos-backup-postgres/1"

// TablesDir holds the tables in a PostgreSQL backup.
const TablesDir = "tables"

// skipTables are not backed up: the schema's own bookkeeping (restore
// migrates the new database itself) and live, short-lived state.
var skipTables = []string{"schema_migrations", "sessions", "ratelimit"}

// WritePostgres writes a backup of the PostgreSQL deployment at dbURL to
// out: every custos table (in one repeatable-read, read-only snapshot, so
// the copy is consistent while gateways run; the wrapped keys are rows of
// meta), the key files data holds, master.key only when withMaster. Like
// Write it never leaves a partial out.
func WritePostgres(ctx context.Context, dbURL string, data datadir.Dir, out string, withMaster bool) (Manifest, error) {
	m := Manifest{Format: PostgresFormat, Created: time.Now().UTC(), MasterKeyInclude: withMaster, Store: "postgres", Tables: map[string]int64{}}
	work, err := os.MkdirTemp(filepath.Dir(out), ".custos-backup-*")
	if err != nil {
		return m, fmt.Errorf("temporary dir: %w", err)
	}
	defer os.RemoveAll(work)
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return m, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return m, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := tx.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&m.SchemaVersion); err != nil {
		return m, fmt.Errorf("no custos schema in the database: %w", err)
	}
	tables, err := listTables(ctx, tx)
	if err != nil {
		return m, err
	}
	var files []file
	if err := os.Mkdir(filepath.Join(work, TablesDir), 0o700); err != nil {
		return m, err
	}
	for _, t := range tables {
		path := filepath.Join(work, TablesDir, t+".copy")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return m, err
		}
		tag, err := conn.PgConn().CopyTo(ctx, f, "COPY "+pgx.Identifier{t}.Sanitize()+" TO STDOUT")
		if err := errors.Join(err, f.Close()); err != nil {
			return m, fmt.Errorf("copy table %s: %w", t, err)
		}
		m.Tables[t] = tag.RowsAffected()
		files = append(files, file{TablesDir + "/" + t + ".copy", path})
	}
	m.AuditRecords, m.Checkpoints, m.Customers = uint64(m.Tables["audit"]), int(m.Tables["checkpoints"]), int(m.Tables["customers"])
	var vk []byte
	if tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = 'audit.verifier_key'`).Scan(&vk) == nil {
		m.VerifierKey = string(vk)
	}
	for _, f := range []file{{datadir.LogSigningKeyFile, data.LogSigningKey()}, {datadir.LogKeysFile, data.LogKeys()}} {
		if _, err := os.Stat(f.path); err == nil {
			files = append(files, f)
		}
	}
	if withMaster {
		files = append(files, file{datadir.MasterKeyFile, data.MasterKey()})
	}
	return m, writeArchive(out, work, m, files)
}

// listTables returns custos's tables in the current schema, sorted.
func listTables(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}) ([]string, error) {
	rows, err := q.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`)
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list tables: %w", err)
	}
	return slices.DeleteFunc(names, func(n string) bool { return slices.Contains(skipTables, n) }), nil
}

// RestorePostgres restores a PostgreSQL backup into the database at dbURL,
// which must hold no custos deployment (a new, empty database, or one
// custos only migrated), and the new data dir dst (keys files and the
// rebuilt tiled log). The master key is the backup's, or getenv's
// CUSTOS_MASTER_KEY: the log signing key in the database is wrapped by it.
// The tables are loaded in one transaction; then the customers of es,
// erased after the backup, are erased again (ApplyErasures), and the log
// is rebuilt from the database and verified against every checkpoint in
// it. If that fails, the tables are put back as they were and nothing is
// left in dst. An *ArchiveError means r is not a usable backup.
func RestorePostgres(ctx context.Context, r io.Reader, dbURL, dst string, getenv func(string) string, es []Erasure) (Manifest, auditlog.Report, error) {
	var rep auditlog.Report
	work, m, err := extractBeside(r, dst)
	if err != nil {
		return m, rep, err
	}
	defer os.RemoveAll(work)
	if m.Format != PostgresFormat {
		return m, rep, &ArchiveError{fmt.Errorf("a backup of an embedded store: restore it with --data only")}
	}
	mk, err := masterkey.Load(work, getenv)
	if err != nil {
		return m, rep, fmt.Errorf("the backup has no master key and %w", err)
	}
	st, err := postgres.Open(ctx, dbURL) // migrates a new database
	if err != nil {
		return m, rep, fmt.Errorf("open database: %w", err)
	}
	defer st.Close()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return m, rep, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	saved, err := loadTables(ctx, conn, m, work)
	if err != nil {
		return m, rep, err
	}
	undo := func() error {
		if saved == nil {
			return nil
		}
		_, err := fillTables(ctx, conn, saved)
		return err
	}
	if m.Erased, err = ApplyErasures(ctx, st, es); err != nil {
		err = fmt.Errorf("erasures after the backup: %w", err)
	} else {
		rep, err = RebuildLogOn(ctx, st, datadir.Dir(work), masterkey.LogKeyWrapper{Master: mk})
	}
	if err == nil {
		err = os.Chmod(work, 0o700)
	}
	if err == nil {
		os.Remove(dst)
		err = os.Rename(work, dst)
	}
	if err != nil {
		if uerr := undo(); uerr != nil {
			return m, rep, fmt.Errorf("%w; putting the database back also failed (%v): drop it and restore into a new one", err, uerr)
		}
		return m, rep, err
	}
	return m, rep, nil
}

// loadTables checks that the database holds no deployment and the same
// schema version as the backup, then replaces every table's rows with the
// backup's in one transaction. It returns the rows the tables had before
// (migrations seed some), to put back if the restore fails later.
func loadTables(ctx context.Context, conn *pgx.Conn, m Manifest, dir string) (map[string][]byte, error) {
	var version int
	if err := conn.QueryRow(ctx, `SELECT COALESCE(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return nil, err
	}
	if version != m.SchemaVersion {
		return nil, fmt.Errorf("the backup is of schema version %d, this custos migrates to %d: restore with the custos version that wrote it", m.SchemaVersion, version)
	}
	var used bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit) OR EXISTS (SELECT 1 FROM meta)`).Scan(&used); err != nil {
		return nil, err
	}
	if used {
		return nil, errors.New("the database already holds a custos deployment; restore only into a new, empty database")
	}
	tables, err := listTables(ctx, conn)
	if err != nil {
		return nil, err
	}
	saved := map[string][]byte{}
	want := map[string][]byte{}
	for _, t := range tables {
		var b bytes.Buffer
		if _, err := conn.PgConn().CopyTo(ctx, &b, "COPY "+pgx.Identifier{t}.Sanitize()+" TO STDOUT"); err != nil {
			return nil, err
		}
		saved[t] = b.Bytes()
		if _, ok := m.Tables[t]; !ok {
			return nil, fmt.Errorf("the backup lacks table %s", t)
		}
		if want[t], err = os.ReadFile(filepath.Join(dir, TablesDir, t+".copy")); err != nil {
			return nil, &ArchiveError{fmt.Errorf("table %s: %w", t, err)}
		}
	}
	for t := range m.Tables {
		if _, ok := saved[t]; !ok {
			return nil, &ArchiveError{fmt.Errorf("the backup has table %s, which this schema lacks", t)}
		}
	}
	counts, err := fillTables(ctx, conn, want)
	if err != nil {
		return nil, fmt.Errorf("load tables: %w; the database is unchanged", err)
	}
	for t, n := range counts {
		if n != m.Tables[t] {
			fillTables(ctx, conn, saved)
			return nil, &ArchiveError{fmt.Errorf("table %s: %d rows loaded, the manifest says %d", t, n, m.Tables[t])}
		}
	}
	return saved, nil
}

// fillTables replaces the rows of each table with data (COPY text) in one
// transaction and moves identity sequences past the loaded ids.
func fillTables(ctx context.Context, conn *pgx.Conn, data map[string][]byte) (map[string]int64, error) {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	counts := map[string]int64{}
	for t, b := range data {
		id := pgx.Identifier{t}.Sanitize()
		if _, err := tx.Exec(ctx, "TRUNCATE "+id); err != nil {
			return nil, err
		}
		tag, err := conn.PgConn().CopyFrom(ctx, bytes.NewReader(b), "COPY "+id+" FROM STDIN")
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t, err)
		}
		counts[t] = tag.RowsAffected()
	}
	rows, err := tx.Query(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		WHERE c.table_schema = current_schema() AND (c.is_identity = 'YES' OR c.column_default LIKE 'nextval(%')`)
	if err != nil {
		return nil, err
	}
	type col struct{ t, c string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (col, error) {
		var c col
		return c, r.Scan(&c.t, &c.c)
	})
	if err != nil {
		return nil, err
	}
	for _, c := range cols {
		if _, ok := data[c.t]; !ok {
			continue
		}
		q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence($1, $2), COALESCE((SELECT max(%s) FROM %s), 0) + 1, false)`,
			pgx.Identifier{c.c}.Sanitize(), pgx.Identifier{c.t}.Sanitize())
		if _, err := tx.Exec(ctx, q, c.t, c.c); err != nil {
			return nil, fmt.Errorf("sequence of %s.%s: %w", c.t, c.c, err)
		}
	}
	return counts, tx.Commit(ctx)
}

// RebuildLogOn rebuilds the tiled log in dir from st, as RebuildLog does
// for the embedded store; w unwraps a signing key kept in the store.
func RebuildLogOn(ctx context.Context, st store.Store, dir datadir.Dir, w auditlog.KeyWrapper) (auditlog.Report, error) {
	lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir.Path(), KeyWrapper: w})
	if err != nil {
		return auditlog.Report{}, fmt.Errorf("rebuild audit log: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	if err := lg.Close(cctx); err != nil {
		return auditlog.Report{}, fmt.Errorf("rebuild audit log: %w", err)
	}
	if err := lg.Err(); err != nil {
		return auditlog.Report{}, fmt.Errorf("rebuild audit log: %w", err)
	}
	rep, err := auditlog.Verify(ctx, st, dir.Path(), "")
	if err != nil {
		return rep, fmt.Errorf("restored audit log does not verify: %w", err)
	}
	return rep, nil
}

// WriteTo writes a backup of the deployment: of the PostgreSQL database at
// dbURL when it is set (WritePostgres), of the embedded store in data
// otherwise (Write).
func WriteTo(ctx context.Context, dbURL string, data datadir.Dir, out string, withMaster bool) (Manifest, error) {
	if dbURL != "" {
		return WritePostgres(ctx, dbURL, data, out, withMaster)
	}
	return Write(ctx, SQLiteFile(data.DB()), data, out, withMaster)
}

// RestoreTo restores a backup: into the database at dbURL and dst when
// dbURL is set (RestorePostgres), into dst alone otherwise (Restore); es
// are the erasures made after the backup, erased again before it serves.
func RestoreTo(ctx context.Context, r io.Reader, dbURL, dst string, getenv func(string) string, es []Erasure) (Manifest, auditlog.Report, error) {
	if dbURL != "" {
		return RestorePostgres(ctx, r, dbURL, dst, getenv, es)
	}
	return Restore(ctx, r, dst, es)
}
