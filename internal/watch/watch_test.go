package watch

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

func newStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "w.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func appendEvents(t *testing.T, st store.Store, evs ...event.Event) {
	t.Helper()
	var recs []store.AuditRecord
	for _, ev := range evs {
		recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: ev.Customer, Event: ev.Canonical(), Salt: []byte("s")})
	}
	if _, err := st.AppendAudit(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
}

type containLog struct {
	mu    sync.Mutex
	calls []string
}

func (c *containLog) contain(_ context.Context, actor, status, _ string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, actor+":"+status)
	return nil
}

// canaryRead is one read of a canary record: the detectors alert at once.
func canaryRead(actor string, at time.Time) event.Event {
	found := true
	return event.Event{Time: at, Actor: actor, Org: "dist-1", Role: "store_clerk", Site: "store-1", Region: "GD",
		Action: event.ActionRead, Customer: "c-canary", CustomerRegion: "GD", Decision: event.Allow, Found: &found, Canary: true}
}

// TestRunnerAlertsOnceAndContains: records committed to the audit log reach
// the detectors exactly once; the alert is stored, the person contained
// and the alert marked; a restart replays the log without alerting again.
func TestRunnerAlertsOnceAndContains(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	if err := st.PutPrincipal(ctx, store.Principal{ID: "emp-1", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: "store-1", Region: "GD"}); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	appendEvents(t, st, canaryRead("emp-1", now), event.Event{Time: now, Actor: "-", Action: event.ActionAuthFail, Decision: event.Deny})
	var cl containLog
	r := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Contain: cl.contain}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	alerts, err := st.Alerts(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 1 || alerts[0].Actor != "emp-1" || alerts[0].Kind != detect.KindCanary {
		t.Fatalf("alerts = %+v, want one canary alert on emp-1", alerts)
	}
	if len(cl.calls) != 1 || alerts[0].Action == "" {
		t.Errorf("containment calls %v, alert action %q", cl.calls, alerts[0].Action)
	}
	// A second runner (a restart) replays the log but raises nothing new.
	r2 := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Contain: cl.contain}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if again, _ := st.Alerts(ctx, 10); len(again) != 1 {
		t.Errorf("after restart: %d alerts, want 1", len(again))
	}
	if ok, err := r2.Idle(ctx); err != nil || !ok {
		t.Errorf("Idle = %v, %v", ok, err)
	}
}

// TestRunnerFollowerDoesNotAlert: with many gateways, only the leader
// raises alerts; a follower that takes over alerts on what came after.
func TestRunnerFollowerDoesNotAlert(t *testing.T) {
	ctx := context.Background()
	st := newStore(t)
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	appendEvents(t, st, canaryRead("emp-1", now))
	leading := false
	r := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Lead: func() bool { return leading }}
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if as, _ := st.Alerts(ctx, 10); len(as) != 0 {
		t.Fatalf("follower raised %d alerts", len(as))
	}
	leading = true
	appendEvents(t, st, canaryRead("emp-2", now.Add(time.Minute)))
	if err := r.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	// The old leader never raised emp-1's alert (it died, say): the new
	// leader raises it, and emp-2's.
	as, _ := st.Alerts(ctx, 10)
	if len(as) != 2 {
		t.Fatalf("after taking over: %+v, want alerts on emp-1 and emp-2", as)
	}
	// A leader that had already raised them moves the shared cursor: a
	// standby taking over then raises nothing twice.
	leading2 := false
	r2 := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Lead: func() bool { return leading2 }}
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	leading2 = true
	if err := r2.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	if as, _ := st.Alerts(ctx, 10); len(as) != 2 {
		t.Errorf("standby took over and raised again: %d alerts", len(as))
	}
}

// TestReplayWindow checks that a restart replays only a bounded window
// before the persisted position, not the log from index 0.
func TestReplayWindow(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SetMeta(ctx, metaCursor, []byte("1000")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		replay int
		want   uint64
	}{{0, 0}, {300, 700}, {-1, 1000}} {
		r := &Runner{Store: st, Engine: detect.New(detect.DefaultConfig()), Replay: tc.replay}
		if err := r.init(ctx); err != nil {
			t.Fatal(err)
		}
		if r.next != tc.want || r.feed.Pos() != tc.want {
			t.Errorf("Replay %d: starts at %d (feed %d), want %d", tc.replay, r.next, r.feed.Pos(), tc.want)
		}
		r.feed.Close()
	}
}
