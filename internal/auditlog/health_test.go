package auditlog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// faultyStore fails audit appends and Meta writes, as a full disk or a
// database that went away would, while broken is set.
type faultyStore struct {
	store.Store
	broken atomic.Bool
}

var errDiskFull = errors.New("database or disk is full")

func (f *faultyStore) AppendAudit(ctx context.Context, recs []store.AuditRecord) (uint64, error) {
	if f.broken.Load() {
		return 0, store.Unavailable(errDiskFull)
	}
	return f.Store.AppendAudit(ctx, recs)
}

func (f *faultyStore) SetMeta(ctx context.Context, key string, value []byte) error {
	if f.broken.Load() {
		return store.Unavailable(errDiskFull)
	}
	return f.Store.SetMeta(ctx, key, value)
}

// TestFailedCommitRecovers checks the committer's contract around a store
// that stops taking writes: every waiter of a failed group commit gets an
// error marked store.ErrUnavailable, Health reports the fault (wrapping
// ErrUnhealthy and store.ErrUnavailable) and clears once the store takes a
// write again, and the next commits continue the log without a gap or a
// double, for the store, the feed and the published checkpoints alike.
func TestFailedCommitRecovers(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	fs := &faultyStore{Store: st}
	l, err := Open(context.Background(), Options{Store: fs, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	e := &env{dir: dir, store: st, log: l}
	ctx := context.Background()
	cur := l.Follow(ctx, 0)
	defer cur.Close()

	e.appendN(t, 0, 10)
	if err := l.Health(ctx); err != nil {
		t.Fatalf("Health after successful appends: %v", err)
	}

	fs.broken.Store(true)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Append(ctx, testEvent(100+i))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Append on a broken store: %v, want store.ErrUnavailable", err)
		}
	}
	err = l.Health(ctx)
	if !errors.Is(err, ErrUnhealthy) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Health on a broken store: %v, want ErrUnhealthy and store.ErrUnavailable", err)
	}

	fs.broken.Store(false)
	for deadline := time.Now().Add(10 * time.Second); l.Health(ctx) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Health still failing after the store recovered: %v", l.Health(ctx))
		}
	}
	for i := range 10 {
		idx, err := l.Append(ctx, testEvent(200+i))
		if err != nil {
			t.Fatal(err)
		}
		if idx != uint64(10+i) {
			t.Fatalf("append after recovery got index %d, want %d (no gap, no reuse)", idx, 10+i)
		}
	}
	size, err := st.AuditSize(ctx)
	if err != nil || size != 20 {
		t.Fatalf("store size %d (%v), want 20: the failed batch must leave nothing", size, err)
	}
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got []Record
	for len(got) < 20 {
		recs, err := cur.Next(fctx)
		if err != nil {
			t.Fatalf("feed after %d records: %v", len(got), err)
		}
		got = append(got, recs...)
	}
	for i, r := range got {
		if r.Index != uint64(i) || r.Event == nil {
			t.Fatalf("feed record %d has index %d (event %v)", i, r.Index, r.Event)
		}
	}
	if len(got) != 20 {
		t.Fatalf("feed delivered %d records, want 20", len(got))
	}
	e.waitPublished(t, 20)
}
