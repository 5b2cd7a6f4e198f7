package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// charge is one ChargeQuota call and the result it must give.
type charge struct {
	customer string
	at       time.Time
	allowed  bool
	hour     int           // HourCount
	day      int           // DayCount
	retry    time.Duration // RetryAfter
}

func runCharges(t *testing.T, s store.Store, who string, l store.QuotaLimits, cs []charge) {
	t.Helper()
	for i, c := range cs {
		got, err := s.ChargeQuota(t.Context(), who, c.customer, c.at, l)
		if err != nil {
			t.Fatalf("charge %d (%s at %v): %v", i, c.customer, c.at, err)
		}
		want := store.QuotaResult{Allowed: c.allowed, HourCount: c.hour, DayCount: c.day, RetryAfter: c.retry}
		if got != want {
			t.Errorf("charge %d (%s at %s): got %+v, want %+v", i, c.customer, c.at.Format(time.TimeOnly), got, want)
		}
	}
}

func testQuotaHourLimit(t *testing.T, s store.Store) {
	h := base.Truncate(time.Hour) // 09:00
	at := h.Add(10 * time.Minute)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 3}, []charge{
		{"c-1", at, true, 1, 1, 0},
		{"c-2", at, true, 2, 2, 0},
		{"c-1", at.Add(time.Minute), true, 2, 2, 0}, // already counted: free
		{"c-3", at, true, 3, 3, 0},
		{"c-4", at.Add(5 * time.Minute), false, 3, 3, 45 * time.Minute}, // until 10:00
		{"c-2", at.Add(20 * time.Minute), true, 3, 3, 0},                // still free at the limit
		{"c-4", h.Add(time.Hour), true, 1, 4, 0},                        // a new hour
		{"c-1", h.Add(time.Hour + time.Minute), true, 2, 4, 0},          // counted today, not this hour
	})
	hour, day, err := s.QuotaUsage(t.Context(), "emp-1", h.Add(time.Hour+30*time.Minute))
	if err != nil || hour != 2 || day != 4 {
		t.Errorf("QuotaUsage = %d, %d, %v; want 2, 4", hour, day, err)
	}
	hour, day, err = s.QuotaUsage(t.Context(), "emp-1", h.Add(30*time.Minute))
	if err != nil || hour != 3 || day != 4 {
		t.Errorf("QuotaUsage(first hour) = %d, %d, %v; want 3, 4", hour, day, err)
	}
}

func testQuotaDayLimit(t *testing.T, s store.Store) {
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 2, PerDay: 3}, []charge{
		{"c-1", day.Add(1 * time.Hour), true, 1, 1, 0},
		{"c-2", day.Add(1 * time.Hour), true, 2, 2, 0},
		{"c-3", day.Add(1*time.Hour + time.Minute), false, 2, 2, 59 * time.Minute}, // hour limit
		{"c-3", day.Add(2 * time.Hour), true, 1, 3, 0},
		{"c-4", day.Add(22 * time.Hour), false, 0, 3, 2 * time.Hour}, // day limit, until midnight UTC
		{"c-2", day.Add(23 * time.Hour), true, 1, 3, 0},              // counted today: costs no day slot
		{"c-4", day.Add(24 * time.Hour), true, 1, 1, 0},              // a new day
	})
	// Denied charges record nothing.
	hour, d, err := s.QuotaUsage(t.Context(), "emp-1", day.Add(22*time.Hour))
	if err != nil || hour != 0 || d != 3 {
		t.Errorf("QuotaUsage after denial = %d, %d, %v; want 0, 3", hour, d, err)
	}
}

func testQuotaWindows(t *testing.T, s store.Store) {
	// The same instant in another time zone is in the same windows: hours
	// and days are UTC.
	at := time.Date(2026, 3, 2, 23, 50, 0, 0, time.UTC)
	east := time.FixedZone("UTC+8", 8*3600)
	runCharges(t, s, "emp-1", store.QuotaLimits{PerHour: 1, PerDay: 5}, []charge{
		{"c-1", at, true, 1, 1, 0},
		{"c-1", at.In(east), true, 1, 1, 0},
		{"c-2", at.Add(5 * time.Minute).In(east), false, 1, 1, 5 * time.Minute},
		{"c-2", at.Add(10 * time.Minute).In(east), true, 1, 1, 0}, // 00:00 UTC: new hour and day
	})
}

func testQuotaPerPrincipal(t *testing.T, s store.Store) {
	l := store.QuotaLimits{PerHour: 1}
	runCharges(t, s, "emp-1", l, []charge{{"c-1", base, true, 1, 1, 0}})
	runCharges(t, s, "emp-2", l, []charge{{"c-2", base, true, 1, 1, 0}})
	runCharges(t, s, "emp-1", l, []charge{{"c-2", base, false, 1, 1, base.Truncate(time.Hour).Add(time.Hour).Sub(base)}})
	hour, day, err := s.QuotaUsage(t.Context(), "emp-3", base)
	if err != nil || hour != 0 || day != 0 {
		t.Errorf("QuotaUsage(unknown) = %d, %d, %v; want 0, 0", hour, day, err)
	}
}

func testQuotaUnlimited(t *testing.T, s store.Store) {
	var cs []charge
	for i := range 20 {
		cs = append(cs, charge{fmt.Sprintf("c-%d", i), base, true, i + 1, i + 1, 0})
	}
	runCharges(t, s, "emp-1", store.QuotaLimits{}, cs)
}

func testQuotaConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, limit = 32, 10
	res := make([]store.QuotaResult, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		res[i], errs[i] = s.ChargeQuota(ctx, "emp-1", fmt.Sprintf("c-%d", i), base, store.QuotaLimits{PerHour: limit})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	allowed := 0
	var counts []int
	for _, r := range res {
		if r.Allowed {
			allowed++
			counts = append(counts, r.HourCount)
		} else if r.HourCount != limit || r.RetryAfter <= 0 {
			t.Errorf("denied charge = %+v, want HourCount %d and a RetryAfter", r, limit)
		}
	}
	if allowed != limit {
		t.Errorf("%d of %d concurrent charges allowed, want exactly %d", allowed, n, limit)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Errorf("allowed HourCounts = %v, want each of 1..%d once", counts, limit)
			break
		}
	}
	if hour, day, err := s.QuotaUsage(ctx, "emp-1", base); err != nil || hour != limit || day != limit {
		t.Errorf("QuotaUsage = %d, %d, %v; want %d, %d", hour, day, err, limit, limit)
	}
}

func testQuotaConcurrentSameCustomer(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 16
	res := make([]store.QuotaResult, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		res[i], errs[i] = s.ChargeQuota(ctx, "emp-1", "c-1", base, store.QuotaLimits{PerHour: 1, PerDay: 1})
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !r.Allowed || r.HourCount != 1 || r.DayCount != 1 {
			t.Errorf("charge %d = %+v, want allowed with counts 1, 1", i, r)
		}
	}
}
