package auditlog

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/tessera/api/layout"
	_ "modernc.org/sqlite"
)

// buildLog appends n events, waits until a checkpoint covers them, and
// closes log and store, leaving a quiescent data directory to verify.
func buildLog(t *testing.T, n int) string {
	dir, _ := buildLogSnap(t, n, false)
	return dir
}

// buildLogSnap is buildLog that also returns a copy of the log directory
// taken after the first third of the entries.
func buildLogSnap(t *testing.T, n int, wantSnap bool) (dir, snap string) {
	t.Helper()
	dir = t.TempDir()
	snap = t.TempDir()
	st := openStore(t, dir)
	l, err := Open(context.Background(), Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed { // the build failed half-way
			l.Close(context.Background())
			st.Close()
		}
	})
	e := &env{dir: dir, store: st, log: l}
	// Several rounds, so that several checkpoints are issued.
	for r := 0; r < 3; r++ {
		e.appendN(t, r*n/3, n/3)
		e.waitPublished(t, uint64((r+1)*(n/3)))
		if r == 0 && wantSnap {
			copyLiveLog(t, filepath.Join(dir, LogDir), filepath.Join(snap, LogDir))
		}
	}
	if rest := n - 3*(n/3); rest > 0 {
		e.appendN(t, 3*(n/3), rest)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed = true
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, snap
}

// verifyDir opens dir's store and runs Verify with the directory's key.
func verifyDir(t *testing.T, dir string) (Report, error) {
	t.Helper()
	st := openStore(t, dir)
	defer st.Close()
	return Verify(context.Background(), st, dir, "")
}

// sqlExec edits the store behind the Store interface, as an insider with
// database access would.
func sqlExec(t *testing.T, dir, q string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		t.Fatalf("%s: no rows changed", q)
	}
}

