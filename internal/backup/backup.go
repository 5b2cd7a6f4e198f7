// Package backup writes and restores backups of a custos data directory on
// the embedded store.
//
// A backup is a gzip-compressed tar file holding:
//
//   - custos.db: a consistent snapshot of the embedded store (taken by a
//     Snapshotter beside a running server), with every audit record and
//     every signed checkpoint;
//   - log-signing.key and, when present, log-keys (the audit log's key
//     history); policies/ when present;
//   - master.key only when asked for;
//   - custos-backup.json, the Manifest.
//
// The tiled log (<data>/log) is not copied: it is derived data (each entry
// is computed from a stored record) that tessera rewrites while the server
// runs, so no copy of it is consistent with a store snapshot. Restore
// rebuilds it from the store, signs a checkpoint with the same key, and
// verifies the whole log against every checkpoint the log ever issued.
// The outbox (one-time codes and phone numbers in the clear) is not copied.
package backup

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
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/store/sqlite"

	_ "modernc.org/sqlite" // database/sql driver for SQLiteFile
)

// Format names the archive layout; Extract accepts only this one.
const Format = "custos-backup/1"

// ManifestName is the manifest's name in the archive.
const ManifestName = "custos-backup.json"

// Manifest describes a backup: custos-backup.json.
type Manifest struct {
	Format           string    `json:"format"`
	Created          time.Time `json:"created"`
	AuditRecords     uint64    `json:"audit_records"`
	Checkpoints      int       `json:"checkpoints"`
	Customers        int       `json:"customers"`
	VerifierKey      string    `json:"verifier_key"`
	MasterKeyInclude bool      `json:"master_key_included"`
	// PostgreSQL backups (PostgresFormat) only:
	Store         string           `json:"store,omitempty"`          // "postgres"
	SchemaVersion int              `json:"schema_version,omitempty"` // schema_migrations' version
	Tables        map[string]int64 `json:"tables,omitempty"`         // rows per table
	// Erased counts the customers a restore erased again (its erasures
	// made after the backup, ApplyErasures); not part of the archive.
	Erased int `json:"-"`
}

// Snapshotter writes a consistent copy of the store, as an SQLite database
// file, to dst (which must not exist). It MUST NOT block writers for long:
// backups are taken beside a running server.
type Snapshotter interface {
	Snapshot(ctx context.Context, dst string) error
}

// Write writes a backup of data to out: the store through snap, the key
// files and policies from data, master.key only when withMaster. It
// writes a temporary file beside out and links it into place, so a failed
// backup leaves nothing, and never replaces an existing out.
func Write(ctx context.Context, snap Snapshotter, data datadir.Dir, out string, withMaster bool) (Manifest, error) {
	m := Manifest{Format: Format, Created: time.Now().UTC(), MasterKeyInclude: withMaster}
	work, err := os.MkdirTemp(filepath.Dir(out), ".custos-backup-*")
	if err != nil {
		return m, fmt.Errorf("temporary dir: %w", err)
	}
	defer os.RemoveAll(work)
	db := datadir.Dir(work).DB()
	if err := snap.Snapshot(ctx, db); err != nil {
		return m, err
	}
	if err := describe(ctx, db, &m); err != nil {
		return m, err
	}
	if vk, err := auditlog.VerifierKey(data.Path()); err == nil {
		m.VerifierKey = vk
	}
	files := []file{{datadir.DBFile, db}, {datadir.LogSigningKeyFile, data.LogSigningKey()}}
	if _, err := os.Stat(data.LogKeys()); err == nil {
		files = append(files, file{datadir.LogKeysFile, data.LogKeys()})
	}
	if withMaster {
		files = append(files, file{datadir.MasterKeyFile, data.MasterKey()})
	}
	if st, err := os.Stat(data.Policies()); err == nil && st.IsDir() {
		ents, err := os.ReadDir(data.Policies())
		if err != nil {
			return m, fmt.Errorf("read policies: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, file{datadir.PoliciesDir + "/" + e.Name(), filepath.Join(data.Policies(), e.Name())})
			}
		}
	}
	return m, writeArchive(out, work, m, files)
}

// file is one member of a backup: its name in the archive and where it is.
type file struct{ name, path string }

// writeArchive writes files and the manifest m (saved in work) as the
// gzipped tar out, atomically: to a temporary file (0600) beside it,
// synced, then linked into place (never over an existing file).
func writeArchive(out, work string, m Manifest, files []file) error {
	man, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	manPath := filepath.Join(work, ManifestName)
	if err := os.WriteFile(manPath, append(man, '\n'), 0o600); err != nil {
		return err
	}
	files = append(files, file{ManifestName, manPath})
	tmp, err := os.CreateTemp(filepath.Dir(out), ".custos-backup-*.tar.gz")
	if err != nil {
		return fmt.Errorf("create backup: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	gz := gzip.NewWriter(tmp)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := addFile(tw, f.name, f.path); err != nil {
			tmp.Close()
			return fmt.Errorf("add %s: %w", f.name, err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close(), tmp.Sync(), tmp.Close()); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	if err := os.Link(tmp.Name(), out); err != nil {
		return fmt.Errorf("write backup: %w", err)
	}
	return nil
}

// describe fills the manifest's counts from the snapshot.
func describe(ctx context.Context, path string, m *Manifest) error {
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

func addFile(tw *tar.Writer, name, path string) error {
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

// SQLiteFile snapshots the SQLite store at its path with VACUUM INTO on a
// read-only connection: one read transaction, so the copy is consistent
// and a running server is not blocked.
type SQLiteFile string

// Snapshot implements Snapshotter.
func (src SQLiteFile) Snapshot(ctx context.Context, dst string) error {
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

// CheckWrite says what stops a backup of data (on PostgreSQL when
// postgres) to out before anything is written: out exists or its
// directory does not, no store or signing key, no master key to include.
func CheckWrite(data datadir.Dir, out string, postgres, withMaster bool) error {
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("%s exists; choose a new file", out)
	} else if st, err := os.Stat(filepath.Dir(out)); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: its directory does not exist", out)
	}
	if !postgres {
		if _, err := os.Stat(data.DB()); err != nil {
			return fmt.Errorf("no embedded store in %s (%w); on PostgreSQL give --db URL", data, err)
		}
		if _, err := os.Stat(data.LogSigningKey()); err != nil {
			return fmt.Errorf("no audit log signing key in %s (start the server once): %w", data, err)
		}
	}
	if _, err := os.Stat(data.MasterKey()); err != nil && withMaster {
		return fmt.Errorf("--include-master-key: %w", err)
	}
	return nil
}
