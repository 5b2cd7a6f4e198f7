package main

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // database/sql driver for the read-only snapshot

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// A backup is a gzip-compressed tar file holding:
//
//   - custos.db: a consistent snapshot of the embedded store (SQLite
//     VACUUM INTO in one read transaction, taken beside a running server),
//     with every audit record and every signed checkpoint;
//   - log-signing.key and, when present, log-keys (the audit log's key
//     history); policies/ when present;
//   - master.key only with --include-master-key;
//   - custos-backup.json, a manifest.
//
// The tiled log (<data>/log) is not copied: it is derived data (each entry
// is computed from a stored record) that tessera rewrites while the server
// runs, so no copy of it is consistent with a store snapshot. restore
// rebuilds it from the store, signs a checkpoint with the same key, and
// verifies the whole log against every checkpoint the log ever issued.
// The outbox (one-time codes and phone numbers in the clear) is not copied.

// backupManifest is custos-backup.json.
type backupManifest struct {
	Format           string    `json:"format"`
	Created          time.Time `json:"created"`
	AuditRecords     uint64    `json:"audit_records"`
	Checkpoints      int       `json:"checkpoints"`
	Customers        int       `json:"customers"`
	VerifierKey      string    `json:"verifier_key"`
	MasterKeyInclude bool      `json:"master_key_included"`
}

const (
	backupFormat       = "custos-backup/1"
	backupManifestName = "custos-backup.json"
	backupDBName       = "custos.db"
	// logKeysFile is the audit log's key history (see custos keys rotate-log).
	logKeysFile = auditlog.KeyHistoryFile
)

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
	if _, err := os.Stat(*out); err == nil {
		return fail(env, "backup", exitUsage, fmt.Errorf("%s exists; choose a new file", *out))
	}
	if st, err := os.Stat(filepath.Dir(*out)); err != nil || !st.IsDir() {
		return fail(env, "backup", exitUsage, fmt.Errorf("--out %s: its directory does not exist", *out))
	}
	dbPath := filepath.Join(*data, backupDBName)
	if _, err := os.Stat(dbPath); err != nil {
		return fail(env, "backup", exitUsage, fmt.Errorf("no embedded store in %s (%w); on PostgreSQL back up the database with pg_dump, and the data dir's key files", *data, err))
	}
	if _, err := os.Stat(filepath.Join(*data, auditlog.KeyFile)); err != nil {
		return fail(env, "backup", exitUsage, fmt.Errorf("no audit log signing key in %s (start the server once): %w", *data, err))
	}
	if *withMaster {
		if _, err := os.Stat(filepath.Join(*data, vault.MasterKeyFile)); err != nil {
			return fail(env, "backup", exitUsage, fmt.Errorf("--include-master-key: %w", err))
		}
	}
	m, err := writeBackup(ctx, *data, *out, *withMaster)
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

// writeBackup writes the archive to a temporary file beside out and renames
// it into place, so that a failed backup leaves nothing.
func writeBackup(ctx context.Context, data, out string, withMaster bool) (backupManifest, error) {
	m := backupManifest{Format: backupFormat, Created: time.Now().UTC(), MasterKeyInclude: withMaster}
	work, err := os.MkdirTemp(filepath.Dir(out), ".custos-backup-*")
	if err != nil {
		return m, fmt.Errorf("temporary dir: %w", err)
	}
	defer os.RemoveAll(work)
	snap := filepath.Join(work, backupDBName)
	if err := snapshotSQLite(ctx, filepath.Join(data, backupDBName), snap); err != nil {
		return m, err
	}
	if err := describeSnapshot(ctx, snap, &m); err != nil {
		return m, err
	}
	if vk, err := auditlog.VerifierKey(data); err == nil {
		m.VerifierKey = vk
	}
	files := []struct{ name, path string }{{backupDBName, snap}, {auditlog.KeyFile, filepath.Join(data, auditlog.KeyFile)}}
	for _, opt := range []string{logKeysFile} {
		if _, err := os.Stat(filepath.Join(data, opt)); err == nil {
			files = append(files, struct{ name, path string }{opt, filepath.Join(data, opt)})
		}
	}
	if withMaster {
		files = append(files, struct{ name, path string }{vault.MasterKeyFile, filepath.Join(data, vault.MasterKeyFile)})
	}
	pol := filepath.Join(data, "policies")
	if st, err := os.Stat(pol); err == nil && st.IsDir() {
		ents, err := os.ReadDir(pol)
		if err != nil {
			return m, fmt.Errorf("read policies: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, struct{ name, path string }{"policies/" + e.Name(), filepath.Join(pol, e.Name())})
			}
		}
	}
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	manPath := filepath.Join(work, backupManifestName)
	if err := os.WriteFile(manPath, append(man, '\n'), 0o600); err != nil {
		return m, err
	}
	files = append(files, struct{ name, path string }{backupManifestName, manPath})

	tmp, err := os.CreateTemp(filepath.Dir(out), ".custos-backup-*.tar.gz")
	if err != nil {
		return m, fmt.Errorf("create backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return m, err
	}
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := addTarFile(tw, f.name, f.path); err != nil {
			tmp.Close()
			return m, fmt.Errorf("add %s: %w", f.name, err)
		}
	}
	werr := errors.Join(tw.Close(), gz.Close(), tmp.Sync(), tmp.Close())
	if werr != nil {
		return m, fmt.Errorf("write backup: %w", werr)
	}
	if err := os.Link(tmp.Name(), out); err != nil {
		return m, fmt.Errorf("write backup: %w", err)
	}
	return m, nil
}

