package auditlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// ErrUnhealthy is wrapped by the error Health returns while the store cannot
// take an audit append. It also wraps store.ErrUnavailable.
var ErrUnhealthy = errors.New("audit log cannot append")

// Health probing.
const (
	// healthFresh is how long a successful group commit vouches for the
	// store: while appends keep committing, Health asks nothing more.
	healthFresh = 2 * time.Second
	// probeEvery is the least time between two probe writes.
	probeEvery = time.Second
	// probeTimeout bounds one probe write.
	probeTimeout = 2 * time.Second
	// metaHealthProbe is the Meta key the probe writes.
	metaHealthProbe = "audit.health_probe"
)

// health tracks whether the store can take an audit append: the
// committer reports each group commit's outcome, and when no commit has
// succeeded lately (the log is idle, or failing) Health writes one small
// Meta row to find out, at most once per probeEvery.
type health struct {
	mu       sync.Mutex
	lastOK   time.Time // last successful commit or probe
	lastFail time.Time // last failed commit or probe
	err      error     // the error of lastFail
	probing  chan struct{}
}

// commitResult records a group commit's outcome (called by the committer).
func (l *Log) commitResult(err error) {
	h := &l.health
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	if err != nil {
		h.lastFail, h.err = now, err
		l.m.available.Set(0)
		return
	}
	h.lastOK = now
	l.m.available.Set(1)
}

// Health returns nil while the store can take an audit append, and an
// error wrapping ErrUnhealthy (and, when the store said so,
// store.ErrUnavailable) saying why it cannot. It is cheap: while group
// commits succeed it only reads their outcome; otherwise it writes one
// Meta row, at most once a second, and concurrent calls share that probe.
// Health also returns an error after Close, and once integration stopped
// on an inconsistency (Err).
func (l *Log) Health(ctx context.Context) error {
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return fmt.Errorf("%w: %w", ErrUnhealthy, ErrClosed)
	}
	if err := l.Err(); err != nil {
		return fmt.Errorf("%w: integration stopped: %w", ErrUnhealthy, err)
	}
	h := &l.health
	for {
		h.mu.Lock()
		now := time.Now()
		switch {
		case h.lastOK.After(h.lastFail) && now.Sub(h.lastOK) < healthFresh:
			h.mu.Unlock()
			return nil
		case h.lastFail.After(h.lastOK) && now.Sub(h.lastFail) < probeEvery:
			err := h.err
			h.mu.Unlock()
			return fmt.Errorf("%w: %w", ErrUnhealthy, err)
		case h.probing != nil:
			wait := h.probing
			h.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		done := make(chan struct{})
		h.probing = done
		h.mu.Unlock()

		err := l.probe(ctx)
		l.commitResult(err) // before waking the waiters, who read it
		h.mu.Lock()
		h.probing = nil
		close(done)
		h.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnhealthy, err)
		}
		return nil
	}
}

// probe writes a small Meta row: the store takes a write, so it can take
// an audit append. The row is padded so that the write needs about as much
// room as a group commit of a few records.
func (l *Log) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), probeTimeout)
	defer cancel()
	v := make([]byte, 0, 4096)
	v = strconv.AppendInt(v, time.Now().UnixNano(), 10)
	v = append(v, ' ')
	for len(v) < cap(v) {
		v = append(v, '.')
	}
	if err := l.st.SetMeta(ctx, metaHealthProbe, v); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, store.ErrUnavailable) {
			err = store.Unavailable(err)
		}
		return fmt.Errorf("probe write: %w", err)
	}
	return nil
}
