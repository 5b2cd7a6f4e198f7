package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdTrace attributes a leaked list: who could have leaked it.
func cmdTrace(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "trace", "trace [--data DIR | --db URL] --leak F.csv [--json] [--suspects N]")
	var sf storeFlags
	sf.register(fs)
	leakPath := fs.String("leak", "", "leaked list `file` (CSV with a header naming any of id, phone, account, name)")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	suspects := fs.Int("suspects", trace.DefaultMaxSuspects, "list at most `N` suspects")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *leakPath == "" {
		fmt.Fprintln(env.Stderr, "custos trace: give the leaked list with --leak FILE.csv")
		return exitUsage
	}
	if *suspects < 0 {
		fmt.Fprintln(env.Stderr, "custos trace: --suspects must be at least 0")
		return exitUsage
	}
	f, err := os.Open(*leakPath)
	if err != nil {
		return fail(env, "trace", exitUsage, fmt.Errorf("cannot read leak file: %w", err))
	}
	leak, err := trace.ParseLeak(f)
	f.Close()
	if err != nil {
		return fail(env, "trace", exitUsage, fmt.Errorf("%s: %w", *leakPath, err))
	}
	if err := storeExists(sf); err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	lt, err := newLeakTracer(ctx, st, v, filepath.Join(sf.data, accessSetsFile))
	if err != nil {
		return fail(env, "trace", exitFail, err)
	}
	rep, err := lt.Trace(ctx, leak, trace.WithMaxSuspects(*suspects))
	if err != nil {
		return fail(env, "trace", exitFail, err)
	}
	if *asJSON {
		err = writeReportJSON(env.Stdout, rep)
	} else {
		err = rep.WriteText(env.Stdout)
	}
	if err != nil {
		return fail(env, "trace", exitFail, err)
	}
	return exitOK
}

// storeExists reports an error when --data names no existing embedded
// store, so that a mistyped directory is not silently created empty.
func storeExists(sf storeFlags) error {
	if sf.db != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(sf.data, "custos.db")); err != nil {
		return fmt.Errorf("no custos store in %s (give --data DIR or --db URL; custos import or serve creates one)", sf.data)
	}
	return nil
}

func writeReportJSON(w io.Writer, rep trace.Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// accessSetsFile is the access-sets snapshot in the data dir: a cache,
// rebuilt from the audit records whenever it is missing, damaged or not of
// this store.
const accessSetsFile = "access-sets.bin"

// snapshotHeader starts the snapshot file; then comes the anchor (SHA-256
// of the last applied audit record's event and salt, tying the snapshot to
// this store's log), then trace's own snapshot format.
const snapshotHeader = "custos access-sets cache v1\n"

// leakTracer traces leaks against a store: it keeps the access sets, brings
// them up to date with the audit records before each trace, and persists
// them. It implements httpapi.Tracer. Safe for concurrent use.
type leakTracer struct {
	st    store.Store
	v     *vault.Vault
	cache string // snapshot path; "" for none

	mu       sync.Mutex // guards what follows; serialises catch-up and saving
	sets     *trace.AccessSets
	loaded   bool      // the snapshot has been tried
	saved    uint64    // Applied() at the last save
	lastSave time.Time // when the snapshot was last written
}

// Snapshot policy for a long-running tracer: rewrite the snapshot when this
// many records were applied since the last write, or this long after it.
const (
	saveEveryRecords = 100_000
	saveEvery        = 10 * time.Minute
)

// newLeakTracer loads the snapshot at cache (if usable; "" for none),
// catches up with the audit records and saves the snapshot if it grew.
func newLeakTracer(ctx context.Context, st store.Store, v *vault.Vault, cache string) (*leakTracer, error) {
	t := openLeakTracer(st, v, cache)
	if err := t.catchUp(ctx, true); err != nil {
		return nil, err
	}
	return t, nil
}

// openLeakTracer returns a tracer that loads the snapshot at cache (if
// usable; "" for none) and catches up on first use.
func openLeakTracer(st store.Store, v *vault.Vault, cache string) *leakTracer {
	return &leakTracer{st: st, v: v, cache: cache, sets: trace.NewAccessSets()}
}

// attachTrace serves POST /v1/trace: the tracer loads the access-sets
// snapshot from the data dir and keeps the sets current in the background
// (at once, then every 30 seconds), so that a trace replays little.
func (a *app) attachTrace(ctx context.Context, v *vault.Vault) {
	t := openLeakTracer(a.store, v, filepath.Join(a.flags.data, accessSetsFile))
	a.api.Tracer = t
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Run(ctx, 30*time.Second)
	}()
	a.closers = append(a.closers, func() { a.cancel(); <-done })
}

// catchUp loads the snapshot on first use, applies the audit records
// appended since, and saves the snapshot: always if force and it grew, else
// by the snapshot policy.
func (t *leakTracer) catchUp(ctx context.Context, force bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.loaded {
		t.loaded = true
		if t.cache != "" {
			if sets, ok := loadAccessSets(ctx, t.st, t.cache); ok {
				t.sets, t.saved, t.lastSave = sets, sets.Applied(), time.Now()
			}
		}
	}
	if _, err := t.sets.Update(ctx, t.st); err != nil {
		return err
	}
	applied := t.sets.Applied()
	due := force || applied-t.saved >= saveEveryRecords || time.Since(t.lastSave) >= saveEvery
	if t.cache != "" && applied != t.saved && due {
		// The snapshot is a cache: failing to write it costs only time.
		if err := saveAccessSets(ctx, t.st, t.sets, t.cache); err == nil {
			t.saved = applied
		}
		t.lastSave = time.Now()
	}
	return nil
}

