package search_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/search"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestIndexerCatchesUp checks that an indexer behind the log writes batch
// after batch without its pause between writes: a log that grows faster
// than one batch an interval is still indexed.
func TestIndexerCatchesUp(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const n = 5000 // more than two batches
	recs := make([]store.AuditRecord, n)
	for i := range recs {
		recs[i] = store.AuditRecord{Time: time.Unix(int64(i), 0), Actor: "emp-1", Customer: "c-1",
			Event: []byte(`{"time":"2026-11-30T00:00:00Z","actor":"emp-1","action":"read","decision":"allow"}`), Salt: []byte("salt")}
	}
	if _, err := st.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	x := &search.Indexer{Store: st, Feed: auditlog.StoreFeed{Store: st}, Logger: slog.New(slog.DiscardHandler), Interval: time.Hour}
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := st.AuditIndexed(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("indexed %d of %d records; the indexer paused while behind", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	hits, err := st.SearchAudit(t.Context(), store.AuditQuery{Actor: "emp-1", Limit: 10})
	if err != nil || len(hits) != 10 || hits[0].Index != n-1 {
		t.Fatalf("search after indexing: %d hits, first %v, err %v", len(hits), hits, err)
	}
}
