package policy

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/metric"
)

// DefaultReloadInterval is how often a Reloader polls its directory.
const DefaultReloadInterval = time.Second

// WatchOptions configure a Reloader. The zero value is usable.
type WatchOptions struct {
	// Interval between polls of the directory; DefaultReloadInterval when 0.
	Interval time.Duration
	// Logger gets one record per reload and per refused set (file and
	// policy names, never request data). Optional: nothing is logged when nil.
	Logger *slog.Logger
	// Registerer gets the reloader's metrics:
	//   custos_policy_valid              1 when the directory's current
	//                                    contents are in force, 0 when they
	//                                    were refused (the old set stays)
	//   custos_policy_reload_errors_total  policy sets refused
	//   custos_policy_reloads_total        policy sets taken into force
	// Optional: no metrics when nil.
	Registerer prometheus.Registerer
	// OnReload, when set, is called after a new set is in force.
	OnReload func(*Engine)
	// OnError, when set, is called when a changed set is refused.
	OnError func(error)
}

// Reloader keeps the engine built from a directory in force and swaps in a
// new one when the directory changes and the new set validates. It
// implements Authorizer by delegating to the engine in force; it is safe for
// concurrent use.
type Reloader struct {
	dir  string
	opts WatchOptions
	cur  atomic.Pointer[Engine]

	mu      sync.Mutex // serialises Reload
	lastSig string

	valid   prometheus.Gauge
	errors  prometheus.Counter
	reloads prometheus.Counter
}

var _ Authorizer = (*Reloader)(nil)

// NewReloader loads dir now (an invalid set is an error: there is nothing
// old to keep) and returns a Reloader that has not started polling; call
// Run, or use Watch.
func NewReloader(dir string, opts WatchOptions) (*Reloader, error) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultReloadInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &Reloader{
		dir:  dir,
		opts: opts,
		valid: metric.Gauge("custos_policy_valid",
			"1 when the policy directory's current contents are in force, 0 when they failed to validate and the previous set stays in force."),
		errors: metric.Counter("custos_policy_reload_errors_total",
			"Policy sets refused on reload because they failed to load or validate."),
		reloads: metric.Counter("custos_policy_reloads_total",
			"Policy sets taken into force after a change of the policy directory."),
	}
	sig := signature(dir)
	e, err := Load(dir)
	if err != nil {
		return nil, err
	}
	r.cur.Store(e)
	r.lastSig = sig
	r.valid.Set(1)
	if opts.Registerer != nil {
		if err := metric.Register(opts.Registerer, r.valid, r.errors, r.reloads); err != nil {
			return nil, fmt.Errorf("policy reloader metrics: %w", err)
		}
	}
	return r, nil
}

// Watch is NewReloader followed by Run in a new goroutine that stops when
// ctx is done.
func Watch(ctx context.Context, dir string, opts WatchOptions) (*Reloader, error) {
	r, err := NewReloader(dir, opts)
	if err != nil {
		return nil, err
	}
	go r.Run(ctx)
	return r, nil
}

// Engine returns the engine in force.
func (r *Reloader) Engine() *Engine { return r.cur.Load() }

// Dir returns the watched directory.
func (r *Reloader) Dir() string { return r.dir }

// Authorize decides with the engine in force.
func (r *Reloader) Authorize(ctx context.Context, req Request) Decision {
	return r.cur.Load().Authorize(ctx, req)
}

// Run polls the directory every interval until ctx is done.
func (r *Reloader) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Reload()
		}
	}
}

// Reload checks the directory now. When its files changed (names, sizes,
// modification times) it loads them: a set that validates is put in force
// atomically (changed is true); one that does not is refused, the old set
// stays, and the error is logged, counted and returned. An unchanged
// directory is not reloaded, and a refused set is not retried until the
// directory changes again.
func (r *Reloader) Reload() (changed bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sig := signature(r.dir)
	if sig == r.lastSig {
		return false, nil
	}
	r.lastSig = sig
	e, err := Load(r.dir)
	if err != nil {
		r.valid.Set(0)
		r.errors.Inc()
		r.opts.Logger.Error("policy set refused; previous policies stay in force",
			"dir", r.dir, "in_force", r.cur.Load().Digest()[:12], "error", err)
		if r.opts.OnError != nil {
			r.opts.OnError(err)
		}
		return false, err
	}
	r.cur.Store(e)
	r.valid.Set(1)
	r.reloads.Inc()
	r.opts.Logger.Info("policies reloaded", "dir", r.dir, "policies", len(e.ids), "digest", e.Digest()[:12])
	if r.opts.OnReload != nil {
		r.opts.OnReload(e)
	}
	return true, nil
}

// signature summarises the policy files of dir: names, sizes and
// modification times (or the error reading the directory).
func signature(dir string) string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	h := sha256.New()
	for _, de := range ents {
		n := de.Name()
		if de.IsDir() || strings.HasPrefix(n, ".") || !(strings.HasSuffix(n, ".cedar") || strings.HasSuffix(n, ".cedarschema")) {
			continue
		}
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			fmt.Fprintf(h, "%s\x00error\x00", n)
			continue
		}
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", n, fi.Size(), fi.ModTime().UnixNano())
	}
	return string(h.Sum(nil))
}
