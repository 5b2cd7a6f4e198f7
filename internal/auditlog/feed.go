package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// The audit feed: one way for every consumer of the audit records (the
// detectors, the trace access sets, SIEM export) to follow them.
//
// A Cursor delivers the committed records from a starting index on, in
// index order, each exactly once per cursor, with no gaps: a missing index
// is an error (ErrGap), never skipped. Records committed by this process
// come in memory from the committer, already parsed; everything else is read
// from the store (AuditRange): the catch-up from the starting index, records
// dropped because the cursor fell too far behind (its buffer overflowed),
// and, with several gateways on one PostgreSQL database, records the others
// commit, found by polling the store's size every poll interval (local
// commits wake a cursor at once).
//
// Each record is parsed once (event.Parse): the same *event.Event goes to
// every cursor, so consumers MUST NOT modify it.

// ErrGap means the store lacks a record the feed must deliver (it was not
// visible yet, or records were deleted). The cursor stays where it was; a
// later Next tries again.
var ErrGap = errors.New("audit feed: record missing")

// ErrCursorClosed is returned by Next after Close or after the context
// given to Follow ended.
var ErrCursorClosed = errors.New("audit feed: cursor closed")

// Defaults for Follow.
const (
	DefaultFollowBatch  = 4096
	DefaultFollowBuffer = 1 << 16
)

// Record is one committed audit record as the feed delivers it.
type Record struct {
	store.AuditRecord
	// Event is the record's event, parsed once and shared by every
	// consumer: it MUST NOT be modified. Nil when the record's bytes are
	// not an access event (Err says why); such a record still takes its
	// place in the index order.
	Event *event.Event
	// Err is event.Parse's error for the record, or nil.
	Err error
}

// newRecord parses rec.
func newRecord(rec store.AuditRecord) Record {
	r := Record{AuditRecord: rec}
	if ev, err := event.Parse(rec.Event); err != nil {
		r.Err = err
	} else {
		r.Event = &ev
	}
	return r
}

// AuditSource is the part of a store that the feed reads.
type AuditSource interface {
	AuditSize(ctx context.Context) (uint64, error)
	AuditRange(ctx context.Context, from, to uint64) ([]store.AuditRecord, error)
}

// Feed starts cursors. *Log (in-process records plus the store) and
// StoreFeed (the store alone, for tools and tests) implement it.
type Feed interface {
	Follow(ctx context.Context, from uint64, opts ...FollowOption) *Cursor
}

// FollowOption configures a Cursor.
type FollowOption func(*Cursor)

// FollowName names the consumer: its lag is exported as
// custos_feed_lag_records{consumer=name} (the Log's metrics only).
func FollowName(name string) FollowOption { return func(c *Cursor) { c.name = name } }

// FollowBatch bounds the records one Next returns; DefaultFollowBatch if
// n <= 0.
func FollowBatch(n int) FollowOption {
	return func(c *Cursor) {
		if n > 0 {
			c.batch = n
		}
	}
}

// FollowPoll sets how often the cursor, when idle, looks in the store for
// records committed by other processes (the Log's PollInterval by default;
// a StoreFeed's Poll).
func FollowPoll(d time.Duration) FollowOption {
	return func(c *Cursor) {
		if d > 0 {
			c.poll = d
		}
	}
}

// Follow returns a cursor that delivers every record with index >= from,
// in order: first those already committed (from the store), then each new
// one as it commits (in memory), and those other gateways commit to a shared
// store (polled). The cursor is closed when ctx ends or by Close; the caller
// MUST close it (or end ctx) before closing the store. A cursor outlives the
// Log's Close as a reader of the store only.
func (l *Log) Follow(ctx context.Context, from uint64, opts ...FollowOption) *Cursor {
	c := newCursor(l.st, &l.hub, from, l.opts.PollInterval, opts)
	l.hub.add(c)
	c.stop = context.AfterFunc(ctx, c.Close)
	return c
}

// StoreFeed follows the audit records in a store by polling it, for
// processes that do not append (the trace command) and for tests.
type StoreFeed struct {
	Store AuditSource
	// Poll is how often an idle cursor looks for new records;
	// DefaultPollInterval if zero.
	Poll time.Duration
}

