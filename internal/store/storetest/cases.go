package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testAuditSearch(t *testing.T, s store.Store) {
	ctx := t.Context()
	var recs []store.AuditRecord
	var terms []store.AuditTerms
	for i := range 30 {
		actor := fmt.Sprintf("emp-%d", i%3)
		recs = append(recs, store.AuditRecord{Time: base.Add(time.Duration(i) * time.Minute), Actor: actor,
			Customer: fmt.Sprintf("c-%d", i%5), Event: []byte(`{}`), Salt: []byte("salt")})
	}
	first, err := s.AppendAudit(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AuditIndexed(ctx); err != nil || n != 0 {
		t.Fatalf("AuditIndexed of an empty index = %d, %v; want 0", n, err)
	}
	for i, r := range recs {
		decision := "allow"
		if i%4 == 0 {
			decision = "deny"
		}
		terms = append(terms, store.AuditTerms{Index: first + uint64(i), Time: r.Time, Actor: r.Actor, Customer: r.Customer,
			Org: "dist-1", Site: fmt.Sprintf("store-%d", i%2), Action: "customer.read", Decision: decision})
	}
	// Indexing twice (a consumer restarted mid-batch) changes nothing.
	if err := s.IndexAudit(ctx, terms[:10]); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexAudit(ctx, terms); err != nil {
		t.Fatal(err)
	}
	if n, err := s.AuditIndexed(ctx); err != nil || n != first+30 {
		t.Fatalf("AuditIndexed = %d, %v; want %d", n, err, first+30)
	}
	match := func(q store.AuditQuery, tm store.AuditTerms) bool {
		return (q.Actor == "" || q.Actor == tm.Actor) && (q.Customer == "" || q.Customer == tm.Customer) &&
			(q.Site == "" || q.Site == tm.Site) && (q.Decision == "" || q.Decision == tm.Decision) &&
			(q.Since.IsZero() || !tm.Time.Before(q.Since)) && (q.Until.IsZero() || tm.Time.Before(q.Until))
	}
	for _, q := range []store.AuditQuery{
		{Actor: "emp-1"},
		{Customer: "c-2", Decision: "allow"},
		{Site: "store-1", Since: base.Add(5 * time.Minute), Until: base.Add(20 * time.Minute)},
		{Actor: "emp-0", Customer: "c-0"},
		{Actor: "nobody"},
	} {
		// Page through with a small limit: newest first, no overlap, no gap.
		var got []uint64
		q.Limit = 3
		for page := 0; page < 50; page++ {
			rs, err := s.SearchAudit(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				got = append(got, r.Index)
			}
			if len(rs) < q.Limit {
				break
			}
			q.Before = rs[len(rs)-1].Index
		}
		q.Before = 0
		var want []uint64
		for i := len(terms) - 1; i >= 0; i-- {
			if match(q, terms[i]) {
				want = append(want, terms[i].Index)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SearchAudit(%+v) paged = %v; want %v", q, got, want)
		}
	}
}

func testCases(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, err := s.Alert(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Alert(999) = %v; want ErrNotFound", err)
	}
	id, err := s.AddAlert(ctx, store.Alert{Actor: "emp-1", Time: base, Score: 0.9, Reasons: []string{"bulk"}, Kind: "bulk"})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := s.Alert(ctx, id); err != nil || a.Actor != "emp-1" || a.Kind != "bulk" {
		t.Fatalf("Alert(%d) = %+v, %v", id, a, err)
	}
	in := store.Case{AlertID: id, Person: "emp-1", Status: store.CaseOpen, From: base.Add(-time.Hour),
		CreatedBy: "sec-1", CreatedAt: base, UpdatedAt: base}
	c, created, err := s.CreateCase(ctx, in)
	if err != nil || !created || c.ID == 0 || c.Person != "emp-1" || !c.From.Equal(in.From) {
		t.Fatalf("CreateCase = %+v, %v, %v", c, created, err)
	}
	again, created, err := s.CreateCase(ctx, in)
	if err != nil || created || again.ID != c.ID {
		t.Fatalf("CreateCase for the same alert = %+v, %v, %v; want the first case", again, created, err)
	}
	c.Status, c.Assignee, c.UpdatedAt = store.CaseInvestigating, "sec-2", base.Add(time.Minute)
	if err := s.UpdateCase(ctx, c, &store.CaseNote{Time: base.Add(time.Minute), Author: "sec-1", Text: "first"}); err != nil {
		t.Fatal(err)
	}
	c.Status, c.Outcome, c.UpdatedAt = store.CaseClosed, store.OutcomeBenign, base.Add(2*time.Minute)
	if err := s.UpdateCase(ctx, c, &store.CaseNote{Time: base.Add(2 * time.Minute), Author: "sec-2", Text: "second"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Case(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != store.CaseClosed || got.Assignee != "sec-2" || got.Outcome != store.OutcomeBenign ||
		len(got.Notes) != 2 || got.Notes[0].Text != "first" || got.Notes[1].Author != "sec-2" || !got.UpdatedAt.Equal(c.UpdatedAt) {
		t.Errorf("Case = %+v", got)
	}
	if err := s.UpdateCase(ctx, store.Case{ID: 12345}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateCase of no case = %v; want ErrNotFound", err)
	}
	if _, err := s.Case(ctx, 12345); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Case(12345) = %v; want ErrNotFound", err)
	}
	cs, err := s.Cases(ctx, 10)
	if err != nil || len(cs) != 1 || cs[0].ID != c.ID || cs[0].Notes != nil {
		t.Errorf("Cases = %+v, %v", cs, err)
	}
}
