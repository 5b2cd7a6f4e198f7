package trace

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// Store is what a Tracer reads: the audit records (for the access sets)
// and the customers (to resolve a leaked list).
type Store interface {
	AuditReader
	Customer(ctx context.Context, id string) (store.Customer, error)
	CustomerByPhone(ctx context.Context, index []byte) (store.Customer, error)
	CustomerByAccount(ctx context.Context, index []byte) (store.Customer, error)
	CustomerIDsByName(ctx context.Context, index []byte) ([]string, error)
	CustomerCount(ctx context.Context) (int, error)
	// CustomersByIndex serves the phone and account lookups: a 64-bit
	// blind index can be shared, so the resolver opens the candidates
	// (vault.Vault.FindCustomer).
	store.Candidates
}

// CustomerLookup is an optional Store method that resolves many keys in one
// query, an order of magnitude cheaper than one query per leaked row. kind
// is "id", "phone" or "account"; keys are ids or blind indexes. For each
// key, in order, it returns the matching customer's id ("" if none),
// whether that customer is a canary, and whether several customers share
// the key (a collision of 64-bit blind indexes: the resolver then looks
// that value up again, opening the candidates).
type CustomerLookup interface {
	LookupCustomers(ctx context.Context, kind string, keys [][]byte) (ids []string, canary, shared []bool, err error)
}

// Snapshot policy for a long-running Tracer: rewrite the snapshot when this
// many records were applied since the last write, or this long after it.
const (
	saveEveryRecords = 100_000
	saveEvery        = 10 * time.Minute
)

// Tracer traces leaks against a store: it keeps the access sets, brings
// them up to date with the audit records before each trace, and persists
// them as a snapshot (see WriteSnapshot). Safe for concurrent use.
type Tracer struct {
	st    Store
	v     *vault.Vault
	cache string // snapshot path; "" for none

	mu       sync.Mutex // guards what follows; serialises applying and saving
	sets     *AccessSets
	loaded   bool      // the snapshot has been tried
	saved    uint64    // Applied() at the last save
	lastSave time.Time // when the snapshot was last written
}

// NewTracer returns a tracer over st that loads the snapshot at cache (if
// usable; "" for none) and catches up with the audit records on first use.
func NewTracer(st Store, v *vault.Vault, cache string) *Tracer {
	return &Tracer{st: st, v: v, cache: cache, sets: NewAccessSets()}
}

// CatchUp loads the snapshot on first use, applies the audit records
// appended since (from the store), and saves the snapshot if it grew:
// always when force, else by the snapshot policy.
func (t *Tracer) CatchUp(ctx context.Context, force bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.loadLocked(ctx)
	if _, err := t.sets.Update(ctx, t.st); err != nil {
		return err
	}
	t.maybeSaveLocked(ctx, force)
	return nil
}

func (t *Tracer) loadLocked(ctx context.Context) {
	if t.loaded {
		return
	}
	t.loaded = true
	if t.cache == "" {
		return
	}
	if sets, ok := loadSnapshot(ctx, t.st, t.cache); ok {
		t.sets, t.saved, t.lastSave = sets, sets.Applied(), time.Now()
	}
}

func (t *Tracer) maybeSaveLocked(ctx context.Context, force bool) {
	applied := t.sets.Applied()
	due := force || applied-t.saved >= saveEveryRecords || time.Since(t.lastSave) >= saveEvery
	if t.cache != "" && applied != t.saved && due {
		// The snapshot is a cache: failing to write it costs only time.
		if err := saveSnapshot(ctx, t.st, t.sets, t.cache); err == nil {
			t.saved = applied
		}
		t.lastSave = time.Now()
	}
}

// Follow keeps the sets current from the audit feed until ctx ends: it
// loads the snapshot, then applies every record the feed delivers from the
// sets' position on (consumer name "trace"), and saves the snapshot by the
// snapshot policy. It returns ctx's error, or the feed's on a gap.
func (t *Tracer) Follow(ctx context.Context, feed auditlog.Feed) error {
	t.mu.Lock()
	t.loadLocked(ctx)
	from := t.sets.Applied()
	t.mu.Unlock()
	c := feed.Follow(ctx, from, auditlog.FollowName("trace"), auditlog.FollowBatch(updateBatch))
	defer c.Close()
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		recs, err := c.Next(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// A gap may close (a record not yet visible); retry.
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		t.mu.Lock()
		applied := t.sets.Applied()
		for _, r := range recs {
			if r.Index < applied {
				continue // a trace caught up from the store meanwhile
			}
			t.sets.applyRecord(r)
		}
		select {
		case <-tick.C:
			t.maybeSaveLocked(ctx, false)
		default:
			if t.sets.Applied()-t.saved >= saveEveryRecords {
				t.maybeSaveLocked(ctx, false)
			}
		}
		t.mu.Unlock()
	}
}

