package trace

import (
	"context"
	"fmt"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
)

// Counts reports whether an event is a read that access sets count: an
// allowed customer.read, customer.search or customer.export that names a
// customer (and, when the event says, found it).
func Counts(ev event.Event) bool {
	if ev.Decision != event.Allow || ev.Customer == "" || ev.Actor == "" {
		return false
	}
	if ev.Found != nil && !*ev.Found {
		return false
	}
	switch ev.Action {
	case event.ActionRead, event.ActionSearch, event.ActionExport:
		return true
	}
	return false
}

// AccessSets records, for each principal and each org, the customers it has
// ever read through custos, as compressed bitmaps (roaring) over a dense
// numbering of customer ids. Numbers are handed out in blocks of 65,536 per
// customer region, so that the customers one principal reads (mostly of one
// region) share few bitmap containers.
//
// AccessSets is safe for concurrent use. Add never waits for a running
// Trace: while readers hold the sets, additions queue and are applied by the
// next Add or read, so every read sees every Add that returned before it
// began.
type AccessSets struct {
	pendMu  sync.Mutex
	pending []access

	mu         sync.RWMutex
	dict       dict
	principals map[string]int // actor → index in pr
	pr         []*principalSet
	orgs       map[string]int // org → index in og
	og         []*orgSet
	// once holds customers read by exactly one principal, multi those read
	// by several; together, every customer anyone has read. orgOnce and
	// orgMulti are the same by org.
	once, multi       *roaring.Bitmap
	orgOnce, orgMulti *roaring.Bitmap
	pairs             uint64 // distinct (principal, customer) pairs
	applied           uint64 // audit index up to which events are applied
}

// access is one counted read, as queued.
type access struct {
	actor, org, customer, region string
	index                        uint64
	hasIndex                     bool
}

// principalSet is one principal's reads.
type principalSet struct {
	id  string
	org string // the org of the principal's latest read
	// moved is set once the principal has read under more than one org: its
	// reads are then not a subset of its org's.
	moved bool
	reads *roaring.Bitmap
}

// orgSet is the reads made by members of one org.
type orgSet struct {
	id    string
	reads *roaring.Bitmap
}

// NewAccessSets returns empty access sets.
func NewAccessSets() *AccessSets {
	return &AccessSets{
		dict:       newDict(),
		principals: map[string]int{},
		orgs:       map[string]int{},
		once:       roaring.New(),
		multi:      roaring.New(),
		orgOnce:    roaring.New(),
		orgMulti:   roaring.New(),
	}
}

// Add records ev if it is a counted read (see Counts) and ignores it
// otherwise.
func (s *AccessSets) Add(ev event.Event) {
	if !Counts(ev) {
		return
	}
	s.enqueue(access{actor: ev.Actor, org: ev.Org, customer: ev.Customer, region: ev.CustomerRegion})
}

// Apply is Add for the audit record at index: it also marks the sets as
// holding every event before index+1 (see Applied). Callers MUST apply
// records in index order, every one of them (Apply ignores events that are
// not counted reads), or a persisted snapshot would claim events it lacks.
func (s *AccessSets) Apply(index uint64, ev event.Event) {
	a := access{index: index, hasIndex: true}
	if Counts(ev) {
		a.actor, a.org, a.customer, a.region = ev.Actor, ev.Org, ev.Customer, ev.CustomerRegion
	}
	s.enqueue(a)
}

func (s *AccessSets) enqueue(a access) {
	s.pendMu.Lock()
	s.pending = append(s.pending, a)
	s.pendMu.Unlock()
	if s.mu.TryLock() {
		s.drainLocked()
		s.mu.Unlock()
	}
}

// drainLocked applies queued additions. The caller holds mu for writing.
func (s *AccessSets) drainLocked() {
	for {
		s.pendMu.Lock()
		batch := s.pending
		s.pending = nil
		s.pendMu.Unlock()
		if len(batch) == 0 {
			return
		}
		for _, a := range batch {
			if a.customer != "" {
				s.addLocked(a.actor, a.org, s.dict.number(a.customer, a.region))
			}
			if a.hasIndex && a.index+1 > s.applied {
				s.applied = a.index + 1
			}
		}
	}
}

// rlock drains queued additions, then takes the read lock. The caller
// MUST call s.mu.RUnlock.
func (s *AccessSets) rlock() {
	s.mu.Lock()
	s.drainLocked()
	s.mu.Unlock()
	s.mu.RLock()
}

