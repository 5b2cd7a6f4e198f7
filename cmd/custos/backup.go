package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/custos-dev/custos/internal/backup"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdBackup writes a backup (see package backup) of a data dir, or of a
// PostgreSQL deployment with --db.
func cmdBackup(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "backup", "backup [--data DIR | --db URL] --out FILE.tar.gz [--include-master-key]")
	out := fs.String("out", "", "backup `file` to write (.tar.gz); must not exist")
	withMaster := fs.Bool("include-master-key", false, "also store master.key in the backup (then the backup alone decrypts every record: keep it as safe as the key)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *out == "" {
		return fail(env, "backup", exitUsage, errors.New("--out FILE is required"))
	}
	d := datadir.Dir(sf.data)
	if err := backup.CheckWrite(d, *out, sf.db != "", *withMaster); err != nil {
		return fail(env, "backup", exitUsage, err)
	}
	m, err := backup.WriteTo(ctx, sf.db, d, *out, *withMaster)
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

// cmdRestore restores a backup into a new data dir (and, for a PostgreSQL
// backup, a new database) and verifies its log.
func cmdRestore(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "restore", "restore --in FILE.tar.gz --data NEWDIR [--db URL-OF-A-NEW-DATABASE] [--erasures FILE]")
	in := fs.String("in", "", "backup `file` written by custos backup")
	data := fs.String("data", "", "new data `dir` to restore into; must not exist or be empty")
	db := fs.String("db", "", "PostgreSQL `url` of a new, empty database (for a backup taken with --db)")
	erasures := fs.String("erasures", "", "`file` of the erasures made since the backup, erased again before the store serves: the audit events (JSON lines, or the SIEM's OCSF) or {\"customer\":…,\"at\":…} lines (docs/THREATS.md)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *in == "" || *data == "" {
		return fail(env, "restore", exitUsage, errors.New("--in FILE and --data NEWDIR are required"))
	}
	if ents, err := os.ReadDir(*data); err == nil && len(ents) > 0 {
		return fail(env, "restore", exitUsage, fmt.Errorf("%s is not empty; restore only into a new or empty directory", *data))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fail(env, "restore", exitUsage, err)
	}
	es, err := backup.ReadErasuresFile(*erasures)
	if err != nil {
		return fail(env, "restore", exitUsage, fmt.Errorf("--erasures: %w", err))
	}
	f, err := os.Open(*in)
	if err != nil {
		return fail(env, "restore", exitUsage, err)
	}
	defer f.Close()
	m, rep, err := backup.RestoreTo(ctx, f, *db, *data, env.Getenv, es)
	var ae *backup.ArchiveError
	switch {
	case errors.As(err, &ae):
		return fail(env, "restore", exitUsage, fmt.Errorf("%s: %w; nothing was restored", *in, ae.Err))
	case err != nil:
		return fail(env, "restore", exitFail, fmt.Errorf("%w; nothing was restored", err))
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s: %d audit records, %d checkpoints verified, tree size %d; %d of %d later erasures applied\n",
		*in, *data, rep.Records, rep.Checkpoints, rep.TreeSize, m.Erased, len(es))
	if !m.MasterKeyInclude && *db == "" {
		fmt.Fprintf(env.Stdout, "the backup has no master key: put it at %s or set %s before custos serve\n",
			datadir.Dir(*data).MasterKey(), vault.EnvMasterKey)
	}
	return exitOK
}
