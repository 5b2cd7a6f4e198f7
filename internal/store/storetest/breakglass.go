package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testBreakGlass(t *testing.T, s store.Store) {
	ctx := t.Context()
	b := store.BreakGlass{ID: "bg-1", Principal: "emp-1", Customer: "c-1", Reason: "fire", CreatedAt: base}
	if err := s.CreateBreakGlass(ctx, b); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "CreateBreakGlass(duplicate)", s.CreateBreakGlass(ctx, b), store.ErrExists)
	got, err := s.BreakGlass(ctx, b.ID)
	if err != nil || got.ID != b.ID || got.Principal != b.Principal || got.Customer != b.Customer ||
		got.Reason != b.Reason || !got.CreatedAt.Equal(b.CreatedAt) || got.ApprovedBy != "" ||
		!got.ApprovedAt.IsZero() || !got.ExpiresAt.IsZero() {
		t.Errorf("BreakGlass = %+v, %v; want %+v", got, err, b)
	}
	at, exp := base.Add(time.Minute), base.Add(time.Hour)
	if err := s.ApproveBreakGlass(ctx, b.ID, "sec-1", at, exp); err != nil {
		t.Fatalf("ApproveBreakGlass: %v", err)
	}
	wantErr(t, "ApproveBreakGlass again", s.ApproveBreakGlass(ctx, b.ID, "sec-2", at, exp.Add(time.Hour)), store.ErrConflict)
	got, err = s.BreakGlass(ctx, b.ID)
	if err != nil || got.ApprovedBy != "sec-1" || !got.ApprovedAt.Equal(at) || !got.ExpiresAt.Equal(exp) {
		t.Errorf("BreakGlass after approval = %+v, %v; want approved by sec-1 until %v", got, err, exp)
	}
	_, err = s.BreakGlass(ctx, "bg-missing")
	wantErr(t, "BreakGlass(missing)", err, store.ErrNotFound)
	wantErr(t, "ApproveBreakGlass(missing)", s.ApproveBreakGlass(ctx, "bg-missing", "sec-1", at, exp), store.ErrNotFound)
}

func testBreakGlassApproveConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateBreakGlass(ctx, store.BreakGlass{ID: "bg-1", Principal: "emp-1", Customer: "c-1",
		Reason: "fire", CreatedAt: base}); err != nil {
		t.Fatal(err)
	}
	const n = 8
	errs := make([]error, n)
	parallel(n, func(i int) {
		errs[i] = s.ApproveBreakGlass(ctx, "bg-1", fmt.Sprintf("sec-%d", i), base, base.Add(time.Hour))
	})
	winner := oneWinner(t, "ApproveBreakGlass", errs)
	if b, err := s.BreakGlass(ctx, "bg-1"); err != nil || b.ApprovedBy != fmt.Sprintf("sec-%d", winner) {
		t.Errorf("ApprovedBy = %q, %v; want sec-%d", b.ApprovedBy, err, winner)
	}
}