// Follow implements Feed: like Log.Follow, with every record read from the
// store.
func (f StoreFeed) Follow(ctx context.Context, from uint64, opts ...FollowOption) *Cursor {
	poll := f.Poll
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	c := newCursor(f.Store, nil, from, poll, opts)
	c.stop = context.AfterFunc(ctx, c.Close)
	return c
}

// Cursor follows the audit records. Next is for one goroutine at a time;
// Pos, Lag and Close are safe for concurrent use.
type Cursor struct {
	src   AuditSource
	hub   *hub // nil for a store-only cursor
	name  string
	batch int
	poll  time.Duration
	stop  func() bool

	next     atomic.Uint64 // the index Next delivers next
	seen     atomic.Uint64 // the largest store size this cursor has seen
	asked    atomic.Int64  // when the store was last asked its size (unix ns)
	wake     chan struct{} // cap 1: records were pushed or the cursor closed
	done     chan struct{} // closed by Close
	doneOnce sync.Once

	mu       sync.Mutex
	buf      []Record // pushed records, ascending, consecutive runs
	bufLimit int
}

func newCursor(src AuditSource, h *hub, from uint64, poll time.Duration, opts []FollowOption) *Cursor {
	c := &Cursor{src: src, hub: h, batch: DefaultFollowBatch, poll: poll, bufLimit: DefaultFollowBuffer,
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	for _, o := range opts {
		o(c)
	}
	c.next.Store(from)
	return c
}

// Pos returns the index of the next record Next will deliver: every record
// before it has been delivered.
func (c *Cursor) Pos() uint64 { return c.next.Load() }

// Lag returns how many records known to be committed Next has not yet
// delivered.
func (c *Cursor) Lag() uint64 {
	size := c.seen.Load()
	if c.hub != nil {
		size = max(size, c.hub.size.Load())
	}
	return size - min(size, c.next.Load())
}

// Close stops the cursor: a blocked Next returns ErrCursorClosed. It is safe
// to call more than once.
func (c *Cursor) Close() {
	c.doneOnce.Do(func() {
		close(c.done)
		if c.stop != nil {
			c.stop()
		}
		if c.hub != nil {
			c.hub.remove(c)
		}
		c.mu.Lock()
		c.buf = nil
		c.mu.Unlock()
	})
}

// Next blocks until at least one record at Pos is committed and returns the
// records from Pos on (at most the cursor's batch, consecutive, ascending),
// advancing Pos past them. On an error (ErrGap, a store error) Pos does not
// move and Next may be called again. It returns ErrCursorClosed after Close,
// and ctx's error when ctx ends.
func (c *Cursor) Next(ctx context.Context) ([]Record, error) {
	// The first look asks the store unless the committer feeds this
	// cursor and the store was asked within the poll interval: a consumer
	// that keeps up calls Next once per group commit, and a size query
	// each time would compete with the commits it follows.
	check := c.hub == nil || time.Since(time.Unix(0, c.asked.Load())) >= c.poll
	var t *time.Timer
	for {
		recs, err := c.tryNext(ctx, check)
		if err != nil || len(recs) > 0 {
			if t != nil {
				t.Stop()
			}
			return recs, err
		}
		check = false
		if t == nil {
			t = time.NewTimer(c.poll)
			defer t.Stop()
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.done:
			return nil, ErrCursorClosed
		case <-c.wake:
		case <-t.C:
			t.Reset(c.poll)
			check = true // look in the store for other gateways' records
		}
	}
}

// TryNext is Next without waiting: it returns no records when the cursor
// has delivered every record the store holds.
func (c *Cursor) TryNext(ctx context.Context) ([]Record, error) {
	return c.tryNext(ctx, true)
}

// tryNext delivers what is buffered or known to be committed; with check
// it also asks the store for its size.
func (c *Cursor) tryNext(ctx context.Context, check bool) ([]Record, error) {
	select {
	case <-c.done:
		return nil, ErrCursorClosed
	default:
	}
	next := c.next.Load()
	recs, to := c.take(next)
	if len(recs) > 0 {
		c.next.Store(next + uint64(len(recs)))
		return recs, nil
	}
	if to == 0 {
		// Records committed (here or seen in the store) but not buffered:
		// the catch-up, or what an overflowing buffer dropped.
		known := c.seen.Load()
		if c.hub != nil {
			known = max(known, c.hub.size.Load())
		}
		if known > next {
			to = known
		}
	}
	if to == 0 && check {
		c.asked.Store(time.Now().UnixNano())
		size, err := c.src.AuditSize(ctx)
		if err != nil {
			return nil, fmt.Errorf("audit feed: store size: %w", err)
		}
		c.observe(size)
		if size > next {
			to = size
		}
	}
	if to <= next {
		return nil, nil
	}
	return c.read(ctx, next, min(to, next+uint64(c.batch)))
}

// observe records that the store holds at least size records.
func (c *Cursor) observe(size uint64) {
	for {
		old := c.seen.Load()
		if size <= old || c.seen.CompareAndSwap(old, size) {
			break
		}
	}
	if c.hub != nil {
		c.hub.observe(size)
	}
}

// read delivers records [from, to) from the store.
func (c *Cursor) read(ctx context.Context, from, to uint64) ([]Record, error) {
	srecs, err := c.src.AuditRange(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("audit feed: read records [%d, %d): %w", from, to, err)
	}
	// Deliver the consecutive prefix; a missing record ends it, and is an
	// error when it comes first.
	k := 0
	for k < len(srecs) && srecs[k].Index == from+uint64(k) {
		k++
	}
	if k == 0 {
		return nil, fmt.Errorf("audit feed: record %d: %w", from, ErrGap)
	}
	srecs = srecs[:k]
	recs := make([]Record, len(srecs))
	for i, r := range srecs {
		recs[i] = newRecord(r)
	}
	c.observe(from + uint64(len(recs)))
	c.next.Store(from + uint64(len(recs)))
	return recs, nil
}

// take returns buffered records starting exactly at next (at most batch),
// dropping older ones. If the buffer starts after next it returns the first
// buffered index (the end of the gap to read from the store), else 0.
func (c *Cursor) take(next uint64) ([]Record, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	for i < len(c.buf) && c.buf[i].Index < next {
		i++
	}
	c.buf = c.buf[i:]
	if len(c.buf) == 0 {
		c.buf = nil
		return nil, 0
	}
	if c.buf[0].Index != next {
		return nil, c.buf[0].Index
	}
	k := 0
	for k < len(c.buf) && k < c.batch && c.buf[k].Index == next+uint64(k) {
		k++
	}
	out := make([]Record, k)
	copy(out, c.buf[:k])
	c.buf = c.buf[k:]
	return out, 0
}

// push buffers records the committer just committed. Beyond the buffer's
// limit they are dropped; TryNext then reads them from the store.
func (c *Cursor) push(recs []Record) {
	c.mu.Lock()
	if len(c.buf)+len(recs) <= c.bufLimit {
		c.buf = append(c.buf, recs...)
	}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// hub hands the committer's records to the Log's cursors.
type hub struct {
	size atomic.Uint64 // the largest store size known: local commits, polls

	mu   sync.Mutex
	subs map[*Cursor]struct{}
}

func (h *hub) add(c *Cursor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = map[*Cursor]struct{}{}
	}
	h.subs[c] = struct{}{}
}

func (h *hub) remove(c *Cursor) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, c)
}