// addLocked records that actor, in org, read customer number num.
func (s *AccessSets) addLocked(actor, org string, num uint32) {
	pi, ok := s.principals[actor]
	if !ok {
		pi = len(s.pr)
		s.principals[actor] = pi
		s.pr = append(s.pr, &principalSet{id: actor, org: org, reads: roaring.New()})
	}
	p := s.pr[pi]
	if p.org != org {
		if !p.reads.IsEmpty() {
			p.moved = true
		}
		p.org = org
	}
	oi, ok := s.orgs[org]
	if !ok {
		oi = len(s.og)
		s.orgs[org] = oi
		s.og = append(s.og, &orgSet{id: org, reads: roaring.New()})
	}
	if s.og[oi].reads.CheckedAdd(num) {
		countReader(s.orgOnce, s.orgMulti, num)
	}
	if p.reads.CheckedAdd(num) {
		s.pairs++
		countReader(s.once, s.multi, num)
	}
}

// countReader records one more reader of num: once holds numbers with one
// reader, multi those with several.
func countReader(once, multi *roaring.Bitmap, num uint32) {
	switch {
	case multi.Contains(num):
	case once.CheckedRemove(num):
		multi.Add(num)
	default:
		once.Add(num)
	}
}

// Applied returns the audit index up to which records have been applied
// with Apply or Update: every record with a smaller index is in the sets.
func (s *AccessSets) Applied() uint64 {
	s.rlock()
	defer s.mu.RUnlock()
	return s.applied
}

// Stats describes the sets' size.
type Stats struct {
	Principals int    `json:"principals"`
	Orgs       int    `json:"orgs"`
	Customers  int    `json:"customers"` // distinct customers anyone read
	Pairs      uint64 `json:"pairs"`     // distinct (principal, customer) reads
	Applied    uint64 `json:"applied"`
	Bytes      uint64 `json:"bytes"` // serialized size of the bitmaps
}

// Stats returns the sets' size.
func (s *AccessSets) Stats() Stats {
	s.rlock()
	defer s.mu.RUnlock()
	st := Stats{Principals: len(s.pr), Orgs: len(s.og), Customers: s.dict.len(), Pairs: s.pairs, Applied: s.applied}
	for _, p := range s.pr {
		st.Bytes += p.reads.GetSerializedSizeInBytes()
	}
	for _, o := range s.og {
		st.Bytes += o.reads.GetSerializedSizeInBytes()
	}
	return st
}

// Reads returns how many distinct customers actor has read.
func (s *AccessSets) Reads(actor string) int {
	s.rlock()
	defer s.mu.RUnlock()
	pi, ok := s.principals[actor]
	if !ok {
		return 0
	}
	return int(s.pr[pi].reads.GetCardinality())
}

// HasRead reports whether actor has read customer.
func (s *AccessSets) HasRead(actor, customer string) bool {
	s.rlock()
	defer s.mu.RUnlock()
	pi, ok := s.principals[actor]
	if !ok {
		return false
	}
	n, ok := s.dict.lookup(customer)
	return ok && s.pr[pi].reads.Contains(n)
}

// AuditReader is the part of a store.Store that Update reads.
type AuditReader = auditlog.AuditSource

// updateBatch is how many audit records Update reads at a time.
const updateBatch = 10000

// Update applies every audit record from Applied() to the end of the log
// (read from src through the audit feed), so that sets rebuilt from nothing
// (or loaded from an older snapshot) catch up. It returns the number of
// records applied. A record whose event does not parse counts no read.
func (s *AccessSets) Update(ctx context.Context, src AuditReader) (int, error) {
	c := auditlog.StoreFeed{Store: src}.Follow(ctx, s.Applied(), auditlog.FollowBatch(updateBatch))
	defer c.Close()
	n := 0
	for {
		recs, err := c.TryNext(ctx)
		if err != nil {
			return n, fmt.Errorf("update access sets: %w", err)
		}
		if len(recs) == 0 {
			return n, nil
		}
		for _, r := range recs {
			s.applyRecord(r)
			n++
		}
	}
}

// applyRecord applies one record from the audit feed. A record that is not
// an access event (audit verify judges the log's integrity) marks the
// position only.
func (s *AccessSets) applyRecord(r auditlog.Record) {
	if r.Event != nil {
		s.Apply(r.Index, *r.Event)
	} else {
		s.Apply(r.Index, event.Event{})
	}
}
