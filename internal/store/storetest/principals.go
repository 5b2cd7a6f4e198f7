package storetest

import (
	"errors"
	"fmt"
	"sort"
	"testing"

	"github.com/custos-dev/custos/internal/store"
)

func testPrincipalPutAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	if ps, err := s.Principals(ctx); err != nil || len(ps) != 0 {
		t.Errorf("Principals of an empty store = %v, %v; want none", ps, err)
	}
	a := principal("emp-b", []byte("tok-b"))
	b := principal("emp-a", nil) // no token
	b.Status = ""                // defaults to active
	for _, p := range []store.Principal{a, b} {
		if err := s.PutPrincipal(ctx, p); err != nil {
			t.Fatalf("PutPrincipal(%s): %v", p.ID, err)
		}
	}
	b.Status = store.StatusActive
	got, err := s.PrincipalByToken(ctx, []byte("tok-b"))
	if err != nil || !equalPrincipal(got, a) {
		t.Errorf("PrincipalByToken = %+v, %v; want %+v", got, err, a)
	}
	got, err = s.Principal(ctx, "emp-a")
	if err != nil || !equalPrincipal(got, b) {
		t.Errorf("Principal = %+v, %v; want %+v", got, err, b)
	}
	ps, err := s.Principals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	if len(ps) != 2 || !equalPrincipal(ps[0], b) || !equalPrincipal(ps[1], a) {
		t.Errorf("Principals = %+v, want [%+v %+v]", ps, b, a)
	}
	_, err = s.Principal(ctx, "emp-missing")
	wantErr(t, "Principal", err, store.ErrNotFound)
	_, err = s.PrincipalByToken(ctx, []byte("tok-missing"))
	wantErr(t, "PrincipalByToken", err, store.ErrNotFound)
	_, err = s.PrincipalByToken(ctx, nil)
	wantErr(t, "PrincipalByToken(nil)", err, store.ErrNotFound)
}

func testPrincipalTokenUnique(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", []byte("tok"))); err != nil {
		t.Fatal(err)
	}
	err := s.PutPrincipal(ctx, principal("emp-2", []byte("tok")))
	wantErr(t, "PutPrincipal with a taken token", err, store.ErrExists)
	if _, err := s.Principal(ctx, "emp-2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Principal(emp-2) err = %v, want ErrNotFound", err)
	}
	// Principals without a token never conflict with each other.
	for _, id := range []string{"emp-3", "emp-4"} {
		if err := s.PutPrincipal(ctx, principal(id, nil)); err != nil {
			t.Errorf("PutPrincipal(%s, no token): %v", id, err)
		}
	}
}

func testPrincipalKeepsToken(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal("emp-1", []byte("tok"))
	if err := s.PutPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.TokenHash, p.Role = nil, "store_manager"
	if err := s.PutPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := s.PrincipalByToken(ctx, []byte("tok"))
	if err != nil || got.Role != "store_manager" {
		t.Errorf("PrincipalByToken after update without token = %+v, %v; want role store_manager", got, err)
	}
	p.Role = "auditor"
	mustImport(t, s, store.Batch{Principals: []store.Principal{p}})
	got, err = s.PrincipalByToken(ctx, []byte("tok"))
	if err != nil || got.Role != "auditor" {
		t.Errorf("PrincipalByToken after import without token = %+v, %v; want role auditor", got, err)
	}
}

func testPrincipalStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", []byte("tok"))); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{store.StatusSuspended, store.StatusStepUp, store.StatusActive} {
		if err := s.SetPrincipalStatus(ctx, "emp-1", st); err != nil {
			t.Fatalf("SetPrincipalStatus(%s): %v", st, err)
		}
		p, err := s.PrincipalByToken(ctx, []byte("tok"))
		if err != nil || p.Status != st {
			t.Errorf("status = %q, %v; want %q", p.Status, err, st)
		}
	}
	err := s.SetPrincipalStatus(ctx, "emp-missing", store.StatusSuspended)
	wantErr(t, "SetPrincipalStatus(missing)", err, store.ErrNotFound)
}

func testPrincipalsVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	prev, err := s.PrincipalsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"PutPrincipal", func() error { return s.PutPrincipal(ctx, principal("emp-1", []byte("t1"))) }},
		{"PutPrincipal again", func() error { return s.PutPrincipal(ctx, principal("emp-1", []byte("t2"))) }},
		{"SetPrincipalStatus", func() error { return s.SetPrincipalStatus(ctx, "emp-1", store.StatusSuspended) }},
		{"Import", func() error {
			return s.Import(ctx, store.Batch{Principals: []store.Principal{principal("emp-2", nil)}})
		}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		v, err := s.PrincipalsVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v == prev {
			t.Errorf("PrincipalsVersion unchanged (%d) after %s", v, st.name)
		}
		prev = v
	}
	// A failed change leaves the version alone.
	if err := s.SetPrincipalStatus(ctx, "emp-missing", store.StatusSuspended); err == nil {
		t.Fatal("SetPrincipalStatus(missing) succeeded")
	}
	if v, err := s.PrincipalsVersion(ctx); err != nil || v != prev {
		t.Errorf("PrincipalsVersion after failed change = %d, %v; want %d", v, err, prev)
	}
}

