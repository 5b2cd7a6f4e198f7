package sqlite

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// TestDerivedWritesLeaveTheWriterDurable checks that the writes of derived
// data, which commit without a flush, hand the one writer connection back
// as durable as it was configured, so the next audit commit flushes.
func TestDerivedWritesLeaveTheWriterDurable(t *testing.T) {
	ctx := t.Context()
	for _, level := range []string{SyncFull, SyncNormal} {
		s, err := Open(ctx, filepath.Join(t.TempDir(), "custos.db"), WithSync(level))
		if err != nil {
			t.Fatal(err)
		}
		terms := []store.AuditTerms{{Index: 0, Time: time.Unix(1, 0), Actor: "emp-1", Action: "customer.read", Decision: "allow"}}
		if err := s.IndexAudit(ctx, terms); err != nil {
			t.Fatal(err)
		}
		if n, err := s.AuditIndexed(ctx); err != nil || n != 1 {
			t.Fatalf("%s: indexed %d, %v; want 1", level, n, err)
		}
		var got int
		if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{SyncFull: 2, SyncNormal: 1}[level]
		if got != want {
			t.Errorf("%s: writer's synchronous = %d after a derived write, want %d", level, got, want)
		}
		s.Close()
	}
}
