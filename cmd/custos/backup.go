package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // database/sql driver for the read-only snapshot

	"github.com/custos-dev/custos/internal/backup"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdBackup writes a backup (see package backup) of a data dir.
func cmdBackup(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "backup", "backup [--data DIR] --out FILE.tar.gz [--include-master-key]")
	data := fs.String("data", DefaultDataDir, "data `dir` to back up (the server may be running)")
	out := fs.String("out", "", "backup `file` to write (.tar.gz); must not exist")
	withMaster := fs.Bool("include-master-key", false, "also store master.key in the backup (then the backup alone decrypts every record: keep it as safe as the key)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *out == "" {
		fmt.Fprintln(env.Stderr, "custos backup: --out FILE is required")
		return exitUsage
	}
	d := datadir.Dir(*data)
	var err error
	if _, serr := os.Stat(*out); serr == nil {
		err = fmt.Errorf("%s exists; choose a new file", *out)
	} else if st, serr := os.Stat(filepath.Dir(*out)); serr != nil || !st.IsDir() {
		err = fmt.Errorf("--out %s: its directory does not exist", *out)
	} else if _, serr := os.Stat(d.DB()); serr != nil {
		err = fmt.Errorf("no embedded store in %s (%w); on PostgreSQL back up the database with pg_dump, and the data dir's key files", *data, serr)
	} else if _, serr := os.Stat(d.LogSigningKey()); serr != nil {
		err = fmt.Errorf("no audit log signing key in %s (start the server once): %w", *data, serr)
	} else if _, serr := os.Stat(d.MasterKey()); serr != nil && *withMaster {
		err = fmt.Errorf("--include-master-key: %w", serr)
	}
	if err != nil {
		return fail(env, "backup", exitUsage, err)
	}
	m, err := backup.Write(ctx, readOnlySnapshot(d.DB()), d, *out, *withMaster)
	if err != nil {
		return fail(env, "backup", exitFail, err)
	}
	fmt.Fprintf(env.Stdout, "backup written to %s: store (%d customers, %d audit records, %d checkpoints), audit log signing key", *out, m.Customers, m.AuditRecords, m.Checkpoints)
	if m.MasterKeyInclude {
		fmt.Fprintln(env.Stdout, ", master key INCLUDED (this file alone decrypts the records: guard it)")
	} else {
		fmt.Fprintln(env.Stdout, "; master key NOT included: keep master.key (or CUSTOS_MASTER_KEY) safely apart, restore needs it to serve")
	}
	return exitOK
}

// readOnlySnapshot copies the SQLite store at its path with VACUUM INTO on
// a read-only connection: one read transaction, so the copy is consistent
// and the running server is not blocked.
//
// TODO(store): use (*sqlite.Store).Snapshot(ctx, dst) once it lands, and
// drop this adapter and the driver import.
type readOnlySnapshot string

func (src readOnlySnapshot) Snapshot(ctx context.Context, dst string) error {
	db, err := sql.Open("sqlite", "file:"+string(src)+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	return os.Chmod(dst, 0o600)
}

// cmdRestore restores a backup into a new data dir and verifies its log.
func cmdRestore(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "restore", "restore --in FILE.tar.gz --data NEWDIR")
	in := fs.String("in", "", "backup `file` written by custos backup")
	data := fs.String("data", "", "new data `dir` to restore into; must not exist or be empty")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *in == "" || *data == "" {
		fmt.Fprintln(env.Stderr, "custos restore: --in FILE and --data NEWDIR are required")
		return exitUsage
	}
	if ents, err := os.ReadDir(*data); err == nil && len(ents) > 0 {
		return fail(env, "restore", exitUsage, fmt.Errorf("%s is not empty; restore only into a new or empty directory", *data))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(env, "restore", exitUsage, err)
	}
	f, err := os.Open(*in)
	if err != nil {
		return fail(env, "restore", exitUsage, err)
	}
	defer f.Close()
	m, rep, err := backup.Restore(ctx, f, *data)
	var ae *backup.ArchiveError
	switch {
	case errors.As(err, &ae):
		return fail(env, "restore", exitUsage, fmt.Errorf("%s: %w; nothing was restored", *in, ae.Err))
	case err != nil:
		return fail(env, "restore", exitFail, fmt.Errorf("%w; nothing was restored", err))
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s: %d audit records, %d checkpoints verified, tree size %d\n",
		*in, *data, rep.Records, rep.Checkpoints, rep.TreeSize)
	if !m.MasterKeyInclude {
		fmt.Fprintf(env.Stdout, "the backup has no master key: put it at %s or set %s before custos serve\n",
			datadir.Dir(*data).MasterKey(), vault.EnvMasterKey)
	}
	return exitOK
}
