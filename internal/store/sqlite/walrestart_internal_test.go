package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

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
