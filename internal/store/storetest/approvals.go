package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

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
