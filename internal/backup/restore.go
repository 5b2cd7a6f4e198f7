package backup

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// maxFile bounds one file taken from a backup (a hostile archive must not
// fill the disk).
const maxFile = 64 << 30

// ArchiveError reports a file that is not a backup Restore can use.
type ArchiveError struct{ Err error }

func (e *ArchiveError) Error() string { return e.Err.Error() }
func (e *ArchiveError) Unwrap() error { return e.Err }

// extractBeside extracts the backup read from r into a new temporary
// directory beside dst (the caller removes it); a bad archive is an
// *ArchiveError.
func extractBeside(r io.Reader, dst string) (work string, m Manifest, err error) {
	parent := filepath.Dir(filepath.Clean(dst))
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", m, err
	}
	if work, err = os.MkdirTemp(parent, ".custos-restore-*"); err != nil {
		return "", m, err
	}
	if m, err = Extract(r, work); err != nil {
		os.RemoveAll(work)
		return "", m, &ArchiveError{err}
	}
	return work, m, nil
}

// Restore restores the backup read from r into the directory dst, which
// must not exist or be empty (the caller checks): it extracts the archive
// into a temporary directory beside dst, rebuilds the audit log from the
// restored store and verifies it against every stored checkpoint, and
// only then renames the directory into place. Before that it erases again
// the customers of es, erased after the backup was taken (ApplyErasures),
// so that the restored store never serves them. On any error nothing is
// restored; an *ArchiveError means r is not a valid backup.
func Restore(ctx context.Context, r io.Reader, dst string, es []Erasure) (Manifest, auditlog.Report, error) {
	var rep auditlog.Report
	work, m, err := extractBeside(r, dst)
	if err != nil {
		return m, rep, err
	}
	defer os.RemoveAll(work)
	if m.Format != Format {
		return m, rep, &ArchiveError{fmt.Errorf("a backup of a PostgreSQL deployment: restore it with --db URL")}
	}
	if rep, err = rebuildLog(ctx, datadir.Dir(work), es, &m); err != nil {
		return m, rep, err
	}
	if err := os.Chmod(work, 0o700); err != nil {
		return m, rep, err
	}
	os.Remove(dst) // an empty directory is replaced
	if err := os.Rename(work, dst); err != nil {
		return m, rep, fmt.Errorf("move into place: %w", err)
	}
	return m, rep, nil
}

// Extract unpacks the archive into dir, refusing anything that is not a
// plain file at a name Write uses, and checks the manifest and that the
// store and the log signing key are there. It removes the manifest file
// from dir and returns it.
func Extract(r io.Reader, dir string) (Manifest, error) {
	var m Manifest
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
		if hdr.Typeflag != tar.TypeReg || !SafeName(name) || seen[name] {
			return m, fmt.Errorf("backup holds an unexpected entry %q", name)
		}
		seen[name] = true
		if hdr.Size > maxFile {
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
	b, err := os.ReadFile(filepath.Join(dir, ManifestName))
	if err != nil {
		return m, fmt.Errorf("backup has no %s", ManifestName)
	}
	if err := json.Unmarshal(b, &m); err != nil || m.Format != Format && m.Format != PostgresFormat {
		return m, fmt.Errorf("backup manifest: not format %s or %s", Format, PostgresFormat)
	}
	need := []string{datadir.DBFile, datadir.LogSigningKeyFile}
	if m.Format == PostgresFormat {
		need = nil
		for t := range m.Tables {
			need = append(need, TablesDir+"/"+t+".copy")
		}
	}
	for _, n := range need {
		if !seen[n] {
			return m, fmt.Errorf("backup lacks %s", n)
		}
	}
	os.Remove(filepath.Join(dir, ManifestName))
	return m, nil
}

// SafeName reports whether name is one Write or WritePostgres uses: a
// file at the top or in policies/ or tables/, no dot-dot, no absolute
// path.
func SafeName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || strings.Contains(name, "\x00") {
		return false
	}
	parts := strings.Split(name, "/")
	if len(parts) > 2 || len(parts) == 2 && parts[0] != datadir.PoliciesDir && parts[0] != TablesDir {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." {
			return false
		}
	}
	return true
}

// RebuildLog re-creates the tiled log in dir from its store: it opens the
// audit log (which integrates every stored record, signing a checkpoint
// with the dir's key), closes it once a checkpoint covers everything, and
// verifies the result against every stored checkpoint.
func RebuildLog(ctx context.Context, dir datadir.Dir) (auditlog.Report, error) {
	return rebuildLog(ctx, dir, nil, &Manifest{})
}

// rebuildLog is RebuildLog after erasing es again (counted in m.Erased).
func rebuildLog(ctx context.Context, dir datadir.Dir, es []Erasure, m *Manifest) (auditlog.Report, error) {
	st, err := sqlite.Open(ctx, dir.DB())
	if err != nil {
		return auditlog.Report{}, fmt.Errorf("open restored store: %w", err)
	}
	defer st.Close()
	if m.Erased, err = ApplyErasures(ctx, st, es); err != nil {
		return auditlog.Report{}, fmt.Errorf("erasures after the backup: %w", err)
	}
	return RebuildLogOn(ctx, st, dir, nil)
}
