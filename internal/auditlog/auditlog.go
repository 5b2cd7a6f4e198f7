// Package auditlog is custos's tamper-evident audit log.
//
// Every access decision is appended as a record to the store's audit table
// (the durable point) and then integrated into a C2SP tlog-tiles Merkle log
// kept by tessera's POSIX driver in <Dir>/log, with Ed25519-signed
// checkpoints. The public log holds no personal data: entry i is
// Leaf(salt_i, event_i), a version byte and SHA-256 over the record's random
// salt and the event's canonical bytes with its actor replaced by a salted
// commitment (see leaf.go); event and salts stay in the store.
//
// Life of an entry:
//
//  1. Append queues the event. One committer goroutine takes everything
//     queued (up to Options.MaxBatch) and writes it to the store in one
//     transaction (group commit), which fixes each record's index. Append
//     returns only after that commit: an acknowledged index survives a
//     crash (kill -9, and power loss as far as the store's fsync holds).
//  2. One integrator goroutine feeds committed records, in index order, to
//     tessera, so that the tessera index of every entry equals its store
//     index; it checks this for every entry. After a crash it resumes at
//     tessera's integrated size and re-reads the rest from the store;
//     entries are deterministic, so re-adding is safe.
//  3. tessera integrates the entries into tiles and publishes a signed
//     checkpoint. Every checkpoint is saved in the store before it is
//     published, so that Verify can check all of them later.
//
// Consumers of the records (detectors, trace access sets, SIEM export)
// follow them with Follow (see feed.go): the committer hands each commit,
// parsed once, to every cursor in memory; the store fills in the rest. The
// integrator is one of those consumers, with a cursor of its own, so a slow
// consumer never holds up publication.
//
// The time from step 1 to a checkpoint covering the entry is the publication
// lag, exported as a Prometheus gauge (custos_audit_publish_lag_seconds);
// it is bounded by about Options.BatchMaxAge + Options.CheckpointInterval
// plus the integration time (see docs/AUDITLOG.md for measurements).
//
// Shutdown order: Close stops accepting appends, lets the committer commit
// what is queued, lets the integrator integrate everything committed, waits
// for tessera to publish a checkpoint covering it, and then stops tessera.
// The caller closes the store after Close returns.
//
// Only one process may append to a given log directory.
package auditlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// Sentinel errors.
var (
	// ErrClosed is returned by Append after Close.
	ErrClosed = errors.New("audit log closed")
	// ErrPending means the entry is committed but no published checkpoint
	// covers it yet; retry after a second (HTTP: 503 with Retry-After).
	ErrPending = errors.New("audit entry not yet in a published checkpoint")
	// ErrNoKey means the data directory has no signing key.
	ErrNoKey = errors.New("no audit log signing key")
	// ErrInconsistent means the tiled log and the store disagree in a way
	// that integration cannot repair (e.g. the log is ahead of the store).
	ErrInconsistent = errors.New("audit log inconsistent with store")
	// ErrTampered is wrapped by the error Verify returns when a check fails.
	ErrTampered = errors.New("audit log verification failed")
	// ErrLocked means another process has the log open (Open and
	// RotateKey take an exclusive lock on the data directory).
	ErrLocked = errors.New("audit log in use by another process")
)

// Defaults for Options.
const (
	DefaultMaxBatch           = 1024
	DefaultGatherWait         = 500 * time.Microsecond
	DefaultIntegrateBatch     = 4096
	DefaultBatchMaxAge        = 100 * time.Millisecond
	DefaultCheckpointInterval = 150 * time.Millisecond
	DefaultPendingWait        = time.Second
	DefaultPollInterval       = time.Second
	DefaultExportInterval     = time.Minute
)

// metaVerifierKey is the store Meta key under which the log's verifier key
// is recorded at first start; Open and Verify refuse a different key.
const metaVerifierKey = "audit.verifier_key"