// testChangeStatus checks the compare-and-set: a change applies only from
// the status the caller read ("" and active alike), records who and why,
// and bumps PrincipalsVersion.
func testChangeStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", []byte("tok"))); err != nil {
		t.Fatal(err)
	}
	v0, err := s.PrincipalsVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ChangeStatus(ctx, "emp-1", "", store.StatusSuspended, store.SourceDetect, "volume", "reads 14x peer median"); err != nil {
		t.Fatalf("ChangeStatus(from \"\"): %v", err)
	}
	p, err := s.Principal(ctx, "emp-1")
	if err != nil || p.Status != store.StatusSuspended || p.StatusSource != store.SourceDetect ||
		p.StatusBy != "volume" || p.StatusReason != "reads 14x peer median" {
		t.Errorf("after ChangeStatus: %+v, %v", p, err)
	}
	if v, err := s.PrincipalsVersion(ctx); err != nil || v == v0 {
		t.Errorf("PrincipalsVersion = %d, %v; want a change from %d", v, err, v0)
	}
	// A stale read: the caller thinks emp-1 is still active.
	err = s.ChangeStatus(ctx, "emp-1", store.StatusActive, store.StatusStepUp, store.SourceSCIM, "idp", "")
	wantErr(t, "ChangeStatus(stale from)", err, store.ErrConflict)
	if p, _ := s.Principal(ctx, "emp-1"); p.Status != store.StatusSuspended || p.StatusSource != store.SourceDetect {
		t.Errorf("a refused change changed the principal: %+v", p)
	}
	if err := s.ChangeStatus(ctx, "emp-1", store.StatusSuspended, store.StatusActive, store.SourceAnalyst, "sec-1", "benign"); err != nil {
		t.Fatalf("ChangeStatus(reinstate): %v", err)
	}
	if p, _ := s.Principal(ctx, "emp-1"); p.Status != store.StatusActive || p.StatusBy != "sec-1" || p.StatusReason != "benign" {
		t.Errorf("after reinstate: %+v", p)
	}
	err = s.ChangeStatus(ctx, "emp-missing", store.StatusActive, store.StatusSuspended, store.SourceAnalyst, "sec-1", "x")
	wantErr(t, "ChangeStatus(missing)", err, store.ErrNotFound)
}

// testChangeStatusConcurrent races changes from the same status: exactly
// one applies, the rest conflict.
func testChangeStatusConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.PutPrincipal(ctx, principal("emp-1", nil)); err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make([]error, n)
	parallel(n, func(i int) {
		to := store.StatusSuspended
		if i%2 == 0 {
			to = store.StatusStepUp
		}
		errs[i] = s.ChangeStatus(ctx, "emp-1", store.StatusActive, to, store.SourceAnalyst, fmt.Sprintf("sec-%d", i), "race")
	})
	won := oneWinner(t, "ChangeStatus", errs)
	if p, err := s.Principal(ctx, "emp-1"); err != nil || p.StatusBy != fmt.Sprintf("sec-%d", won) {
		t.Errorf("StatusBy = %q, %v; want sec-%d", p.StatusBy, err, won)
	}
}

// testPutPrincipalKeepsStatus checks that neither PutPrincipal nor Import
// overwrites the status of a principal that exists, so a write built on a
// stale read cannot lift a suspension; a new principal takes its status.
func testPutPrincipalKeepsStatus(t *testing.T, s store.Store) {
	ctx := t.Context()
	p := principal("emp-1", []byte("tok"))
	p.Status, p.StatusSource, p.StatusBy, p.StatusReason = store.StatusStepUp, store.SourceImport, "hr", "new starter"
	if err := s.PutPrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Principal(ctx, "emp-1"); err != nil || !equalPrincipal(got, p) {
		t.Errorf("new principal = %+v, %v; want %+v", got, err, p)
	}
	if err := s.ChangeStatus(ctx, "emp-1", store.StatusStepUp, store.StatusSuspended, store.SourceDetect, "canary", "canary read"); err != nil {
		t.Fatal(err)
	}
	stale := principal("emp-1", nil)
	stale.Role = "store_manager"
	stale.Status, stale.StatusSource = store.StatusActive, store.SourceSCIM
	if err := s.PutPrincipal(ctx, stale); err != nil {
		t.Fatal(err)
	}
	mustImport(t, s, store.Batch{Principals: []store.Principal{stale, principal("emp-2", nil)}})
	got, err := s.Principal(ctx, "emp-1")
	if err != nil || got.Role != "store_manager" || got.Status != store.StatusSuspended ||
		got.StatusSource != store.SourceDetect || got.StatusBy != "canary" || got.StatusReason != "canary read" {
		t.Errorf("after PutPrincipal and Import = %+v, %v; want the new role, status kept", got, err)
	}
	if got, err := s.Principal(ctx, "emp-2"); err != nil || got.Status != store.StatusActive {
		t.Errorf("imported new principal = %+v, %v; want active", got, err)
	}
}