func (h *hub) observe(size uint64) {
	for {
		old := h.size.Load()
		if size <= old || h.size.CompareAndSwap(old, size) {
			return
		}
	}
}

// publish hands recs (consecutive, just committed, ending at end) to every
// cursor.
func (h *hub) publish(recs []Record, end uint64) {
	h.observe(end)
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		c.push(recs)
	}
}

// lagCollector exports custos_feed_lag_records per named consumer (the
// largest lag among cursors of one name).
type lagCollector struct {
	h    *hub
	desc *prometheus.Desc
}

func newLagCollector(h *hub) *lagCollector {
	return &lagCollector{h: h, desc: prometheus.NewDesc("custos_feed_lag_records",
		"Committed audit records not yet delivered to a consumer of the audit feed.", []string{"consumer"}, nil)}
}

// Describe implements prometheus.Collector.
func (lc *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- lc.desc }

// Collect implements prometheus.Collector.
func (lc *lagCollector) Collect(ch chan<- prometheus.Metric) {
	lags := map[string]uint64{}
	lc.h.mu.Lock()
	for c := range lc.h.subs {
		if c.name != "" {
			lags[c.name] = max(lags[c.name], c.Lag())
		}
	}
	lc.h.mu.Unlock()
	for name, lag := range lags {
		ch <- prometheus.MustNewConstMetric(lc.desc, prometheus.GaugeValue, float64(lag), name)
	}
}