// LogDir is the name, inside the data directory, of the tiled log.
const LogDir = "log"

// Options configure Open. Store and Dir are required.
type Options struct {
	// Store keeps the audit records and checkpoints. Required. The caller
	// closes it after Log.Close.
	Store store.Store
	// Dir is the data directory: the log goes to Dir/log, the signing key
	// to Dir/log-signing.key (created at first start, mode 0600). Required.
	Dir string
	// Origin names the log (checkpoint origin and key name) when a new
	// key is created; DefaultOrigin if empty. An existing key keeps its
	// name.
	Origin string
	// Logger receives operational messages (never event contents or keys).
	// Optional; nothing is logged if nil.
	Logger *slog.Logger
	// Registerer, if set, receives the log's Prometheus metrics.
	Registerer prometheus.Registerer
	// MaxBatch is the most records committed in one store transaction;
	// DefaultMaxBatch if zero.
	MaxBatch int
	// GatherWait is the longest the committer waits for more appends to
	// join a batch while other Append calls are in flight;
	// DefaultGatherWait if zero, no waiting if negative.
	GatherWait time.Duration
	// IntegrateBatch is the most entries handed to tessera at once (its
	// batch size); DefaultIntegrateBatch if zero.
	IntegrateBatch int
	// BatchMaxAge is tessera's batching delay; DefaultBatchMaxAge if zero.
	BatchMaxAge time.Duration
	// CheckpointInterval is how often tessera may publish a checkpoint
	// (at least 100ms); DefaultCheckpointInterval if zero.
	CheckpointInterval time.Duration
	// PendingWait is how long Entry and ByCustomer wait for a checkpoint
	// to cover a fresh entry before giving up with ErrPending;
	// DefaultPendingWait if zero.
	PendingWait time.Duration
	// WitnessPolicy, if set, has every checkpoint cosigned by witnesses
	// (C2SP tlog-witness) before it is published; it is a tessera witness
	// policy ("witness NAME VKEY URL" lines, "group NAME N MEMBERS…",
	// "quorum NAME"). Optional.
	WitnessPolicy []byte
	// WitnessFailOpen publishes a checkpoint even when the witness quorum
	// is not reached (default: a checkpoint waits for its quorum, so an
	// unreachable witness stalls publication but never appends).
	WitnessFailOpen bool
	// WitnessTimeout bounds one round of witness requests; tessera's
	// default (5s) if zero.
	WitnessTimeout time.Duration
	// ExportFile, if set, receives every newly published checkpoint
	// (with any cosignatures) as a JSON line {"time","size","checkpoint"}
	// every ExportInterval. Put it on another machine's mount for an
	// external record.
	ExportFile string
	// ExportURL, if set, receives every newly published checkpoint as an
	// HTTP POST (text/plain signed note) every ExportInterval, e.g. for an
	// external notary. Failed posts are retried at the next interval.
	ExportURL string
	// ExportInterval is how often checkpoints are exported;
	// DefaultExportInterval if zero.
	ExportInterval time.Duration
	// HTTPClient is used for witnesses and ExportURL;
	// http.DefaultClient if nil.
	HTTPClient *http.Client
	// PollInterval is how often the integrator looks in the store for
	// records it was not told about; DefaultPollInterval if zero.
	PollInterval time.Duration
	// KeyWrapper, if set, keeps the signing key in the store (Meta
	// MetaSigningKey), wrapped by it, instead of in Dir/KeyFile, so that a
	// gateway needs only the database and the master key. An existing
	// Dir/KeyFile (and Dir/KeyHistoryFile) is imported at the first start;
	// from then on the store's copy is the one used. The key history is
	// then kept in the store too, and a key rotated in the store
	// (RotateStoredKey) is picked up before the next signature. Optional:
	// without it the key file is used, as on the embedded store.
	KeyWrapper KeyWrapper
}

