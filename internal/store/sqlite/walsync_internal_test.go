package sqlite

import (
	"context"
	"database/sql"
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

// TestWriterRunsAtFullUnlessRelaxed checks the writer's synchronous level
// as each statement sees it: an audit group commit (relaxed) runs at
// NORMAL and leaves the writer there, so the next one switches nothing;
// every statement and transaction that is not relaxed runs at FULL, so
// its commit is flushed as before.
func TestWriterRunsAtFullUnlessRelaxed(t *testing.T) {
	s := openFull(t)
	ctx := t.Context()
	level := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}, ctx context.Context) int {
		t.Helper()
		var l int
		if err := q.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	connLevel := func() string {
		t.Helper()
		wc, err := s.w.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		var l string
		wc.Raw(func(dc any) error { l = dc.(*conn).level; return nil })
		return l
	}
	for range 2 {
		if _, err := s.AppendAudit(ctx, auditRecs(2)); err != nil {
			t.Fatal(err)
		}
		if l := connLevel(); l != SyncNormal {
			t.Errorf("after an audit commit the writer is at %q, want it left at %s", l, SyncNormal)
		}
	}
	if l := level(s.w, ctx); l != 2 {
		t.Errorf("a statement after an audit commit ran at synchronous=%d, want 2 (FULL)", l)
	}
	if l := level(s.w, relaxed(ctx)); l != 1 {
		t.Errorf("a relaxed statement ran at synchronous=%d, want 1 (NORMAL)", l)
	}
	for _, c := range []struct {
		name string
		run  func(context.Context, func(*sql.Tx) error) error
		want int
	}{{"a transaction after a relaxed statement", s.tx, 2}, {"a relaxed transaction", s.relaxedTx, 1}} {
		if err := c.run(ctx, func(tx *sql.Tx) error {
			if l := level(tx, ctx); l != c.want {
				t.Errorf("%s ran at synchronous=%d, want %d", c.name, l, c.want)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateTicket(ctx, store.Ticket{ID: "T-1", Customer: "c-1", Site: "s", OpenedBy: "emp-1", OpenedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if l := connLevel(); l != SyncFull {
		t.Errorf("after a write that is not relaxed the writer is at %q, want %s", l, SyncFull)
	}
}

// TestAuditAppendsFollowAnotherWriter checks that a store which keeps the
// log's end in memory takes it from the table again when another process
// (here another Store on the same file) appended meanwhile: no record
// fails, none is lost, the indexes have no gap.
func TestAuditAppendsFollowAnotherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	a := openAt(t, path)
	defer a.Close()
	b := openAt(t, path)
	defer b.Close()
	for i, step := range []struct {
		s     *Store
		n     int
		first uint64
	}{{a, 2, 0}, {a, 3, 2}, {b, 4, 5}, {a, 1, 9}, {a, 70, 10}, {b, 1, 80}, {a, 70, 81}} {
		first, err := step.s.AppendAudit(t.Context(), auditRecs(step.n))
		if err != nil || first != step.first {
			t.Fatalf("append %d: first %d, %v; want %d", i, first, err, step.first)
		}
	}
	recs, err := a.AuditRange(t.Context(), 0, 151)
	if err != nil || len(recs) != 151 {
		t.Fatalf("AuditRange: %d records, %v; want 151", len(recs), err)
	}
	for i, r := range recs {
		if r.Index != uint64(i) {
			t.Fatalf("record %d has index %d", i, r.Index)
		}
	}
}

// TestWALStaysBoundedUnderSteadyWrites checks that under writes that never
// pause the WAL's file stays within a few times walRestart frames while
// many times that is written through it: the writer copies what the
// background checkpoint left and the next commit starts the file over, so
// later commits overwrite blocks it already has (their flushes write data,
// not the file's size). Without it, a WAL that is never idle grows for as
// long as the load lasts. Every record survives a reopen.
func TestWALStaysBoundedUnderSteadyWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "custos.db")
	s, err := Open(t.Context(), path, func(o *options) { o.walRestart = 64 })
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var commits atomic.Int64
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.AppendAudit(context.Background(), auditRecs(20)); err != nil {
					t.Error(err)
					return
				}
				commits.Add(1)
			}
		})
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		s.checkpoint()
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	fi, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	const frame = 24 + 4096
	t.Logf("%d commits; WAL file %d frames", commits.Load(), fi.Size()/frame)
	if fi.Size() > 16*64*frame {
		t.Errorf("WAL file grew to %d frames under steady writes (%d commits), want at most %d", fi.Size()/frame, commits.Load(), 16*64)
	}
	s2 := openAt(t, path)
	defer s2.Close()
	if n, err := s2.AuditSize(t.Context()); err != nil || n != uint64(20*commits.Load()) {
		t.Errorf("after reopening: %d records, %v; want %d", n, err, 20*commits.Load())
	}
}
