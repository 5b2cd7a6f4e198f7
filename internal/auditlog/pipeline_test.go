package auditlog

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// gatedStore holds each group commit's flush until release is closed.
type gatedStore struct {
	*sqlite.Store
	release chan struct{}
	written atomic.Int32
}

func (g *gatedStore) AppendAuditPipelined(ctx context.Context, recs []store.AuditRecord) (uint64, func() error, error) {
	first, durable, err := g.Store.AppendAuditPipelined(ctx, recs)
	if err == nil {
		g.written.Add(1)
	}
	return first, func() error { <-g.release; return durable() }, err
}

// TestCommitsArePipelined checks that the committer writes the next group
// commit while the last one waits for its flush, that neither is
// acknowledged, published or counted by the store's size before it is on
// disk, and that both are acknowledged in order once it is.
func TestCommitsArePipelined(t *testing.T) {
	dir := t.TempDir()
	st := &gatedStore{Store: openStore(t, dir), release: make(chan struct{})}
	defer st.Close()
	l, err := Open(t.Context(), Options{Store: st, Dir: dir, GatherWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	c := l.Follow(t.Context(), 0, FollowName("test"))
	defer c.Close()

	type result struct {
		idx uint64
		err error
	}
	results := make(chan result, 2)
	appendOne := func(i int) {
		idx, err := l.Append(context.Background(), testEvent(i))
		results <- result{idx, err}
	}
	waitWritten := func(n int32) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for st.written.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d group commits written, want %d while the first waits for its flush", st.written.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	go appendOne(0)
	waitWritten(1)
	go appendOne(1)
	waitWritten(2) // written while the first is still unflushed

	select {
	case r := <-results:
		t.Fatalf("an append returned before its flush: %+v", r)
	case <-time.After(50 * time.Millisecond):
	}
	if n, err := st.AuditSize(t.Context()); err != nil || n != 0 {
		t.Fatalf("AuditSize before the flush = %d, %v; want 0", n, err)
	}
	if recs, err := c.TryNext(t.Context()); err != nil || len(recs) != 0 {
		t.Fatalf("the feed delivered %d records before their flush (%v)", len(recs), err)
	}

	close(st.release)
	got := map[uint64]bool{}
	for range 2 {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		got[r.idx] = true
	}
	if !got[0] || !got[1] {
		t.Fatalf("acknowledged indexes %v, want 0 and 1", got)
	}
	recs, err := c.Next(t.Context())
	if err != nil || len(recs) == 0 || recs[0].Index != 0 {
		t.Fatalf("feed after the flush: %d records, %v; want them from index 0", len(recs), err)
	}
}
