package sqlite

import (
	"fmt"
	"os"
	"sync"
)

// walSync flushes the write-ahead log to disk for commits made with
// synchronous=NORMAL, outside the writer: a commit is written under the
// one writer connection and then waits here, so the next group commit is
// written while this one's flush runs (a pipelined group fsync). One
// flush serves every commit written before it began.
//
// WAL recovery keeps every transaction whose frames are on disk whole, so
// once the flush returns, the commit survives a power loss as it would
// have with synchronous=FULL. The checkpointer (synchronous=FULL) flushes
// the WAL before copying it into the database, as before.
type walSync struct {
	f     *os.File
	flush func(*os.File) error // fdatasync; tests replace it

	mu      sync.Mutex
	done    *sync.Cond
	written uint64 // commits written to the WAL and waiting, counted
	synced  uint64 // every commit up to this count is on disk
	running bool   // a flush is under way
	err     error  // a failed flush: the WAL's state on disk is unknown
}

func openWALSync(dbPath string) (*walSync, error) {
	f, err := os.OpenFile(dbPath+"-wal", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("open write-ahead log for flushing: %w", err)
	}
	w := &walSync{f: f, flush: fdatasync}
	w.done = sync.NewCond(&w.mu)
	return w, nil
}

// wait returns once every commit written before the call is on disk. The
// caller's commit must have returned before it calls wait.
func (w *walSync) wait() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.written++
	mine := w.written
	for w.synced < mine && w.err == nil {
		if w.running {
			w.done.Wait()
			continue
		}
		w.running = true
		upTo := w.written
		w.mu.Unlock()
		err := w.flush(w.f)
		w.mu.Lock()
		w.running = false
		if err != nil {
			// After a failed flush the kernel may have dropped the dirty
			// pages: no later flush can vouch for them. Every write from
			// now on fails rather than be acknowledged on a guess.
			w.err = fmt.Errorf("flush write-ahead log: %w", err)
		} else {
			w.synced = upTo
		}
		w.done.Broadcast()
	}
	return w.err
}

func (w *walSync) close() error { return w.f.Close() }
