package trace

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestUpdateFromStore rebuilds access sets from a real store's audit
// records, then catches up incrementally after more appends.
func TestUpdateFromStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	appendEvents := func(evs ...event.Event) {
		t.Helper()
		var recs []store.AuditRecord
		for _, ev := range evs {
			recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: ev.Customer, Event: ev.Canonical(), Salt: []byte("salt")})
		}
		if _, err := st.AppendAudit(ctx, recs); err != nil {
			t.Fatal(err)
		}
	}
	denied := read("emp-b", "dist-2", cid(3))
	denied.Decision = event.Deny
	appendEvents(read("emp-a", "dist-1", cid(1)), read("emp-a", "dist-1", cid(2)), denied)
	// A record that is not an event at all.
	if _, err := st.AppendAudit(ctx, []store.AuditRecord{{Actor: "x", Event: []byte("not json"), Salt: []byte("s")}}); err != nil {
		t.Fatal(err)
	}

	s := NewAccessSets()
	n, err := s.Update(ctx, st)
	if err != nil || n != 4 || s.Applied() != 4 {
		t.Fatalf("Update = %d, %v; applied %d; want 4 records", n, err, s.Applied())
	}
	if s.Reads("emp-a") != 2 || s.Reads("emp-b") != 0 {
		t.Errorf("reads a=%d b=%d, want 2 and 0", s.Reads("emp-a"), s.Reads("emp-b"))
	}
	appendEvents(read("emp-b", "dist-2", cid(3)))
	if n, err := s.Update(ctx, st); err != nil || n != 1 || s.Applied() != 5 || !s.HasRead("emp-b", cid(3)) {
		t.Errorf("incremental Update = %d, %v; applied %d", n, err, s.Applied())
	}
	if n, err := s.Update(ctx, st); err != nil || n != 0 {
		t.Errorf("idle Update = %d, %v", n, err)
	}
}
