package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// testRateLimit checks the fixed-window counter: max hits a window, denied
// hits not counted, retryAfter to the window's end, keys and window
// lengths counted apart.
func testRateLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	w := time.Hour
	start, end := store.RateWindow(base, w)
	if !start.Equal(base.Truncate(w)) || end.Sub(start) != w {
		t.Fatalf("RateWindow(%v) = %v, %v", base, start, end)
	}
	for i := range 3 {
		at := base.Add(time.Duration(i) * time.Second)
		ok, retry, err := s.Hit(ctx, "ip:a", at, w, 3)
		if err != nil || !ok || retry != 0 {
			t.Fatalf("hit %d = %v, %v, %v; want allowed", i, ok, retry, err)
		}
	}
	at := base.Add(time.Minute)
	for i := range 3 { // denied hits do not count: the next window starts clean
		ok, retry, err := s.Hit(ctx, "ip:a", at, w, 3)
		if err != nil || ok || retry != end.Sub(at) {
			t.Errorf("hit over the limit %d = %v, %v, %v; want denied, retry %v", i, ok, retry, err, end.Sub(at))
		}
	}
	if ok, _, err := s.Hit(ctx, "ip:b", at, w, 3); err != nil || !ok {
		t.Errorf("another key = %v, %v; want allowed", ok, err)
	}
	if ok, _, err := s.Hit(ctx, "ip:a", at, 30*time.Minute, 3); err != nil || !ok {
		t.Errorf("same key, another window length (same start) = %v, %v; want allowed", ok, err)
	}
	for i := range 3 {
		if ok, _, err := s.Hit(ctx, "ip:a", end.Add(time.Duration(i)), w, 3); err != nil || !ok {
			t.Errorf("next window hit %d = %v, %v; want allowed", i, ok, err)
		}
	}
	if ok, _, err := s.Hit(ctx, "ip:a", end.Add(time.Second), w, 3); err != nil || ok {
		t.Errorf("next window over the limit = %v, %v; want denied", ok, err)
	}
	if ok, retry, err := s.Hit(ctx, "ip:c", at, w, 0); err != nil || ok || retry != end.Sub(at) {
		t.Errorf("max 0 = %v, %v, %v; want denied", ok, retry, err)
	}
	// A day later the old windows may be pruned; counting goes on.
	if ok, _, err := s.Hit(ctx, "ip:a", base.Add(48*time.Hour), w, 3); err != nil || !ok {
		t.Errorf("hit two days on = %v, %v; want allowed", ok, err)
	}
}

// testRateLimitConcurrent sends 50 hits at once at a limit of five: exactly
// five may pass, however they interleave.
func testRateLimitConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n, max = 50, 5
	oks := make([]bool, n)
	errs := make([]error, n)
	parallel(n, func(i int) { oks[i], _, errs[i] = s.Hit(ctx, "phone:x", base, time.Hour, max) })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := count(oks); got != max {
		t.Errorf("%d of %d hits allowed, want %d", got, n, max)
	}
}
