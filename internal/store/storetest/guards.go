package storetest

import (
	"errors"
	"fmt"
	"slices"
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

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// testApprove walks two-person approvals: the first approver waits (even
// when asking again), a second completes the action once, and an expired
// first approval starts over.
func testApprove(t *testing.T, s store.Store) {
	ctx := t.Context()
	ttl := time.Hour
	step := func(what, key, by string, at time.Time, wantFirst string, wantDone bool) {
		t.Helper()
		first, done, err := s.Approve(ctx, key, by, at, ttl)
		if err != nil || first != wantFirst || done != wantDone {
			t.Errorf("%s: Approve(%s, %s) = %q, %v, %v; want %q, %v", what, key, by, first, done, err, wantFirst, wantDone)
		}
	}
	k := "reinstate:emp-1"
	step("first", k, "sec-1", base, "sec-1", false)
	step("first again", k, "sec-1", base.Add(time.Minute), "sec-1", false)
	step("other key", "suspend:sec-9", "sec-2", base, "sec-2", false)
	step("second", k, "sec-2", base.Add(2*time.Minute), "sec-1", true)
	// Done: the pending approval is gone, a new action starts.
	step("after done", k, "sec-2", base.Add(3*time.Minute), "sec-2", false)
	// Expired: the first approval no longer counts.
	step("expired first", k, "sec-3", base.Add(3*time.Minute+ttl), "sec-3", false)
	step("second after expiry", k, "sec-1", base.Add(4*time.Minute+ttl), "sec-3", true)
}

// testApproveConcurrent: ten analysts approve one action at once. Calls
// serialise, so they pair up: exactly five complete it, each with a first
// approver other than itself, and every analyst is used exactly once. The
// same analyst approving many times at once never completes anything.
func testApproveConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const n = 10
	firsts := make([]string, n)
	dones := make([]bool, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		firsts[i], dones[i], errs[i] = s.Approve(ctx, "suspend:sec-9", fmt.Sprintf("sec-%d", i), base, time.Hour)
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := count(dones); got != n/2 {
		t.Errorf("%d of %d approvals completed the action, want %d", got, n, n/2)
	}
	var used []string
	for i, done := range dones {
		me := fmt.Sprintf("sec-%d", i)
		if done {
			if firsts[i] == me {
				t.Errorf("%s completed its own approval", me)
			}
			used = append(used, me, firsts[i])
		}
	}
	slices.Sort(used)
	if len(slices.Compact(used)) != n {
		t.Errorf("completing pairs %v: want each of the %d analysts once", used, n)
	}

	parallel(n, func(i int) {
		firsts[i], dones[i], errs[i] = s.Approve(ctx, "reinstate:emp-1", "sec-1", base, time.Hour)
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if got := count(dones); got != 0 {
		t.Errorf("one analyst alone completed the action %d times", got)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	h1, h2, h3 := []byte("hash-1"), []byte("hash-2"), []byte("hash-3")
	exp := now.Add(time.Hour).Round(0)
	if err := s.PutSession(ctx, h1, "sec-1", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(ctx, h2, "sec-2", now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	if p, e, err := s.Session(ctx, h1); err != nil || p != "sec-1" || !e.Equal(exp) {
		t.Errorf("Session(h1) = %q, %v, %v; want sec-1, %v", p, e, err, exp)
	}
	_, _, err := s.Session(ctx, h2)
	wantErr(t, "Session(expired)", err, store.ErrNotFound)
	_, _, err = s.Session(ctx, h3)
	wantErr(t, "Session(missing)", err, store.ErrNotFound)
	if err := s.DeleteSession(ctx, h1); err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Session(ctx, h1)
	wantErr(t, "Session(deleted)", err, store.ErrNotFound)
	if err := s.DeleteSession(ctx, h3); err != nil {
		t.Errorf("DeleteSession(missing) = %v, want nil", err)
	}
}

// testSampleCustomers checks that a sample holds distinct, whole, non-canary
// customers and varies between calls.
func testSampleCustomers(t *testing.T, s store.Store) {
	ctx := t.Context()
	if cs, err := s.SampleCustomers(ctx, 5); err != nil || len(cs) != 0 {
		t.Errorf("SampleCustomers of an empty store = %v, %v; want none", cs, err)
	}
	var b store.Batch
	byID := map[string]store.Customer{}
	for i := range 60 {
		c := customer(i)
		c.Canary = i%2 == 1
		b.Customers = append(b.Customers, c)
		byID[c.ID] = c
	}
	mustImport(t, s, b)
	seen := map[string]bool{}
	for range 4 {
		cs, err := s.SampleCustomers(ctx, 10)
		if err != nil || len(cs) != 10 {
			t.Fatalf("SampleCustomers(10) = %d customers, %v; want 10", len(cs), err)
		}
		ids := map[string]bool{}
		for _, c := range cs {
			want, ok := byID[c.ID]
			if !ok || c.Canary || !equalCustomer(c, want) || ids[c.ID] {
				t.Errorf("sampled %+v: want a distinct, whole, non-canary customer", c)
			}
			ids[c.ID], seen[c.ID] = true, true
		}
	}
	if len(seen) <= 10 {
		t.Errorf("four samples of 10 drew only %d distinct customers: not random", len(seen))
	}
	if cs, err := s.SampleCustomers(ctx, 1000); err != nil || len(cs) != 30 {
		t.Errorf("SampleCustomers(1000) = %d customers, %v; want all 30 non-canaries", len(cs), err)
	}
}
