package auditlog

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// testEvent returns a distinct, realistic event.
func testEvent(i int) event.Event {
	return event.Event{
		Time:           time.Date(2026, 3, 2, 9, 14, 5, i, time.UTC),
		Actor:          fmt.Sprintf("emp-%05d", i%50),
		Org:            "dist-017",
		Role:           "store_clerk",
		Site:           "store-0931",
		Region:         "GD",
		Action:         event.ActionRead,
		Customer:       fmt.Sprintf("c-%07d", i%7),
		CustomerRegion: "GD",
		Fields:         []string{"name", "phone"},
		Purpose:        fmt.Sprintf("ticket:T-%d", i),
		PurposeValid:   true,
		Decision:       event.Allow,
	}
}

type env struct {
	dir   string
	store *sqlite.Store
	log   *Log
}

func openStore(t testing.TB, dir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// newEnv opens a store and a log in a fresh directory; both are closed at
// the end of the test unless the test closes them itself.
func newEnv(t testing.TB) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, store: openStore(t, dir)}
	e.open(t)
	t.Cleanup(func() {
		e.log.Close(context.Background())
		e.store.Close()
	})
	return e
}

func (e *env) open(t testing.TB) {
	t.Helper()
	l, err := Open(context.Background(), Options{Store: e.store, Dir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	e.log = l
}

func (e *env) appendN(t testing.TB, from, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := from; i < from+n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.log.Append(context.Background(), testEvent(i)); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// publishedEnv is newEnv with n events appended and published in a
// checkpoint.
func publishedEnv(t testing.TB, n int) *env {
	t.Helper()
	e := newEnv(t)
	e.appendN(t, 0, n)
	e.waitPublished(t, uint64(n))
	return e
}

// waitPublished waits until a signed checkpoint covers size entries.
func (e *env) waitPublished(t testing.TB, size uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e.log.cpMu.Lock()
		s := e.log.cpSize
		e.log.cpMu.Unlock()
		if s >= size {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no checkpoint covers %d entries after 10s", size)
}

// TestAppendAssignsConsecutiveIndexes checks that concurrent appends get
// distinct consecutive indexes and that the records, with their salts, are
// in the store once Append returns.
func TestAppendAssignsConsecutiveIndexes(t *testing.T) {
	e := newEnv(t)
	const n = 300
	seen := make([]bool, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			idx, err := e.log.Append(context.Background(), testEvent(i))
			if err != nil {
				t.Error(err)
				return
			}
			recs, err := e.store.AuditRange(context.Background(), idx, idx+1)
			if err != nil || len(recs) != 1 {
				t.Errorf("record %d not in store after Append: %v", idx, err)
				return
			}
			if len(recs[0].Salt) != RecordSaltSize {
				t.Errorf("record %d salt has %d bytes", idx, len(recs[0].Salt))
			}
			mu.Lock()
			defer mu.Unlock()
			if idx >= n || seen[idx] {
				t.Errorf("index %d out of range or repeated", idx)
				return
			}
			seen[idx] = true
		}()
	}
	wg.Wait()
	e.waitPublished(t, n)
}

func TestAppendAfterClose(t *testing.T) {
	e := newEnv(t)
	if err := e.log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.log.Append(context.Background(), testEvent(1)); err != ErrClosed {
		t.Fatalf("Append after Close: got %v, want ErrClosed", err)
	}
}

// TestMetrics checks the log's metrics: appends are counted, every commit
// gets a publication delay under the 1 s goal (generous bound for loaded
// CI machines: 5 s), and the lag gauge returns to 0 once a checkpoint
// covers everything.
func TestMetrics(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	reg := prometheus.NewRegistry()
	l, err := Open(context.Background(), Options{Store: st, Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(context.Background())
	e := &env{dir: dir, store: st, log: l}
	e.appendN(t, 0, 200)
	e.waitPublished(t, 200)
	get := func(name string) *dto.Metric {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0]
			}
		}
		t.Fatalf("metric %s not registered", name)
		return nil
	}
	if got := get("custos_audit_appends_total").GetCounter().GetValue(); got != 200 {
		t.Errorf("appends_total = %v, want 200", got)
	}
	if got := get("custos_audit_publish_lag_seconds").GetGauge().GetValue(); got != 0 {
		t.Errorf("publish lag = %v after everything was published", got)
	}
	h := get("custos_audit_publish_delay_seconds").GetHistogram()
	if h.GetSampleCount() == 0 || h.GetSampleSum()/float64(h.GetSampleCount()) > 5 {
		t.Errorf("publish delay: %d samples, mean %vs", h.GetSampleCount(), h.GetSampleSum()/float64(h.GetSampleCount()))
	}
	if got := get("custos_audit_checkpoint_size").GetGauge().GetValue(); got != 200 {
		t.Errorf("checkpoint size gauge = %v, want 200", got)
	}
	// A second log on the same registry after Close registers again.
	l.Close(context.Background())
	l2, err := Open(context.Background(), Options{Store: st, Dir: dir, Registerer: reg})
	if err != nil {
		t.Fatalf("reopen with the same registry: %v", err)
	}
	l2.Close(context.Background())
}
