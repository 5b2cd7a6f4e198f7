package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func auditRec(actor, customer string, i int) store.AuditRecord {
	return store.AuditRecord{
		Time:     base.Add(time.Duration(i) * time.Millisecond),
		Actor:    actor,
		Customer: customer,
		Event:    []byte(fmt.Sprintf(`{"actor":%q,"customer":%q,"n":%d}`, actor, customer, i)),
		Salt:     []byte(fmt.Sprintf("salt-%s-%d", actor, i)),
	}
}

func testAuditAppendAndRead(t *testing.T, s store.Store) {
	ctx := t.Context()
	if n, err := s.AuditSize(ctx); err != nil || n != 0 {
		t.Fatalf("AuditSize of an empty store = %d, %v; want 0", n, err)
	}
	var all []store.AuditRecord
	batches := [][]store.AuditRecord{
		{auditRec("emp-1", "c-1", 0)},
		{auditRec("emp-2", "c-1", 1), auditRec("emp-1", "c-2", 2), auditRec("emp-2", "c-3", 3)},
		{auditRec("emp-1", "c-1", 4), auditRec("emp-1", "", 5)},
	}
	for _, b := range batches {
		first, err := s.AppendAudit(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if first != uint64(len(all)) {
			t.Errorf("AppendAudit first = %d, want %d", first, len(all))
		}
		for i, r := range b {
			r.Index = first + uint64(i)
			all = append(all, r)
		}
	}
	if n, err := s.AuditSize(ctx); err != nil || n != uint64(len(all)) {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, len(all))
	}
	check := func(name string, got []store.AuditRecord, err error, want []store.AuditRecord) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", name, err)
			return
		}
		if !slices.EqualFunc(got, want, equalAudit) {
			t.Errorf("%s = %+v\nwant %+v", name, got, want)
		}
	}
	filter := func(keep func(r store.AuditRecord) bool) []store.AuditRecord {
		var out []store.AuditRecord
		for _, r := range all {
			if keep(r) {
				out = append(out, r)
			}
		}
		return out
	}
	tests := []struct {
		name     string
		from, to uint64
		want     []store.AuditRecord
	}{
		{"all", 0, uint64(len(all)), all},
		{"middle", 1, 4, all[1:4]},
		{"to past the end", 4, 100, all[4:]},
		{"empty", 3, 3, nil},
		{"past the end", 6, 10, nil},
		{"to the largest index", 2, math.MaxUint64, all[2:]},
		{"from the largest index", math.MaxUint64, math.MaxUint64, nil},
	}
	for _, tc := range tests {
		got, err := s.AuditRange(ctx, tc.from, tc.to)
		check(fmt.Sprintf("AuditRange(%d, %d) %s", tc.from, tc.to, tc.name), got, err, tc.want)
	}
	// The lookups by customer and actor are complete whether the audit
	// search index holds none, some or all of the records (a store may
	// answer them through it).
	for _, indexed := range []int{0, 3, len(all)} {
		var terms []store.AuditTerms
		for _, r := range all[:indexed] {
			terms = append(terms, store.AuditTerms{Index: r.Index, Time: r.Time, Actor: r.Actor, Customer: r.Customer})
		}
		if err := s.IndexAudit(ctx, terms); err != nil {
			t.Fatal(err)
		}
		at := fmt.Sprintf(" with %d indexed", indexed)
		got, err := s.AuditByCustomer(ctx, "c-1")
		check("AuditByCustomer(c-1)"+at, got, err, filter(func(r store.AuditRecord) bool { return r.Customer == "c-1" }))
		got, err = s.AuditByCustomer(ctx, "c-none")
		check("AuditByCustomer(c-none)"+at, got, err, nil)
		got, err = s.AuditByActor(ctx, "emp-1", 0)
		check("AuditByActor(emp-1, 0)"+at, got, err, filter(func(r store.AuditRecord) bool { return r.Actor == "emp-1" }))
		got, err = s.AuditByActor(ctx, "emp-1", 2)
		check("AuditByActor(emp-1, 2)"+at, got, err, filter(func(r store.AuditRecord) bool { return r.Actor == "emp-1" && r.Index >= 2 }))
		got, err = s.AuditByActor(ctx, "emp-2", 4)
		check("AuditByActor(emp-2, 4)"+at, got, err, nil)
		got, err = s.AuditByActor(ctx, "emp-1", math.MaxUint64)
		check("AuditByActor(emp-1, MaxUint64)"+at, got, err, nil)
	}
}

func testAuditConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	const writers, appends = 8, 20
	spans := make([][]Span, writers)
	errs := make([]error, writers)
	parallel(writers, func(w int) {
		actor := fmt.Sprintf("emp-%d", w)
		for a := range appends {
			var recs []store.AuditRecord
			for k := range 1 + (w+a)%3 {
				recs = append(recs, auditRec(actor, fmt.Sprintf("c-%d", a), a*10+k))
			}
			first, err := s.AppendAudit(ctx, recs)
			if err != nil {
				errs[w] = err
				return
			}
			spans[w] = append(spans[w], Span{first, recs})
		}
	})
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	var all []Span
	for _, ss := range spans {
		// Each writer's appends are ordered: later calls get later indexes.
		for i := 1; i < len(ss); i++ {
			if ss[i].First <= ss[i-1].First {
				t.Errorf("a writer's later append got index %d after %d", ss[i].First, ss[i-1].First)
			}
		}
		all = append(all, ss...)
	}
	want := Tile(t, all)
	next := uint64(len(want))
	if n, err := s.AuditSize(ctx); err != nil || n != next {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, next)
	}
	got, err := s.AuditRange(ctx, 0, next)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, equalAudit) {
		t.Errorf("AuditRange does not hold the appended records at their acknowledged indexes")
	}
}

func testCheckpoints(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.LatestCheckpoint(ctx)
	wantErr(t, "LatestCheckpoint of an empty store", err, store.ErrNotFound)
	if cs, err := s.Checkpoints(ctx); err != nil || len(cs) != 0 {
		t.Errorf("Checkpoints of an empty store = %v, %v; want none", cs, err)
	}
	var want []store.Checkpoint
	for i, size := range []uint64{1, 7, 7, 30} {
		c := store.Checkpoint{Size: size, Note: []byte(fmt.Sprintf("custos.example/log\n%d\nhash%d\n\n— sig\n", size, i)), Time: base.Add(time.Duration(i) * time.Second)}
		if err := s.AddCheckpoint(ctx, c); err != nil {
			t.Fatal(err)
		}
		want = append(want, c)
		latest, err := s.LatestCheckpoint(ctx)
		if err != nil || latest.Size != c.Size || !bytes.Equal(latest.Note, c.Note) || !latest.Time.Equal(c.Time) {
			t.Errorf("LatestCheckpoint = %+v, %v; want %+v", latest, err, c)
		}
	}
	got, err := s.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.EqualFunc(got, want, func(a, b store.Checkpoint) bool {
		return a.Size == b.Size && bytes.Equal(a.Note, b.Note) && a.Time.Equal(b.Time)
	}) {
		t.Errorf("Checkpoints = %+v, want %+v (in the order added)", got, want)
	}
}

// Span is what one AppendAudit acknowledged: First is the index it gave
// the first of Recs.
type Span struct {
	First uint64
	Recs  []store.AuditRecord
}

// Tile checks that spans, in any order, tile the indexes 0..n-1 without
// gap or overlap, and returns their records in index order, each with the
// Index it was acknowledged at.
func Tile(t testing.TB, spans []Span) []store.AuditRecord {
	t.Helper()
	spans = slices.Clone(spans)
	sort.Slice(spans, func(i, j int) bool { return spans[i].First < spans[j].First })
	var want []store.AuditRecord
	for _, sp := range spans {
		if sp.First != uint64(len(want)) {
			t.Fatalf("append acknowledged at %d, want %d (gap or overlap)", sp.First, len(want))
		}
		for i, r := range sp.Recs {
			r.Index = sp.First + uint64(i)
			want = append(want, r)
		}
	}
	return want
}
