package backup_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/backup"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// vacuum snapshots an SQLite file with VACUUM INTO, as the store does.
type vacuum string

func (src vacuum) Snapshot(ctx context.Context, dst string) error {
	db, err := sql.Open("sqlite", "file:"+string(src)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, `VACUUM INTO ?`, dst)
	return err
}

// dataDir makes a data dir with a store, a signed audit log of n reads
// and a policy file.
func dataDir(dir string, n int) error {
	ctx := context.Background()
	d := datadir.Dir(dir)
	st, err := sqlite.Open(ctx, d.DB())
	if err != nil {
		return err
	}
	defer st.Close()
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		return err
	}
	for i := range n {
		ev := event.Event{Time: time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC), Actor: "emp-00421", Action: event.ActionRead,
			Customer: fmt.Sprintf("c-%07d", i), Decision: event.Allow, Purpose: "ticket:T-1", PurposeValid: true}
		if _, err := l.Append(ctx, ev); err != nil {
			return err
		}
	}
	if err := l.Close(ctx); err != nil {
		return err
	}
	if err := os.MkdirAll(d.Policies(), 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(d.Policies(), "extra.cedar"), []byte("// extra\n"), 0o600)
}

// TestRoundTrip backs a data dir up and restores it: the restored dir has
// the store, the signing key and the policies, its log is rebuilt and
// verifies, and an existing backup file is never replaced.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := datadir.Dir(t.TempDir())
	if err := dataDir(src.Path(), 20); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	m, err := backup.Write(ctx, vacuum(src.DB()), src, out, false)
	if err != nil {
		t.Fatal(err)
	}
	if m.AuditRecords != 20 || m.MasterKeyInclude || m.VerifierKey == "" {
		t.Fatalf("manifest %+v", m)
	}
	if _, err := backup.Write(ctx, vacuum(src.DB()), src, out, false); err == nil {
		t.Fatal("a second Write replaced the backup")
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	dst := datadir.Dir(filepath.Join(t.TempDir(), "restored"))
	m2, rep, err := backup.Restore(ctx, bytes.NewReader(b), dst.Path(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if m2.AuditRecords != 20 || rep.Records != 20 {
		t.Fatalf("restored manifest %+v, report %+v", m2, rep)
	}
	for _, p := range []string{dst.DB(), dst.LogSigningKey(), filepath.Join(dst.Policies(), "extra.cedar"), dst.Log()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("restored dir lacks %s", p)
		}
	}
	// Not a backup: an *ArchiveError, and nothing restored.
	bad := filepath.Join(t.TempDir(), "x")
	_, _, err = backup.Restore(ctx, bytes.NewReader([]byte("not gzip")), bad, nil)
	var ae *backup.ArchiveError
	if !errors.As(err, &ae) {
		t.Fatalf("Restore(garbage) = %v, want an *ArchiveError", err)
	}
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("a failed restore left its directory")
	}
}

func TestSafeName(t *testing.T) {
	for name, want := range map[string]bool{
		"custos.db": true, "policies/a.cedar": true, "log-signing.key": true,
		"": false, "/etc/passwd": false, "../x": false, "policies/../x": false,
		"log/tile": false, "policies/a/b": false, `a\b`: false, "./x": false,
	} {
		if got := backup.SafeName(name); got != want {
			t.Errorf("SafeName(%q) = %v, want %v", name, got, want)
		}
	}
}

// Example backs up a data dir beside a running server and restores it into
// a new one, whose audit log is rebuilt and verified.
func Example() {
	ctx := context.Background()
	tmp, _ := os.MkdirTemp("", "backup-example")
	defer os.RemoveAll(tmp)
	data := datadir.Dir(filepath.Join(tmp, "data"))
	os.Mkdir(data.Path(), 0o700)
	if err := dataDir(data.Path(), 3); err != nil {
		fmt.Println(err)
		return
	}
	out := filepath.Join(tmp, "custos.tar.gz")
	// In custos the store itself is the Snapshotter.
	m, err := backup.Write(ctx, vacuum(data.DB()), data, out, false)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("backed up", m.AuditRecords, "audit records")

	f, _ := os.Open(out)
	defer f.Close()
	_, rep, err := backup.Restore(ctx, f, filepath.Join(tmp, "restored"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("restored and verified", rep.Records, "records")
	// Output:
	// backed up 3 audit records
	// restored and verified 3 records
}