func (o *Options) setDefaults() error {
	if o.Store == nil {
		return errors.New("audit log: Options.Store is required")
	}
	if o.Dir == "" {
		return errors.New("audit log: Options.Dir is required")
	}
	if o.Origin == "" {
		o.Origin = DefaultOrigin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.GatherWait == 0 {
		o.GatherWait = DefaultGatherWait
	}
	orDefault(&o.MaxBatch, DefaultMaxBatch)
	orDefault(&o.IntegrateBatch, DefaultIntegrateBatch)
	orDefault(&o.BatchMaxAge, DefaultBatchMaxAge)
	orDefault(&o.CheckpointInterval, DefaultCheckpointInterval)
	if o.CheckpointInterval < 100*time.Millisecond {
		return fmt.Errorf("audit log: Options.CheckpointInterval %v is below tessera's minimum of 100ms", o.CheckpointInterval)
	}
	orDefault(&o.PendingWait, DefaultPendingWait)
	orDefault(&o.ExportInterval, DefaultExportInterval)
	orDefault(&o.PollInterval, DefaultPollInterval)
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	return nil
}

// orDefault sets *v to def unless it is positive.
func orDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Log is an open audit log. Its methods are safe for concurrent use.
type Log struct {
	unlock   func() // releases the data directory's lock
	opts     Options
	st       store.Store
	logDir   string
	origin   string
	keyState liveSigner // the current signing key
	log      *slog.Logger
	m        *metrics
	lag      *lagTracker

	// Append side.
	mu     sync.RWMutex // guards closed and sending on queue
	closed bool
	queue  chan *request

	committerDone chan struct{}
	commits       atomic.Uint64 // group commits done (for benchmarks)
	commitNanos   atomic.Int64  // time spent in store commits (for benchmarks)
	inflight      atomic.Int64  // Append calls not yet returned

	// Audit feed (Follow).
	hub hub

	// Integrator.
	stopInteg chan struct{}
	integDone chan struct{}

	// tessera.
	appender *tessera.Appender
	shutdown func(context.Context) error
	reader   tessera.LogReader
	bgCtx    context.Context
	cancel   context.CancelFunc

	// Latest signed checkpoint.
	cpMu      sync.Mutex
	cpNote    []byte
	cpSize    uint64
	cpChanged chan struct{} // closed and replaced when a checkpoint is signed

	errMu sync.Mutex
	fatal error // set when integration found an unrepairable inconsistency

	health health // can the store take an append? (see health.go)

	exportDone chan struct{} // nil when not exporting

	closeOnce sync.Once
	closeErr  error
}

type request struct {
	rec  store.AuditRecord
	ev   *event.Event // rec.Event parsed, for the feed; nil if perr
	perr error
	done chan result
}

type result struct {
	index uint64
	err   error
}

// Open opens (creating at first start) the audit log in opts.Dir and
// starts its committer and integrator. The caller MUST Close it.
//
// Open fails with ErrInconsistent if the tiled log holds more entries than
// the store (the store was rolled back or records were deleted), or if the
// signing key differs from the one recorded in the store.
func Open(ctx context.Context, opts Options) (_ *Log, err error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	defer func() {
		if err != nil {
			unlock()
		}
	}()
	// A log that already exists must not get a fresh key because its key
	// file went missing.
	key, wrapped, err := openKey(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	signer, err := note.NewSigner(string(key))
	if err != nil {
		return nil, fmt.Errorf("open audit log: signing key: %w", err)
	}
	vkey, err := verifierOf(key)
	if err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	got, err := opts.Store.SetMetaOnce(ctx, metaVerifierKey, []byte(vkey))
	if err != nil {
		return nil, fmt.Errorf("open audit log: record verifier key: %w", err)
	}
	if string(got) != vkey {
		where := filepath.Join(opts.Dir, KeyFile)
		if opts.KeyWrapper != nil {
			where = "the store (" + MetaSigningKey + ")"
		}
		return nil, fmt.Errorf("open audit log: the signing key in %s is not the one this store's log was created with (%s): %w",
			where, got, ErrInconsistent)
	}

	l := &Log{
		unlock:        unlock,
		opts:          opts,
		st:            opts.Store,
		logDir:        filepath.Join(opts.Dir, LogDir),
		origin:        signer.Name(),
		log:           opts.Logger,
		queue:         make(chan *request, 4*opts.MaxBatch),
		committerDone: make(chan struct{}),
		stopInteg:     make(chan struct{}),
		integDone:     make(chan struct{}),
		cpChanged:     make(chan struct{}),
	}
	l.keyState.signer, l.keyState.verifier, l.keyState.wrapped = signer, vkey, wrapped
	l.lag = newLagTracker()
	l.m = newMetrics(l)
	l.commitResult(nil) // the store just answered
	// tessera's background work lives until Close, not until ctx ends.
	l.bgCtx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	ok := false
	defer func() {
		if !ok {
			l.cancel()
			l.m.unregister()
		}
	}()
	if opts.Registerer != nil {
		if err := l.m.register(opts.Registerer); err != nil {
			return nil, fmt.Errorf("open audit log: metrics: %w", err)
		}
	}

	if err := os.MkdirAll(l.logDir, 0o755); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	hc := opts.HTTPClient
	if len(opts.WitnessPolicy) > 0 {
		// Watch the witnesses' answers: a refusal that means a split view
		// is logged and raised as an alert.
		c := *hc
		next := c.Transport
		if next == nil {
			next = http.DefaultTransport
		}
		c.Transport = &witnessWatch{next: next, l: l, witnesses: parsePolicyWitnesses(opts.WitnessPolicy)}
		hc = &c
	}
	driver, err := posix.New(ctx, posix.Config{Path: l.logDir, HTTPClient: hc})
	if err != nil {
		return nil, fmt.Errorf("open audit log: tessera posix: %w", err)
	}
	topts := tessera.NewAppendOptions().
		WithCheckpointSigner(&recordingSigner{l: l}).
		WithBatching(uint(opts.IntegrateBatch), opts.BatchMaxAge).
		WithCheckpointInterval(opts.CheckpointInterval)
	if len(opts.WitnessPolicy) > 0 {
		wg, err := tessera.NewWitnessGroupFromPolicy(opts.WitnessPolicy)
		if err != nil {
			return nil, fmt.Errorf("open audit log: witness policy: %w", err)
		}
		topts.WithWitnesses(wg, &tessera.WitnessOptions{Timeout: opts.WitnessTimeout, FailOpen: opts.WitnessFailOpen})
	}
	l.appender, l.shutdown, l.reader, err = tessera.NewAppender(l.bgCtx, driver, topts)
	if err != nil {
		return nil, fmt.Errorf("open audit log: tessera: %w", err)
	}
	next, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("open audit log: integrated size: %w", err)
	}
	size, err := l.st.AuditSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("open audit log: store size: %w", err)
	}
	if next > size {
		return nil, fmt.Errorf("open audit log: the tiled log has %d entries but the store only %d records (store rolled back or records deleted): %w",
			next, size, ErrInconsistent)
	}
	if err := l.loadPublishedCheckpoint(ctx); err != nil {
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	l.hub.observe(size)
	l.m.storeSize.Set(float64(size))
	l.m.integratedSize.Set(float64(next))
	if next < size {
		l.log.Info("audit log: integrating records committed before restart", "from", next, "to", size)
	}
	ok = true
	go l.commitLoop()
	go l.integrateLoop(next)
	if opts.ExportFile != "" || opts.ExportURL != "" {
		l.exportDone = make(chan struct{})
		go l.exportLoop()
	}
	return l, nil
}

// Origin returns the log's origin (checkpoint first line).
func (l *Log) Origin() string { return l.origin }

// VerifierKey returns the log's verifier key (name+hash+base64).
// After a rotation in the store it is the new key.
func (l *Log) VerifierKey() string {
	_, v := l.keyState.get()
	return v
}

// Err returns the integration error that stopped the integrator, or nil.
// A non-nil Err means the tiled log no longer follows the store: records are
// still committed durably, but no new checkpoints will cover them.
func (l *Log) Err() error {
	l.errMu.Lock()
	defer l.errMu.Unlock()
	return l.fatal
}

// Append records ev in the audit log and returns its index. It returns only
// once the record is committed in the store (group commit with concurrent
// appends); the tiled log and a checkpoint follow within the publication
// lag. A zero ev.Time is set to the current time.
//
// If ctx ends while waiting for the commit, Append returns ctx's error; the
// record may still be committed (and is then integrated like any other).
func (l *Log) Append(ctx context.Context, ev event.Event) (uint64, error) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	salt, err := newSalt()
	if err != nil {
		return 0, err
	}
	r := &request{
		rec: store.AuditRecord{
			Time:     ev.Time,
			Actor:    ev.Actor,
			Customer: ev.Customer,
			Event:    ev.Canonical(),
			Salt:     salt,
		},
		done: make(chan result, 1),
	}
	// What parsing the record's bytes would give (event.Normalized),
	// made here, concurrently, rather than in the committer: the feed
	// hands this to every consumer.
	if pe, err := ev.Normalized(); err != nil {
		r.perr = err
	} else {
		r.ev = &pe
	}
	start := time.Now()
	l.inflight.Add(1)
	defer l.inflight.Add(-1)
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.queue <- r:
	case <-ctx.Done():
		l.mu.RUnlock()
		return 0, fmt.Errorf("audit append: %w", ctx.Err())
	}
	l.mu.RUnlock()
	select {
	case res := <-r.done:
		l.m.appendSeconds.Observe(time.Since(start).Seconds())
		if res.err != nil {
			return 0, res.err
		}
		return res.index, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("audit append (the record may still be committed): %w", ctx.Err())
	}
}

