package auditlog

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera"

	"github.com/custos-dev/custos/internal/store"
)

// integrateLoop is the integrator: the only goroutine that adds entries to
// tessera, in store index order, starting at next (tessera's integrated
// size). It is a consumer of the audit feed like the others (Follow: the
// committer's hand-off, the store past it, index continuity checked) with a
// cursor of its own, so it never waits on another consumer. It returns
// after stopInteg is closed and everything committed has been integrated,
// or on an unrepairable inconsistency.
func (l *Log) integrateLoop(next uint64) {
	defer close(l.integDone)
	// ctx ends at stopInteg: Next stops waiting, and one more pass takes
	// everything the committer (stopped by then) has committed.
	ctx, cancel := context.WithCancel(l.bgCtx)
	defer cancel()
	go func() {
		select {
		case <-l.stopInteg:
			cancel()
		case <-ctx.Done():
		}
	}()
	backoff := 100 * time.Millisecond
	for stopTries := 0; ; {
		c := l.Follow(l.bgCtx, next, FollowName("tessera"), FollowBatch(l.opts.IntegrateBatch))
		err := l.integrateFrom(ctx, c, &next)
		c.Close()
		if err == nil {
			return
		}
		if errors.Is(err, ErrInconsistent) || errors.Is(err, ErrGap) {
			l.setFatal(err)
			return
		}
		l.m.integrateErrors.Inc()
		l.log.Error("audit log: integration failed, retrying", "at", next, "err", err)
		if ctx.Err() != nil {
			if stopTries++; stopTries > 1 {
				return // stopping, and it failed again: Close reports the state
			}
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, 5*time.Second)
		// Resume where tessera really is.
		if size, err := l.reader.IntegratedSize(l.bgCtx); err != nil {
			l.log.Error("audit log: reading integrated size", "err", err)
		} else {
			next = size
		}
	}
}

// integrateFrom integrates what c delivers, advancing *next, until ctx
// ends (then it integrates what is committed and returns nil) or an error.
func (l *Log) integrateFrom(ctx context.Context, c *Cursor, next *uint64) error {
	size, err := l.st.AuditSize(l.bgCtx)
	if err != nil {
		return fmt.Errorf("store size: %w", err)
	}
	if size < *next {
		return fmt.Errorf("the store has %d records but %d are integrated (records deleted or store rolled back): %w",
			size, *next, ErrInconsistent)
	}
	for {
		recs, err := c.Next(ctx)
		if len(recs) == 0 && ctx.Err() != nil {
			// Stopping: what the committer committed last, then done.
			if recs, err = c.TryNext(l.bgCtx); err == nil && len(recs) == 0 {
				return nil
			}
		}
		if err != nil {
			return fmt.Errorf("reading records to integrate: %w", err)
		}
		n, err := l.integrateChunk(recs)
		*next += n
		l.m.integratedSize.Set(float64(*next))
		if err != nil {
			return err
		}
	}
}

// integrateChunk adds chunk (consecutive records, at most one tessera batch)
// to tessera and waits until it is integrated. It returns how many leading
// records were integrated. A tessera index different from the store index is
// ErrInconsistent.
func (l *Log) integrateChunk(chunk []Record) (uint64, error) {
	leaves := make([][]byte, len(chunk))
	for i, r := range chunk {
		leaf, err := Leaf(r.Salt, r.AuditRecord.Event) // the bytes committed, not the parsed event
		if err != nil {
			return 0, fmt.Errorf("store record %d: %w: %w", r.Index, err, ErrInconsistent)
		}
		leaves[i] = leaf
	}
	futs := make([]tessera.IndexFuture, len(chunk))
	for i, leaf := range leaves {
		futs[i] = l.appender.Add(l.bgCtx, tessera.NewEntry(leaf))
	}
	var done uint64
	var firstErr error
	for i, f := range futs {
		idx, err := f()
		switch {
		case firstErr != nil:
			// Wait for the rest; nothing after a failure counts.
		case err != nil:
			firstErr = fmt.Errorf("tessera add (store index %d): %w", chunk[i].Index, err)
		case idx.Index != chunk[i].Index || idx.IsDup:
			firstErr = fmt.Errorf("tessera assigned index %d (dup=%v) to store record %d: %w",
				idx.Index, idx.IsDup, chunk[i].Index, ErrInconsistent)
		default:
			done++
		}
	}
	return done, firstErr
}

func (l *Log) setFatal(err error) {
	l.errMu.Lock()
	l.fatal = err
	l.errMu.Unlock()
	l.m.inconsistent.Set(1)
	l.log.Error("audit log: integration stopped: the tiled log no longer follows the store; run 'custos audit verify'", "err", err)
}

// recordingSigner signs checkpoints for tessera and saves each signed
// checkpoint in the store before tessera publishes it.
// It signs with the log's current key (see Log.refreshKey).
type recordingSigner struct {
	l *Log

	mu   sync.Mutex
	last []byte // the last note stored
}

