package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func terms(recs ...store.AuditRecord) []store.AuditTerms {
	out := make([]store.AuditTerms, len(recs))
	for i, r := range recs {
		out[i] = store.AuditTerms{Index: uint64(i), Time: r.Time, Actor: r.Actor, Action: "customer.read", Decision: "allow"}
	}
	return out
}

// TestSearchIndexWritesBesideTheWriter checks that the search index and
// the quota counts are written while a transaction holds the store's one
// writer: their writes never hold up an audit commit, nor wait for one.
func TestSearchIndexWritesBesideTheWriter(t *testing.T) {
	s := openFull(t)
	ctx := t.Context()
	recs := auditRecs(3)
	if _, err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := s.IndexAudit(ictx, terms(recs...)); err != nil {
		t.Fatalf("IndexAudit while the writer is held: %v", err)
	}
	s.quota.mu.Lock()
	s.quota.pending = append(s.quota.pending, quotaRow{principal: "emp-1", win: "d-1", customer: "c-1"})
	s.quota.mu.Unlock()
	s.flushQuota()
	if n := len(s.quota.pending); n != 0 {
		t.Fatalf("%d quota rows still pending after a flush while the writer is held", n)
	}
	tx.Rollback()
	if n, err := s.AuditIndexed(ctx); err != nil || n != 3 {
		t.Fatalf("AuditIndexed = %d, %v; want 3", n, err)
	}
	got, err := s.SearchAudit(ctx, store.AuditQuery{Actor: "emp-1"})
	if err != nil || len(got) != 3 || got[0].Index != 2 || got[2].Index != 0 {
		t.Fatalf("SearchAudit = %v, %v; want records 2, 1, 0", got, err)
	}
}

// TestSearchIndexOfAnotherLogIsRebuilt checks that a search index which
// does not end with a record of the store's log (a database restored or
// replaced beside it) is emptied on open, for its consumer to rebuild.
func TestSearchIndexOfAnotherLogIsRebuilt(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "custos.db")
	s := openAt(t, path)
	recs := auditRecs(3)
	if _, err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexAudit(ctx, terms(recs...)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(DerivedPath(path)); err != nil {
		t.Fatalf("derived database file: %v", err)
	}

	// Reopened over the same log: kept.
	s = openAt(t, path)
	if n, err := s.AuditIndexed(ctx); err != nil || n != 3 {
		t.Fatalf("reopened: AuditIndexed = %d, %v; want 3", n, err)
	}
	s.Close()

	// A fresh database (a restore of an older backup) beside the index.
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(p)
	}
	s = openAt(t, path)
	defer s.Close()
	if n, err := s.AuditIndexed(ctx); err != nil || n != 0 {
		t.Fatalf("over another log: AuditIndexed = %d, %v; want 0 (rebuilt)", n, err)
	}
}