// pipelinedStore is a store that writes a group commit and makes it
// durable in two steps (the SQLite store): the committer writes the next
// batch while the last one is flushed, and the flusher acknowledges each
// once it is on disk, in order.
type pipelinedStore interface {
	AppendAuditPipelined(ctx context.Context, recs []store.AuditRecord) (first uint64, durable func() error, err error)
}

// written is a group commit begun at start and written to the store at
// first on; on a pipelinedStore it waits for its flush (durable) before it
// is published and acknowledged.
type written struct {
	batch   []*request
	recs    []store.AuditRecord
	first   uint64
	durable func() error
	start   time.Time
}

// flushDepth is how many written group commits may wait for the flusher
// beyond the one it is flushing: none. The committer writes the next batch
// while one is flushed, then waits to hand it over, gathering meanwhile:
// one write per flush, each as large as the flush took time to fill.
const flushDepth = 0

// commitLoop is the committer: it group-commits queued records. On a
// pipelinedStore a flusher goroutine finishes each commit (flush, publish,
// acknowledge), so the committer goes on to the next batch meanwhile.
func (l *Log) commitLoop() {
	defer close(l.committerDone)
	var flushing chan written // to the flusher, on a pipelinedStore
	if _, ok := l.st.(pipelinedStore); ok {
		flushing = make(chan written, flushDepth)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for w := range flushing {
				l.finish(w, w.durable())
			}
		}()
		defer func() { close(flushing); <-done }()
	}
	batch := make([]*request, 0, l.opts.MaxBatch)
	for {
		r, ok := <-l.queue
		if !ok {
			return
		}
		batch = append(batch[:0], r)
		// Take what is queued; then wait briefly (GatherWait at most)
		// for appenders that are on their way, so that under load the
		// batches stay large instead of alternating large and small.
		var deadline <-chan time.Time
	gather:
		for len(batch) < l.opts.MaxBatch {
			select {
			case r, ok := <-l.queue:
				if !ok {
					break gather
				}
				batch = append(batch, r)
				continue
			default:
			}
			if int64(len(batch)) >= l.inflight.Load() || l.opts.GatherWait < 0 {
				break
			}
			if deadline == nil {
				deadline = time.After(l.opts.GatherWait)
			}
			select {
			case r, ok := <-l.queue:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			case <-deadline:
				break gather
			}
		}
		l.commit(batch, flushing)
	}
}

