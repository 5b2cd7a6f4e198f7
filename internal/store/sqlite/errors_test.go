package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// TestFullDiskMidCommit fills the database (SQLite's max_page_count stands
// in for a full disk: the same SQLITE_FULL) in the middle of audit appends
// and checks that the failed append reports store.ErrUnavailable, leaves no
// record and no used index behind, and that once there is room the next
// append continues the log exactly where it was.
func TestFullDiskMidCommit(t *testing.T) {
	ctx := context.Background()
	s := openFull(t)
	rec := func(i int) store.AuditRecord {
		return store.AuditRecord{Time: time.Unix(int64(i), 0), Actor: "emp-1", Customer: fmt.Sprintf("c-%d", i),
			Event: bytes.Repeat([]byte{'e'}, 2000), Salt: make([]byte, 16)}
	}
	batch := func(from, n int) []store.AuditRecord {
		var b []store.AuditRecord
		for i := from; i < from+n; i++ {
			b = append(b, rec(i))
		}
		return b
	}
	if _, err := s.AppendAudit(ctx, batch(0, 10)); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.w.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages+2)); err != nil {
		t.Fatal(err)
	}
	_, err := s.AppendAudit(ctx, batch(10, 200))
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("append on a full database: %v, want store.ErrUnavailable", err)
	}
	if size, err := s.AuditSize(ctx); err != nil || size != 10 {
		t.Fatalf("size after the failed append: %d, %v; want 10", size, err)
	}
	if _, err := s.w.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`); err != nil {
		t.Fatal(err)
	}
	first, err := s.AppendAudit(ctx, batch(10, 200))
	if err != nil || first != 10 {
		t.Fatalf("append after freeing space: first %d, %v; want 10", first, err)
	}
	recs, err := s.AuditRange(ctx, 0, 1000)
	if err != nil || len(recs) != 210 {
		t.Fatalf("range: %d records, %v; want 210", len(recs), err)
	}
	for i, r := range recs {
		if r.Index != uint64(i) || r.Customer != fmt.Sprintf("c-%d", i) {
			t.Fatalf("record %d: index %d customer %s", i, r.Index, r.Customer)
		}
	}
}

// TestClassify checks which errors are marked store.ErrUnavailable.
func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"ENOSPC", fmt.Errorf("write: %w", syscall.ENOSPC), true},
		{"EIO", syscall.EIO, true},
		{"not found", store.ErrNotFound, false},
		{"canceled", context.Canceled, false},
		{"other", errors.New("syntax error"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := errors.Is(classify(tc.err), store.ErrUnavailable); got != tc.want {
				t.Errorf("classify(%v) unavailable = %v, want %v", tc.err, got, tc.want)
			}
			if !errors.Is(classify(tc.err), tc.err) {
				t.Errorf("classify(%v) lost the original error", tc.err)
			}
		})
	}
}
