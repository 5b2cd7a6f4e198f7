package sqlite

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// BenchmarkAppendAudit measures one audit group commit of 7 records (what
// a commit holds under bench/load) as the committer makes it: the write
// under the writer, then the flush. At NORMAL there is no flush, so the
// time is the write's CPU; at FULL it adds the disk's.
//
//	go test ./internal/store/sqlite -run '^$' -bench AppendAudit -benchtime 20000x
func BenchmarkAppendAudit(b *testing.B) {
	for _, level := range []string{SyncNormal, SyncFull} {
		b.Run("sync="+level, func(b *testing.B) {
			s, err := Open(b.Context(), filepath.Join(b.TempDir(), "custos.db"), WithSync(level))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			recs := make([]store.AuditRecord, 7)
			for i := range recs {
				recs[i] = store.AuditRecord{Time: time.Now(), Actor: fmt.Sprintf("emp-%d", i), Customer: fmt.Sprintf("c-%07d", i),
					Event: make([]byte, 420), Salt: make([]byte, 16)}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.AppendAudit(b.Context(), recs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