// commit writes batch as one group commit and finishes it, or, with
// flushing (a pipelinedStore), hands it to the flusher once written.
func (l *Log) commit(batch []*request, flushing chan<- written) {
	w := written{batch: batch, recs: make([]store.AuditRecord, len(batch)), start: time.Now()}
	for i, r := range batch {
		w.recs[i] = r.rec
	}
	// The commit must not be abandoned half-way because a caller gave up.
	ctx := context.WithoutCancel(l.bgCtx)
	var err error
	if flushing == nil {
		w.first, err = l.st.AppendAudit(ctx, w.recs)
		l.finish(w, err)
		return
	}
	if w.first, w.durable, err = l.st.(pipelinedStore).AppendAuditPipelined(ctx, w.recs); err != nil {
		l.finish(w, err)
		return
	}
	// Handed over: the committer's next batch must not reuse the slice.
	w.batch = slices.Clone(batch)
	flushing <- w
}

// finish completes group commit w: on err every waiter gets it; else the
// records are published to the feed and then acknowledged.
func (l *Log) finish(w written, err error) {
	batch, recs, first := w.batch, w.recs, w.first
	now := time.Now()
	l.commitNanos.Add(int64(now.Sub(w.start)))
	l.m.commitSeconds.Observe(now.Sub(w.start).Seconds())
	l.commitResult(err)
	if err != nil {
		// The store rolled the batch back (its indexes too, so the log
		// stays gap-free): every waiter gets the error, marked
		// store.ErrUnavailable, and the next batch starts afresh. If the
		// store cannot say whether the commit happened (a connection lost
		// during COMMIT), the records may be there after all: the feed and
		// the integrator find them in the store, and a caller that was
		// refused was told nothing.
		l.m.appendErrors.Add(float64(len(batch)))
		l.log.Error("audit log: commit failed", "records", len(batch), "err", err)
		err = fmt.Errorf("audit append: %w", store.Unavailable(err))
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	for i := range batch {
		recs[i].Index = first + uint64(i)
	}
	end := first + uint64(len(recs))
	l.commits.Add(1)
	l.m.appends.Add(float64(len(recs)))
	l.m.commitBatch.Observe(float64(len(recs)))
	l.m.storeSize.Set(float64(end))
	l.lag.add(end, now)
	frecs := make([]Record, len(recs))
	for i, r := range batch {
		frecs[i] = Record{AuditRecord: recs[i], Event: r.ev, Err: r.perr}
	}
	l.hub.publish(frecs, end)
	// Acknowledge only now: an acknowledged record is already in the feed.
	for i, r := range batch {
		r.done <- result{index: first + uint64(i)}
	}
}

// Close stops accepting appends, commits what is queued, integrates every
// committed record, waits (bounded by ctx) for a checkpoint covering them
// and stops tessera. It is safe to call more than once. The store is not
// closed.
func (l *Log) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		<-l.committerDone

		close(l.stopInteg)
		select {
		case <-l.integDone:
		case <-ctx.Done():
			l.closeErr = fmt.Errorf("close audit log: waiting for integration: %w", ctx.Err())
		}
		if l.closeErr == nil && l.Err() == nil {
			if err := l.shutdown(ctx); err != nil {
				l.closeErr = fmt.Errorf("close audit log: tessera shutdown: %w", err)
			}
		}
		l.cancel()
		if l.exportDone != nil {
			<-l.exportDone
		}
		l.m.unregister()
		l.unlock()
	})
	return l.closeErr
}