// Run keeps the sets current until ctx ends: it catches up at once, then
// every interval, so that a trace on a busy server need not replay much.
func (t *leakTracer) Run(ctx context.Context, every time.Duration) {
	_ = t.catchUp(ctx, false)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_ = t.catchUp(ctx, false)
		}
	}
}

// Trace catches up with the audit log and attributes leak.
func (t *leakTracer) Trace(ctx context.Context, leak trace.Leak, opts ...trace.Option) (trace.Report, error) {
	if err := t.catchUp(ctx, false); err != nil {
		return trace.Report{}, err
	}
	t.mu.Lock()
	sets := t.sets
	t.mu.Unlock()
	n, err := t.st.CustomerCount(ctx)
	if err != nil {
		return trace.Report{}, fmt.Errorf("trace: %w", err)
	}
	sr := &storeResolver{st: t.st, v: t.v}
	var r trace.Resolver = sr
	if lk, ok := t.st.(customerLookup); ok {
		r = batchStoreResolver{sr, lk}
	}
	isCanary := func(id string) bool { return sr.isCanary(ctx, id) }
	opts = append([]trace.Option{trace.WithUniverse(n)}, opts...)
	return trace.Trace(ctx, leak, r, sets, isCanary, opts...)
}

// TraceCSV implements httpapi.Tracer: it parses a leaked list and returns
// the trace.Report.
func (t *leakTracer) TraceCSV(ctx context.Context, csv []byte) (any, error) {
	leak, err := trace.ParseLeak(bytes.NewReader(csv))
	if err != nil {
		return nil, err
	}
	return t.Trace(ctx, leak)
}

// storeResolver resolves leaked rows through the store's blind indexes. It
// remembers which customers it saw are canaries.
type storeResolver struct {
	st     store.Store
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

func (r *storeResolver) ByPhone(ctx context.Context, phone string) (string, bool, error) {
	return r.found(r.st.CustomerByPhone(ctx, r.v.BlindIndex(vault.IndexPhone, phone)))
}

func (r *storeResolver) ByAccount(ctx context.Context, account string) (string, bool, error) {
	return r.found(r.st.CustomerByAccount(ctx, r.v.BlindIndex(vault.IndexAccount, account)))
}

func (r *storeResolver) ByName(ctx context.Context, name string) ([]string, error) {
	return r.st.CustomerIDsByName(ctx, r.v.BlindIndex(vault.IndexName, name))
}

// customerLookup is an optional store method that resolves many keys in one
// query, an order of magnitude cheaper than one query per leaked row. kind
// is "id", "phone" or "account"; keys are ids or blind indexes. For each
// key, in order, it returns the matching customer's id ("" if none) and
// whether that customer is a canary.
type customerLookup interface {
	LookupCustomers(ctx context.Context, kind string, keys [][]byte) (ids []string, canary []bool, err error)
}

// batchStoreResolver resolves through customerLookup.
type batchStoreResolver struct {
	*storeResolver
	lk customerLookup
}

func (b batchStoreResolver) ResolveBatch(ctx context.Context, column string, values []string) ([]string, error) {
	keys := make([][]byte, len(values))
	for i, v := range values {
		switch column {
		case trace.ColumnPhone:
			keys[i] = b.v.BlindIndex(vault.IndexPhone, v)
		case trace.ColumnAccount:
			keys[i] = b.v.BlindIndex(vault.IndexAccount, v)
		default:
			keys[i] = []byte(v)
		}
	}
	ids, canary, err := b.lk.LookupCustomers(ctx, column, keys)
	if err != nil {
		return nil, err
	}
	if len(ids) != len(keys) || len(canary) != len(keys) {
		return nil, fmt.Errorf("lookup customers: %d results for %d keys", len(ids), len(keys))
	}
	for i, id := range ids {
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

// anchorOf returns the anchor of the snapshot that has applied every audit
// record before applied.
func anchorOf(ctx context.Context, st store.Store, applied uint64) ([sha256.Size]byte, error) {
	var a [sha256.Size]byte
	if applied == 0 {
		return a, nil
	}
	recs, err := st.AuditRange(ctx, applied-1, applied)
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

// loadAccessSets reads the snapshot at path; ok is false when there is none
// or it is unusable: damaged, ahead of the store, or of another log.
func loadAccessSets(ctx context.Context, st store.Store, path string) (*trace.AccessSets, bool) {
	data, err := os.ReadFile(path)
	if err != nil || len(data) < len(snapshotHeader)+sha256.Size || string(data[:len(snapshotHeader)]) != snapshotHeader {
		return nil, false
	}
	anchor := data[len(snapshotHeader) : len(snapshotHeader)+sha256.Size]
	sets := trace.NewAccessSets()
	if _, err := sets.ReadFrom(bytes.NewReader(data[len(snapshotHeader)+sha256.Size:])); err != nil {
		return nil, false
	}
	size, err := st.AuditSize(ctx)
	if err != nil || sets.Applied() > size {
		return nil, false
	}
	want, err := anchorOf(ctx, st, sets.Applied())
	if err != nil || !bytes.Equal(want[:], anchor) {
		return nil, false
	}
	return sets, true
}

// saveAccessSets writes the snapshot to path atomically (a temporary file
// renamed over it), so that readers never see half a file.
func saveAccessSets(ctx context.Context, st store.Store, sets *trace.AccessSets, path string) error {
	data, err := sets.MarshalBinary()
	if err != nil {
		return err
	}
	// The caller holds leakTracer.mu, so nothing applies records between
	// MarshalBinary and Applied: the anchor matches the snapshot.
	anchor, err := anchorOf(ctx, st, sets.Applied())
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".access-sets-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(snapshotHeader); err == nil {
		if _, err = tmp.Write(anchor[:]); err == nil {
			_, err = tmp.Write(data)
		}
	}
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