// copyLiveLog copies a log directory that tessera may be writing to (it
// renames temporary files into place), retrying when a file vanishes.
func copyLiveLog(t *testing.T, from, to string) {
	t.Helper()
	var err error
	for range 20 {
		os.RemoveAll(to)
		if err = os.CopyFS(to, os.DirFS(from)); err == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal(err)
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyIntact checks that an untouched log passes, with every
// checkpoint, bundle and tile checked.
func TestVerifyIntact(t *testing.T) {
	const n = 700 // two full bundles and a partial one
	dir := buildLog(t, n)
	rep, err := verifyDir(t, dir)
	if err != nil {
		t.Fatalf("Verify on an intact log: %v", err)
	}
	if rep.Records != n || rep.TreeSize != n || rep.LogSize != n {
		t.Errorf("report: records %d tree %d log %d, want %d", rep.Records, rep.TreeSize, rep.LogSize, n)
	}
	if rep.Checkpoints < 4 {
		t.Errorf("only %d checkpoints stored, want at least 4 (empty, three rounds)", rep.Checkpoints)
	}
	if rep.Bundles != 3 || rep.Tiles != 4 {
		t.Errorf("checked %d bundles and %d tiles, want 3 and 4", rep.Bundles, rep.Tiles)
	}
}

// TestVerifyDetectsTampering tampers with each kind of stored data and
// checks that Verify fails and names what is wrong and where.
func TestVerifyDetectsTampering(t *testing.T) {
	const n = 700
	// older holds a copy of the log directory from when it had n/3 entries.
	pristine, older := buildLogSnap(t, n, true)
	logDir := func(dir string) string { return filepath.Join(dir, LogDir) }

	tests := []struct {
		name   string
		tamper func(t *testing.T, dir string)
		want   string // in some problem
	}{
		{"edited event", func(t *testing.T, dir string) {
			sqlExec(t, dir, `UPDATE audit SET event = replace(event, '"allow"', '"deny"') WHERE idx = 42`)
		}, "entry 42: tile/entries/000: log entry"},
		{"edited salt", func(t *testing.T, dir string) {
			sqlExec(t, dir, `UPDATE audit SET salt = zeroblob(16) WHERE idx = 300`)
		}, "entry 300: tile/entries/001: log entry"},
		{"deleted record", func(t *testing.T, dir string) {
			sqlExec(t, dir, `DELETE FROM audit WHERE idx = 10`)
		}, "entry 10: record missing from the store"},
		{"deleted last records", func(t *testing.T, dir string) {
			sqlExec(t, dir, `DELETE FROM audit WHERE idx >= 650`)
		}, "store has only 650 records"},
		{"reordered records", func(t *testing.T, dir string) {
			sqlExec(t, dir, `UPDATE audit SET idx = CASE idx WHEN 5 THEN 6 WHEN 6 THEN 5 END + 1000000 WHERE idx IN (5, 6)`)
			sqlExec(t, dir, `UPDATE audit SET idx = idx - 1000000 WHERE idx >= 1000000`)
		}, "entry 5: tile/entries/000: log entry"},
		{"edited log entry", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), "tile/entries/001")
			b := mustRead(t, p)
			b[2+LeafSize+2+5] ^= 1 // second entry of bundle 1
			mustWrite(t, p, b)
		}, "entry 257: tile/entries/001: log entry"},
		{"reordered log entries", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), "tile/entries/000")
			b := mustRead(t, p)
			e := 2 + LeafSize
			first := append([]byte(nil), b[:e]...)
			copy(b[:e], b[e:2*e])
			copy(b[e:2*e], first)
			mustWrite(t, p, b)
		}, "entry 0: tile/entries/000: log entry"},
		{"missing entry bundle", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(logDir(dir), "tile/entries/001")); err != nil {
				t.Fatal(err)
			}
		}, "entry 256: tile/entries/001: entry bundle missing"},
		{"truncated partial bundle", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), layout.EntriesPath(2, n%256))
			b := mustRead(t, p)
			mustWrite(t, p, b[:len(b)-(2+LeafSize)])
		}, "entry bundle has 187 entries, want 188"},
		{"edited tile", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), "tile/0/001")
			b := mustRead(t, p)
			b[32*7] ^= 0x80
			mustWrite(t, p, b)
		}, "tile/0/001: tile hash 7"},
		{"edited level-1 tile", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), layout.TilePath(1, 0, 2))
			b := mustRead(t, p)
			b[32] ^= 1
			mustWrite(t, p, b)
		}, "tile/1/000.p/2: tile hash 1"},
		{"forged published checkpoint", func(t *testing.T, dir string) {
			p := filepath.Join(logDir(dir), "checkpoint")
			b := mustRead(t, p)
			mustWrite(t, p, []byte(strings.Replace(string(b), "\n700\n", "\n699\n", 1)))
		}, "checkpoint: does not verify"},
		{"log rolled back to an older copy", func(t *testing.T, dir string) {
			if err := os.RemoveAll(logDir(dir)); err != nil {
				t.Fatal(err)
			}
			copyDir(t, logDir(older), logDir(dir))
		}, "the log was rolled back to an older copy"},
		{"store rolled back (checkpoints kept elsewhere)", func(t *testing.T, dir string) {
			sqlExec(t, dir, `DELETE FROM audit WHERE idx >= 400`)
			sqlExec(t, dir, `DELETE FROM checkpoints WHERE size > 400`)
		}, "store has only 400 records"},
		{"stored checkpoint edited", func(t *testing.T, dir string) {
			sqlExec(t, dir, `UPDATE checkpoints SET note = replace(note, 'custos.local/audit', 'custos.local/audit2') WHERE seq = 2`)
		}, "stored checkpoint #2"},
		{"signing key replaced", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
				t.Fatal(err)
			}
			if _, err := loadOrCreateKey(dir, DefaultOrigin); err != nil {
				t.Fatal(err)
			}
		}, "is not the key recorded in the store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			copyDir(t, pristine, dir)
			tt.tamper(t, dir)
			_, err := verifyDir(t, dir)
			var ve *VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, ErrTampered) {
				t.Fatalf("Verify after %s: got %v, want a VerifyError", tt.name, err)
			}
			for _, p := range ve.Problems {
				if strings.Contains(p.String(), tt.want) {
					return
				}
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			t.Errorf("no problem mentions %q; got:\n%s", tt.want, strings.Join(got, "\n"))
		})
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyStaleCheckpointFile checks the crash case where a checkpoint
// was saved in the store but the process died before publishing it: the
// tiles hold everything, so Verify passes with a warning, not a failure.
func TestVerifyStaleCheckpointFile(t *testing.T) {
	dir := buildLog(t, 300)
	st := openStore(t, dir)
	cps, err := st.Checkpoints(context.Background())
	st.Close()
	if err != nil || len(cps) < 2 {
		t.Fatalf("checkpoints: %v, %d", err, len(cps))
	}
	old := cps[1]
	if old.Size >= 300 {
		t.Fatalf("second checkpoint has size %d", old.Size)
	}
	mustWrite(t, filepath.Join(dir, LogDir, "checkpoint"), old.Note)
	rep, err := verifyDir(t, dir)
	if err != nil {
		t.Fatalf("Verify with a stale but genuine checkpoint file: %v", err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "older than the latest issued") {
		t.Errorf("warnings %q, want one about the stale checkpoint", rep.Warnings)
	}
}
