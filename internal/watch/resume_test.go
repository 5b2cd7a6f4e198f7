package watch

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/store"
)

// flakyStore fails AddAlert while broken, as a store that is restarting
// or out of disk would.
type flakyStore struct {
	store.Store
	broken atomic.Bool
}

func (f *flakyStore) AddAlert(ctx context.Context, a store.Alert) (int64, error) {
	if f.broken.Load() {
		return 0, store.Unavailable(errors.New("connection refused"))
	}
	return f.Store.AddAlert(ctx, a)
}

// TestAlertSurvivesStoreOutage: an alert whose record arrives while the
// store cannot take it is neither lost nor raised twice. It is raised once
// the store is back, even with no new records to process, and a restart
// during the outage raises it too, since the persisted position stays
// before its record.
func TestAlertSurvivesStoreOutage(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if err := st.PutPrincipal(ctx, store.Principal{ID: "emp-1", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: "store-1", Region: "GD"}); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, st, canaryRead("emp-1", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)))
	fs := &flakyStore{Store: st}
	fs.broken.Store(true)
	var cl containLog
	r := &Runner{Store: fs, Engine: detect.New(detect.DefaultConfig()), Contain: cl.contain}
	if err := r.CatchUp(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("CatchUp with the store down: %v, want store.ErrUnavailable", err)
	}
	if err := r.CatchUp(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("second CatchUp with the store down: %v, want store.ErrUnavailable", err)
	}
	if b, err := st.Meta(ctx, metaCursor); err == nil && string(b) != "0" {
		t.Fatalf("persisted position %s moved past the record whose alert was not raised", b)
	}
	// A restart meanwhile (a new runner) would raise it from the log.
	fs.broken.Store(false)
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	as, err := st.Alerts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Actor != "emp-1" || len(cl.calls) != 1 {
		t.Fatalf("after the store came back: alerts %+v, containment %v; want one alert on emp-1, contained once", as, cl.calls)
	}
	r2 := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Contain: cl.contain}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if as, _ := st.Alerts(ctx, 10); len(as) != 1 {
		t.Errorf("after a restart: %d alerts, want 1", len(as))
	}
}

// metaDownStore fails Meta while broken, as a store that is down when
// the detectors start would.
type metaDownStore struct {
	store.Store
	broken atomic.Bool
}

func (m *metaDownStore) Meta(ctx context.Context, key string) ([]byte, error) {
	if m.broken.Load() {
		return nil, store.Unavailable(errors.New("connection refused"))
	}
	return m.Store.Meta(ctx, key)
}

// TestRunStartsOnceStoreAnswers: detectors started while the store cannot
// be read wait for it instead of stopping for good.
func TestRunStartsOnceStoreAnswers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := newStore(t)
	appendEvents(t, st, canaryRead("emp-1", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)))
	ms := &metaDownStore{Store: st}
	ms.broken.Store(true)
	r := &Runner{Store: ms, Engine: detect.New(detect.DefaultConfig()), Poll: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(50 * time.Millisecond) // Run is retrying, not returning
	select {
	case err := <-done:
		t.Fatalf("Run returned while the store was down: %v", err)
	default:
	}
	ms.broken.Store(false)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if as, _ := st.Alerts(ctx, 10); len(as) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no alert after the store came back")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
