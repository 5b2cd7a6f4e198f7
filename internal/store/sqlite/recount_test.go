package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// TestQuotaRecountedFromAudit: quota rows lost in a crash (never flushed)
// are recounted from the audit log when the store opens again, so a
// restart cannot give anyone a fresh quota for reads already answered.
func TestQuotaRecountedFromAudit(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "custos.db")
	s := openAt(t, path)
	now := time.Now().UTC()
	var recs []store.AuditRecord
	for i, c := range []string{"c-1", "c-2", "c-2", "c-3"} {
		ev := event.Event{Time: now.Add(time.Duration(i) * time.Millisecond), Actor: "emp-1", Action: event.ActionRead, Customer: c, Decision: event.Allow}
		recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: c, Event: ev.Canonical(), Salt: []byte("salt")})
	}
	denied := event.Event{Time: now, Actor: "emp-1", Action: event.ActionRead, Customer: "c-9", Decision: event.Deny, Reason: "quota_exceeded"}
	recs = append(recs, store.AuditRecord{Time: now, Actor: "emp-1", Customer: "c-9", Event: denied.Canonical(), Salt: []byte("salt")})
	yesterday := event.Event{Time: now.AddDate(0, 0, -2), Actor: "emp-1", Action: event.ActionRead, Customer: "c-8", Decision: event.Allow}
	recs = append([]store.AuditRecord{{Time: yesterday.Time, Actor: "emp-1", Customer: "c-8", Event: yesterday.Canonical(), Salt: []byte("salt")}}, recs...)
	if _, err := s.AppendAudit(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: no ChargeQuota rows ever reached the table.
	s.Close()
	s = openAt(t, path)
	defer s.Close()
	_, day, err := s.QuotaUsage(ctx, "emp-1", now)
	if err != nil {
		t.Fatal(err)
	}
	if day != 3 {
		t.Fatalf("day count after recount = %d, want 3 (c-1, c-2, c-3)", day)
	}
	res, err := s.ChargeQuota(ctx, "emp-1", "c-4", now, store.QuotaLimits{PerDay: 3})
	if err != nil || res.Allowed {
		t.Fatalf("charge past the recounted limit: %+v, %v", res, err)
	}
}
