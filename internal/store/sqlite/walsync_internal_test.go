package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// openAt opens the store at path, failing the test if it cannot; the
// caller closes it.
func openAt(tb testing.TB, path string) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), path)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// openFull opens a store (at SyncFull, the default) in a new temporary
// directory, failing the test if it cannot; it closes with the test.
func openFull(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(tb.Context(), filepath.Join(tb.TempDir(), "custos.db"), WithSync(SyncFull))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func auditRecs(n int) []store.AuditRecord {
	recs := make([]store.AuditRecord, n)
	for i := range recs {
		recs[i] = store.AuditRecord{Time: time.Unix(int64(i), 0), Actor: "emp-1", Event: []byte(`{}`), Salt: []byte("salt")}
	}
	return recs
}

// TestAuditCommitsShareFlushes checks that concurrent group commits are
// each acknowledged after a flush, that flushes are shared between them,
// and that the writer stays at synchronous=FULL for everything else.
func TestAuditCommitsShareFlushes(t *testing.T) {
	s := openFull(t)
	var flushes atomic.Int64
	s.wal.flush = func(f *os.File) error {
		flushes.Add(1)
		time.Sleep(2 * time.Millisecond) // a slow disk: commits pile up behind it
		return fdatasync(f)
	}
	const appenders, each = 8, 10
	var wg sync.WaitGroup
	errs := make(chan error, appenders*each)
	for range appenders {
		wg.Go(func() {
			for range each {
				before := flushes.Load()
				if _, err := s.AppendAudit(t.Context(), auditRecs(3)); err != nil {
					errs <- err
					return
				}
				if flushes.Load() == before {
					errs <- errors.New("append returned without a flush")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := flushes.Load(); n >= appenders*each {
		t.Errorf("%d flushes for %d commits: none shared", n, appenders*each)
	}
	if n, err := s.AuditSize(t.Context()); err != nil || n != appenders*each*3 {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, appenders*each*3)
	}
	var level int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&level); err != nil || level != 2 {
		t.Errorf("writer's synchronous = %d, %v; want 2 (FULL)", level, err)
	}
}

// TestAuditSizeHidesUnflushedCommits checks that records written but not
// yet on disk are not counted by AuditSize, which followers such as the
// transparency log's integrator go by.
func TestAuditSizeHidesUnflushedCommits(t *testing.T) {
	s := openFull(t)
	release := make(chan struct{})
	s.wal.flush = func(f *os.File) error {
		<-release
		return fdatasync(f)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.AppendAudit(t.Context(), auditRecs(2))
		done <- err
	}()
	for {
		var rows int
		if err := s.r.QueryRowContext(t.Context(), `SELECT count(*) FROM audit`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if n, err := s.AuditSize(t.Context()); err != nil || n != 0 {
		t.Fatalf("AuditSize before the flush = %d, %v; want 0", n, err)
	}
	select {
	case err := <-done:
		t.Fatalf("AppendAudit returned before its flush: %v", err)
	default:
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n, err := s.AuditSize(t.Context()); err != nil || n != 2 {
		t.Fatalf("AuditSize after the flush = %d, %v; want 2", n, err)
	}
}

// TestFailedFlushFailsLaterAppends checks that once a flush fails, no
// commit is acknowledged again, and the unflushed records stay hidden.
func TestFailedFlushFailsLaterAppends(t *testing.T) {
	s := openFull(t)
	fail := true
	s.wal.flush = func(f *os.File) error {
		if fail {
			return fmt.Errorf("EIO")
		}
		return fdatasync(f)
	}
	if _, err := s.AppendAudit(t.Context(), auditRecs(1)); err == nil {
		t.Fatal("AppendAudit succeeded with a failing flush")
	}
	fail = false
	if _, err := s.AppendAudit(t.Context(), auditRecs(1)); err == nil {
		t.Fatal("AppendAudit succeeded after a failed flush")
	}
	if n, err := s.AuditSize(t.Context()); err != nil || n != 0 {
		t.Fatalf("AuditSize = %d, %v; want 0: nothing is known to be on disk", n, err)
	}
}
