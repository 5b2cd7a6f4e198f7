package storetest

import (
	"errors"
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
