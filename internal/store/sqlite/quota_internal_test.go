package sqlite

import (
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// TestQuotaCacheReload checks that charges the write-behind has not yet
// committed to the quota table still count when a window is loaded again
// (after the cache dropped its windows to bound memory): otherwise a busy
// store would overspend.
func TestQuotaCacheReload(t *testing.T) {
	ctx := t.Context()
	s := openFull(t)
	// Hold the only writer connection, so no quota row reaches the table.
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	l := store.QuotaLimits{PerHour: 3}
	for _, c := range []string{"c-1", "c-2", "c-3"} {
		if r, err := s.ChargeQuota(ctx, "emp-1", c, at, l); err != nil || !r.Allowed {
			t.Fatalf("charge %s = %+v, %v", c, r, err)
		}
	}
	s.quota.mu.Lock()
	s.quota.wins = map[[2]string]map[string]struct{}{} // what the memory bound does
	s.quota.mu.Unlock()
	r, err := s.ChargeQuota(ctx, "emp-1", "c-4", at, l)
	if err != nil {
		t.Fatal(err)
	}
	if r.Allowed || r.HourCount != 3 {
		t.Errorf("4th customer after the cache was dropped = %+v, want denied at 3", r)
	}
	if h, _, err := s.QuotaUsage(ctx, "emp-1", at); err != nil || h != 3 {
		t.Errorf("QuotaUsage = %d, %v; want 3", h, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
}