// snapshotSQLite copies the store at src into dst with VACUUM INTO, on a
// read-only connection: one read transaction, so the copy is consistent
// and the running server is not blocked.
func snapshotSQLite(ctx context.Context, src, dst string) error {
	db, err := sql.Open("sqlite", "file:"+src+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, dst); err != nil {
		return fmt.Errorf("snapshot store: %w", err)
	}
	return os.Chmod(dst, 0o600)
}

// describeSnapshot fills the manifest's counts from the snapshot.
func describeSnapshot(ctx context.Context, path string, m *backupManifest) error {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("open snapshot: %w", err)
	}
	defer st.Close()
	if m.AuditRecords, err = st.AuditSize(ctx); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	cps, err := st.Checkpoints(ctx)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	m.Checkpoints = len(cps)
	if m.Customers, err = st.CustomerCount(ctx); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

func addTarFile(tw *tar.Writer, name, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: name, Mode: 0o600, Size: st.Size(), ModTime: st.ModTime(), Typeflag: tar.TypeReg, Format: tar.FormatPAX}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	n, err := io.Copy(tw, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("%s changed size while being copied", name)
	}
	return err
}

// maxRestoreFile bounds one file taken from a backup (a hostile archive
// must not fill the disk).
const maxRestoreFile = 64 << 30

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
	parent := filepath.Dir(filepath.Clean(*data))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return fail(env, "restore", exitUsage, err)
	}
	work, err := os.MkdirTemp(parent, ".custos-restore-*")
	if err != nil {
		return fail(env, "restore", exitUsage, err)
	}
	defer os.RemoveAll(work)
	m, err := extractBackup(f, work)
	if err != nil {
		return fail(env, "restore", exitUsage, fmt.Errorf("%s: %w; nothing was restored", *in, err))
	}
	rep, err := rebuildLog(ctx, work)
	if err != nil {
		return fail(env, "restore", exitFail, fmt.Errorf("%w; nothing was restored", err))
	}
	if err := os.Chmod(work, 0o700); err != nil {
		return fail(env, "restore", exitFail, err)
	}
	os.Remove(*data) // an empty directory is replaced
	if err := os.Rename(work, *data); err != nil {
		return fail(env, "restore", exitFail, fmt.Errorf("move into place: %w", err))
	}
	fmt.Fprintf(env.Stdout, "restored %s into %s: %d audit records, %d checkpoints verified, tree size %d\n",
		*in, *data, rep.Records, rep.Checkpoints, rep.TreeSize)
	if !m.MasterKeyInclude {
		fmt.Fprintf(env.Stdout, "the backup has no master key: put it at %s or set %s before custos serve\n",
			filepath.Join(*data, vault.MasterKeyFile), vault.EnvMasterKey)
	}
	return exitOK
}

// extractBackup unpacks the archive into dir, refusing anything that is
// not a plain file at a plain relative path.
func extractBackup(r io.Reader, dir string) (backupManifest, error) {
	var m backupManifest
	gz, err := gzip.NewReader(r)
	if err != nil {
		return m, fmt.Errorf("not a custos backup (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	seen := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return m, fmt.Errorf("read backup: %w", err)
		}
		name := hdr.Name
		if hdr.Typeflag != tar.TypeReg || !safeBackupName(name) || seen[name] {
			return m, fmt.Errorf("backup holds an unexpected entry %q", name)
		}
		seen[name] = true
		if hdr.Size > maxRestoreFile {
			return m, fmt.Errorf("backup entry %q is too large", name)
		}
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return m, err
		}
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return m, err
		}
		_, cerr := io.Copy(out, io.LimitReader(tr, hdr.Size))
		if err := errors.Join(cerr, out.Sync(), out.Close()); err != nil {
			return m, fmt.Errorf("write %s: %w", name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, backupManifestName))
	if err != nil {
		return m, fmt.Errorf("backup has no %s", backupManifestName)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != backupFormat {
		return m, fmt.Errorf("backup manifest: not format %s", backupFormat)
	}
	for _, need := range []string{backupDBName, auditlog.KeyFile} {
		if !seen[need] {
			return m, fmt.Errorf("backup lacks %s", need)
		}
	}
	os.Remove(filepath.Join(dir, backupManifestName))
	return m, nil
}

// safeBackupName accepts the names backup writes: a file at the top or in
// policies/, no dot-dot, no absolute path.
func safeBackupName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return false
	}
	parts := strings.Split(name, "/")
	if len(parts) > 2 || len(parts) == 2 && parts[0] != "policies" {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return false
		}
	}
	return true
}

// rebuildLog re-creates the tiled log in dir from the restored store:
// it opens the audit log (which integrates every stored record, signing a
// checkpoint with the restored key), closes it once a checkpoint covers
// everything, and verifies the result against every stored checkpoint.
func rebuildLog(ctx context.Context, dir string) (auditlog.Report, error) {
	st, err := sqlite.Open(ctx, filepath.Join(dir, backupDBName))
	if err != nil {
		return auditlog.Report{}, fmt.Errorf("open restored store: %w", err)
	}
	defer st.Close()
	lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir})
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
	rep, err := auditlog.Verify(ctx, st, dir, "")
	if err != nil {
		return rep, fmt.Errorf("restored audit log does not verify: %w", err)
	}
	return rep, nil
}
