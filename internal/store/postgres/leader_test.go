package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestLeaseLostWithItsConnection: one gateway leads, the other does not;
// when the leader's connection is killed (a restart or failover does that),
// lost is closed and the other gateway can take the lead.
func TestLeaseLostWithItsConnection(t *testing.T) {
	dbURL := newDatabase(t)
	a, b := open(t, dbURL), open(t, dbURL)
	ctx := t.Context()
	release, lost, ok, err := a.TryLead(ctx, "detectors")
	if err != nil || !ok {
		t.Fatalf("A leads: %v, %v", ok, err)
	}
	defer release()
	if _, _, ok, err := b.TryLead(ctx, "detectors"); err != nil || ok {
		t.Fatalf("B leads beside A: %v, %v", ok, err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND classid = 7263`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the lease's connection died, and lost was not closed")
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rb, _, ok, err := b.TryLead(ctx, "detectors")
		if ok {
			rb()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("B never took the lead after A lost it: %v", err)
		}
	}
}
