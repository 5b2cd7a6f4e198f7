package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// BenchmarkIndexAudit measures the search index's write: one op is one
// record indexed, in batches of 2,048 (what the indexer hands over under
// load), over 20,000 customers and 50 actors.
//
//	go test ./internal/store/sqlite -run '^$' -bench IndexAudit -benchtime 200000x
func BenchmarkIndexAudit(b *testing.B) {
	ctx := b.Context()
	s := openFull(b)
	const batch = 2048
	terms := make([]store.AuditTerms, 0, batch)
	now := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i += batch {
		terms = terms[:0]
		for j := i; j < min(b.N, i+batch); j++ {
			terms = append(terms, store.AuditTerms{Index: uint64(j), Time: now, Actor: fmt.Sprintf("emp-%d", j%50),
				Customer: fmt.Sprintf("c-%07d", (j*7919)%20000), Org: "dist-1", Site: "store-1", Action: "read", Decision: "allow"})
		}
		if err := s.IndexAudit(ctx, terms); err != nil {
			b.Fatal(err)
		}
	}
}