// Sign implements note.Signer.
func (s *recordingSigner) Sign(msg []byte) ([]byte, error) {
	var cp f_log.Checkpoint
	if _, err := cp.Unmarshal(msg); err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	// tessera has already asked for KeyHash: a key rotated since then
	// fails this attempt, and the next one uses the new key.
	if changed, err := s.l.refreshKey(s.l.bgCtx); err != nil {
		return nil, err
	} else if changed {
		return nil, errKeyChanged
	}
	signer, _ := s.l.keyState.get()
	sig, err := signer.Sign(msg)
	if err != nil {
		return nil, err
	}
	n := signedNote(msg, signer.Name(), signer.KeyHash(), sig)
	// tessera re-signs an unchanged tree every 10 minutes; Ed25519 is
	// deterministic, so that note is already stored.
	s.mu.Lock()
	defer s.mu.Unlock()
	if !bytes.Equal(n, s.last) {
		if err := s.l.st.AddCheckpoint(s.l.bgCtx, store.Checkpoint{Size: cp.Size, Note: n, Time: time.Now()}); err != nil {
			// Not recorded, not published: tessera retries later.
			return nil, fmt.Errorf("save checkpoint: %w", err)
		}
		s.last = n
	}
	s.l.setCheckpoint(n, cp.Size)
	return sig, nil
}

// Name implements note.Signer.
func (s *recordingSigner) Name() string { return s.l.origin }

// KeyHash implements note.Signer.
func (s *recordingSigner) KeyHash() uint32 {
	signer, _ := s.l.keyState.get()
	return signer.KeyHash()
}

// signedNote encodes text with one signature as note.Sign does.
func signedNote(text []byte, name string, hash uint32, sig []byte) []byte {
	var hbuf [4]byte
	binary.BigEndian.PutUint32(hbuf[:], hash)
	var b bytes.Buffer
	b.Write(text)
	b.WriteString("\n— ")
	b.WriteString(name)
	b.WriteString(" ")
	b.WriteString(base64.StdEncoding.EncodeToString(append(hbuf[:], sig...)))
	b.WriteString("\n")
	return b.Bytes()
}

func (l *Log) setCheckpoint(n []byte, size uint64) {
	l.cpMu.Lock()
	if size >= l.cpSize || l.cpNote == nil {
		l.cpNote, l.cpSize = n, size
		close(l.cpChanged)
		l.cpChanged = make(chan struct{})
	}
	l.cpMu.Unlock()
	l.m.checkpointSize.Set(float64(size))
	l.lag.published(size, l.m.publishDelay)
}

// loadPublishedCheckpoint reads the checkpoint file tessera has published.
func (l *Log) loadPublishedCheckpoint(ctx context.Context) error {
	raw, err := l.reader.ReadCheckpoint(ctx)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	// After a rotation the published checkpoint may carry a retired key.
	eras, err := l.keyEras(ctx)
	if err != nil {
		return err
	}
	cp, err := parseByEra(raw, l.origin, eras)
	if err != nil {
		return fmt.Errorf("published checkpoint does not verify with the log's key: %w", err)
	}
	l.cpMu.Lock()
	if l.cpNote == nil || cp.Size > l.cpSize {
		l.cpNote, l.cpSize = raw, cp.Size
	}
	l.cpMu.Unlock()
	l.m.checkpointSize.Set(float64(cp.Size))
	return nil
}

// lagTracker remembers when committed records were committed until a
// checkpoint covers them.
type lagTracker struct {
	mu       sync.Mutex
	items    []lagItem
	maxDelay time.Duration // the longest delay observed (for benchmarks)
}

type lagItem struct {
	end uint64 // exclusive end index of a committed batch
	at  time.Time
}

func newLagTracker() *lagTracker { return &lagTracker{} }

func (t *lagTracker) add(end uint64, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if n := len(t.items); n >= maxLagItems {
		// Publication has stalled; keep the oldest (it sets the gauge)
		// and extend the newest to cover this batch.
		t.items[n-1].end = end
		return
	}
	t.items = append(t.items, lagItem{end, at})
}

// maxLagItems bounds the lag tracker's memory when publication stalls.
const maxLagItems = 1 << 16

// published drops batches covered by a checkpoint of size and observes
// their delay.
func (t *lagTracker) published(size uint64, obs interface{ Observe(float64) }) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	i := 0
	for i < len(t.items) && t.items[i].end <= size {
		d := now.Sub(t.items[i].at)
		obs.Observe(d.Seconds())
		t.maxDelay = max(t.maxDelay, d)
		i++
	}
	t.items = t.items[i:]
	if len(t.items) == 0 {
		t.items = nil
	}
}

// oldest returns how long the oldest uncovered batch has waited.
func (t *lagTracker) oldest() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.items) == 0 {
		return 0
	}
	return time.Since(t.items[0].at)
}
