package sqlite

import (
	"path/filepath"
	"testing"
)

// TestDerivedWritesLeaveTheWriterDurable checks that the audit log's
// commits, written without a flush under the writer, and the derived
// database's writes hand the one writer connection back as durable as it
// was configured.
func TestDerivedWritesLeaveTheWriterDurable(t *testing.T) {
	ctx := t.Context()
	for _, level := range []string{SyncFull, SyncNormal} {
		s, err := Open(ctx, filepath.Join(t.TempDir(), "custos.db"), WithSync(level))
		if err != nil {
			t.Fatal(err)
		}
		// The audit log's commits and the quota's are written at NORMAL.
		if _, err := s.AppendAudit(ctx, auditRecs(1)); err != nil {
			t.Fatal(err)
		}
		s.quota.mu.Lock()
		s.quota.pending = append(s.quota.pending, quotaRow{principal: "emp-1", win: "d-1", customer: "c-1"})
		s.quota.mu.Unlock()
		s.flushQuota()
		if n := len(s.quota.pending); n != 0 {
			t.Fatalf("%s: %d quota rows still pending", level, n)
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