// Trace catches up with the audit log and attributes leak.
func (t *Tracer) Trace(ctx context.Context, leak Leak, opts ...Option) (Report, error) {
	if err := t.CatchUp(ctx, false); err != nil {
		return Report{}, err
	}
	t.mu.Lock()
	sets := t.sets
	t.mu.Unlock()
	n, err := t.st.CustomerCount(ctx)
	if err != nil {
		return Report{}, fmt.Errorf("trace: %w", err)
	}
	sr := &storeResolver{st: t.st, v: t.v}
	var r Resolver = sr
	if lk, ok := t.st.(CustomerLookup); ok {
		r = batchStoreResolver{sr, lk}
	}
	isCanary := func(id string) bool { return sr.isCanary(ctx, id) }
	opts = append([]Option{WithUniverse(n)}, opts...)
	return Trace(ctx, leak, r, sets, isCanary, opts...)
}

// TraceCSV parses a leaked list (CSV) and traces it.
func (t *Tracer) TraceCSV(ctx context.Context, csv []byte) (Report, error) {
	leak, err := ParseLeak(bytes.NewReader(csv))
	if err != nil {
		return Report{}, err
	}
	return t.Trace(ctx, leak)
}

// storeResolver resolves leaked rows through the store's blind indexes. It
// remembers which customers it saw are canaries.
type storeResolver struct {
	st     Store
	v      *vault.Vault
	canary sync.Map // customer id → bool, for customers fetched whole
}

func (r *storeResolver) found(c store.Customer, err error) (string, bool, error) {
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	r.canary.Store(c.ID, c.Canary)
	return c.ID, true, nil
}

func (r *storeResolver) ByID(ctx context.Context, id string) (string, bool, error) {
	return r.found(r.st.Customer(ctx, id))
}

// ByPhone and ByAccount resolve through the current blind indexes,
// opening the candidates, and then through the former ones (which keep no
// value to open: a match there is the customer that once had the index).
func (r *storeResolver) ByPhone(ctx context.Context, phone string) (string, bool, error) {
	return r.byValue(ctx, vault.IndexPhone, phone)
}

func (r *storeResolver) ByAccount(ctx context.Context, account string) (string, bool, error) {
	return r.byValue(ctx, vault.IndexAccount, account)
}

func (r *storeResolver) byValue(ctx context.Context, kind, normalized string) (string, bool, error) {
	id, ok, err := r.found(r.v.FindCustomer(ctx, r.st, kind, normalized))
	if ok || err != nil {
		return id, ok, err
	}
	f, isF := r.st.(store.FormerIndexes)
	if !isF {
		return "", false, nil
	}
	ids, err := f.CustomerByFormer(ctx, kind, r.v.BlindIndex(kind, normalized))
	if err != nil || len(ids) == 0 {
		return "", false, err
	}
	return r.found(r.st.Customer(ctx, ids[0]))
}

func (r *storeResolver) ByName(ctx context.Context, name string) ([]string, error) {
	return r.st.CustomerIDsByName(ctx, r.v.BlindIndex(vault.IndexName, name))
}

// batchStoreResolver resolves through CustomerLookup.
type batchStoreResolver struct {
	*storeResolver
	lk CustomerLookup
}

