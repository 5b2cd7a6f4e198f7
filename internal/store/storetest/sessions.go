package storetest

import (
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

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
