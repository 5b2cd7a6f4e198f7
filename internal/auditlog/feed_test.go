package auditlog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/store"
)

// follow reads n records from c, checking order and the parsed events.
func follow(t *testing.T, c *Cursor, from uint64, n int) []Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []Record
	for len(out) < n {
		recs, err := c.Next(ctx)
		if err != nil {
			t.Fatalf("Next after %d records: %v", len(out), err)
		}
		out = append(out, recs...)
	}
	for i, r := range out {
		if r.Index != from+uint64(i) {
			t.Fatalf("record %d has index %d", from+uint64(i), r.Index)
		}
		if r.Event == nil || r.Err != nil {
			t.Fatalf("record %d not parsed: %v", r.Index, r.Err)
		}
		if want := testEvent(int(r.Index)); r.Event.Actor != want.Actor || !r.Event.Time.Equal(want.Time) {
			t.Fatalf("record %d: event %+v, want %+v", r.Index, *r.Event, want)
		}
	}
	return out
}

// TestFollow checks the feed's contract: catch-up from the store, then
// records committed in process, in index order, without gaps, the same
// parsed event for every cursor, and a lag gauge per consumer.
func TestFollow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 10 {
		if _, err := e.log.Append(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	a := e.log.Follow(ctx, 0, FollowName("a"), FollowBatch(3))
	defer a.Close()
	b := e.log.Follow(ctx, 4, FollowName("b"))
	defer b.Close()
	follow(t, a, 0, 10)
	follow(t, b, 4, 6)

	reg := prometheus.NewRegistry()
	reg.MustRegister(newLagCollector(&e.log.hub))
	for i := 10; i < 30; i++ {
		if _, err := e.log.Append(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			got = append(got, fmt.Sprintf("%s{consumer=%q} %g", mf.GetName(), m.GetLabel()[0].GetValue(), m.GetGauge().GetValue()))
		}
	}
	slices.Sort(got)
	// The integrator is a consumer too; its lag depends on tessera's pace.
	n := len(got)
	got = slices.DeleteFunc(got, func(s string) bool { return strings.HasPrefix(s, `custos_feed_lag_records{consumer="tessera"} `) })
	if len(got) != n-1 {
		t.Errorf("lag metrics %q: want one for the integrator (consumer tessera)", got)
	}
	if want := []string{`custos_feed_lag_records{consumer="a"} 20`, `custos_feed_lag_records{consumer="b"} 20`}; !slices.Equal(got, want) {
		t.Errorf("lag metrics %q, want %q", got, want)
	}
	ra := follow(t, a, 10, 20)
	rb := follow(t, b, 10, 20)
	for i := range ra {
		if ra[i].Event != rb[i].Event {
			t.Fatalf("record %d parsed twice", ra[i].Index)
		}
	}
	if a.Lag() != 0 || a.Pos() != 30 {
		t.Errorf("Lag %d Pos %d after catching up", a.Lag(), a.Pos())
	}

	// Next blocks until a commit wakes it, well before the poll interval.
	done := make(chan []Record)
	go func() {
		recs, _ := a.Next(ctx)
		done <- recs
	}()
	time.Sleep(20 * time.Millisecond)
	t0 := time.Now()
	if _, err := e.log.Append(ctx, testEvent(30)); err != nil {
		t.Fatal(err)
	}
	if recs := <-done; len(recs) != 1 || recs[0].Index != 30 {
		t.Fatalf("woken with %v", recs)
	} else if d := time.Since(t0); d > e.log.opts.PollInterval/2 {
		t.Errorf("woken after %v", d)
	}

	a.Close()
	if _, err := a.Next(ctx); !errors.Is(err, ErrCursorClosed) {
		t.Errorf("Next after Close: %v", err)
	}
}

// TestFollowOverflow checks that a cursor whose buffer overflowed reads
// the dropped records from the store, in order.
func TestFollowOverflow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.log.Follow(ctx, 0)
	defer c.Close()
	c.bufLimit = 5
	for i := range 40 {
		if _, err := e.log.Append(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	follow(t, c, 0, 40)
}

// TestFollowOtherWriter checks that records committed to the store by
// someone else (another gateway) are found by polling, and that a cursor
// ended by its context reports it.
func TestFollowOtherWriter(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	c := StoreFeed{Store: e.store, Poll: 10 * time.Millisecond}.Follow(ctx, 0)
	go func() {
		time.Sleep(30 * time.Millisecond)
		recs := make([]store.AuditRecord, 3)
		for i := range recs {
			ev := testEvent(i)
			recs[i] = store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Event: ev.Canonical(), Salt: []byte("salt")}
		}
		e.store.AppendAudit(context.Background(), recs)
	}()
	follow(t, c, 0, 3)
	cancel()
	if _, err := c.Next(context.Background()); !errors.Is(err, ErrCursorClosed) {
		t.Errorf("Next after the context ended: %v", err)
	}
}

// gappy is a store whose record 2 is missing.
type gappy struct{ AuditSource }

func (g gappy) AuditRange(ctx context.Context, from, to uint64) ([]store.AuditRecord, error) {
	recs, err := g.AuditSource.AuditRange(ctx, from, to)
	var out []store.AuditRecord
	for _, r := range recs {
		if r.Index != 2 {
			out = append(out, r)
		}
	}
	return out, err
}

// TestFollowGap checks that a missing record is an error, never skipped,
// and that the cursor stays before it.
func TestFollowGap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for i := range 5 {
		if _, err := e.log.Append(ctx, testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	c := StoreFeed{Store: gappy{e.store}}.Follow(ctx, 0)
	defer c.Close()
	recs, err := c.Next(ctx)
	if err != nil || len(recs) != 2 {
		t.Fatalf("first Next: %d records, %v", len(recs), err)
	}
	for range 2 {
		if _, err := c.Next(ctx); !errors.Is(err, ErrGap) {
			t.Fatalf("Next at the gap: %v", err)
		}
		if c.Pos() != 2 {
			t.Fatalf("Pos %d after a gap", c.Pos())
		}
	}
}