func (b batchStoreResolver) ResolveBatch(ctx context.Context, column string, values []string) ([]string, error) {
	keys := make([][]byte, len(values))
	for i, v := range values {
		switch column {
		case ColumnPhone:
			keys[i] = b.v.BlindIndex(vault.IndexPhone, v)
		case ColumnAccount:
			keys[i] = b.v.BlindIndex(vault.IndexAccount, v)
		default:
			keys[i] = []byte(v)
		}
	}
	ids, canary, shared, err := b.lk.LookupCustomers(ctx, column, keys)
	if err != nil {
		return nil, err
	}
	if len(ids) != len(keys) || len(canary) != len(keys) || len(shared) != len(keys) {
		return nil, fmt.Errorf("lookup customers: %d results for %d keys", len(ids), len(keys))
	}
	for i, id := range ids {
		if shared[i] && (column == ColumnPhone || column == ColumnAccount) {
			// Several customers share this blind index: the one whose
			// opened value is the leaked one, if any.
			if id, _, err = b.byValue(ctx, column, values[i]); err != nil {
				return nil, err
			}
			ids[i] = id
			continue
		}
		if id != "" {
			b.canary.Store(id, canary[i])
		}
	}
	return ids, nil
}

// isCanary reports whether a matched customer is a canary, fetching it if
// it was matched by name only.
func (r *storeResolver) isCanary(ctx context.Context, id string) bool {
	if c, ok := r.canary.Load(id); ok {
		return c.(bool)
	}
	c, err := r.st.Customer(ctx, id)
	return err == nil && c.Canary
}

// SnapshotHeader starts a snapshot file; then comes the anchor (SHA-256 of
// the last applied audit record's event and salt, tying the snapshot to one
// store's log), then the access sets (AccessSets.WriteTo).
const SnapshotHeader = "custos access-sets cache v1\n"

// WriteSnapshot writes sets with their anchor (see SnapshotHeader).
func WriteSnapshot(w io.Writer, anchor [sha256.Size]byte, sets *AccessSets) error {
	data, err := sets.MarshalBinary()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, SnapshotHeader); err != nil {
		return err
	}
	if _, err := w.Write(anchor[:]); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// ReadSnapshot parses a snapshot written by WriteSnapshot. Damaged input
// is an error wrapping ErrBadSnapshot, never a panic (FuzzSnapshot).
func ReadSnapshot(data []byte) (anchor [sha256.Size]byte, sets *AccessSets, err error) {
	if len(data) < len(SnapshotHeader)+sha256.Size || string(data[:len(SnapshotHeader)]) != SnapshotHeader {
		return anchor, nil, fmt.Errorf("%w: no header", ErrBadSnapshot)
	}
	copy(anchor[:], data[len(SnapshotHeader):])
	sets = NewAccessSets()
	if err := sets.UnmarshalBinary(data[len(SnapshotHeader)+sha256.Size:]); err != nil {
		if !errors.Is(err, ErrBadSnapshot) {
			err = fmt.Errorf("%w: %v", ErrBadSnapshot, err)
		}
		return anchor, nil, err
	}
	return anchor, sets, nil
}

// AnchorOf returns the anchor of a snapshot that has applied every audit
// record before applied: SHA-256 of record applied-1's event and salt, or
// zeros when applied is 0.
func AnchorOf(ctx context.Context, src AuditReader, applied uint64) ([sha256.Size]byte, error) {
	var a [sha256.Size]byte
	if applied == 0 {
		return a, nil
	}
	recs, err := src.AuditRange(ctx, applied-1, applied)
	if err != nil {
		return a, err
	}
	if len(recs) != 1 {
		return a, fmt.Errorf("audit record %d missing", applied-1)
	}
	h := sha256.New()
	h.Write(recs[0].Event)
	h.Write(recs[0].Salt)
	copy(a[:], h.Sum(nil))
	return a, nil
}

// loadSnapshot reads the snapshot at path; ok is false when there is none
// or it is unusable: damaged, ahead of the store, or of another log.
func loadSnapshot(ctx context.Context, src AuditReader, path string) (*AccessSets, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	anchor, sets, err := ReadSnapshot(data)
	if err != nil {
		return nil, false
	}
	size, err := src.AuditSize(ctx)
	if err != nil || sets.Applied() > size {
		return nil, false
	}
	want, err := AnchorOf(ctx, src, sets.Applied())
	if err != nil || want != anchor {
		return nil, false
	}
	return sets, true
}

// saveSnapshot writes the snapshot to path atomically (a temporary file
// renamed over it), so that readers never see half a file. The caller
// MUST keep records from being applied meanwhile (Tracer.mu), so that the
// anchor matches the sets.
func saveSnapshot(ctx context.Context, src AuditReader, sets *AccessSets, path string) error {
	anchor, err := AnchorOf(ctx, src, sets.Applied())
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".access-sets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = WriteSnapshot(tmp, anchor, sets)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
