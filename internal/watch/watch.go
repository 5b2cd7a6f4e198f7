// Package watch runs the detectors online. A Runner tails the audit
// records in the store — the same events the gateway answered on — feeds
// each one exactly once, in log order, to a detect.Engine, stores the
// alerts it raises and contains the people they name: step-up (reads need
// a consent) or suspension, each audited and reversible by an analyst.
//
// Because it reads the durable log rather than a side channel, nothing the
// gateway acknowledged can escape the detectors, and after a restart the
// Runner rebuilds the engine's state by replaying the log (alerts already
// raised are not raised again).
package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// Actor is the actor name under which automatic containment is audited.
const Actor = "custos:detect"

// metaCursor is the store Meta key holding the first index not yet
// processed for alerting.
const metaCursor = "watch.cursor"

// Contain applies containment to a person: status is store.StatusStepUp or
// store.StatusSuspended. It MUST audit the act before returning.
type Contain func(ctx context.Context, actor, status, reason string) error

// Runner feeds the detectors. Set the fields, then call Run.
type Runner struct {
	Store   store.Store
	Engine  *detect.Engine
	Contain Contain // nil: alerts only
	Logger  *slog.Logger
	// Poll is how often the store is checked for new records (default 200ms).
	Poll time.Duration
	// Batch is the most records read at once (default 2048).
	Batch int
	// Registerer receives the runner's metrics; optional.
	Registerer prometheus.Registerer
	// Lead reports whether this process leads: with many gateways on one
	// database every one feeds its engine (so each can show risk), but only
	// the leader raises alerts and contains. Nil means always.
	Lead func() bool

	mu      sync.Mutex // guards Engine
	next    uint64     // next index to feed
	cursor  uint64     // indexes below it were alerted on before a restart
	lag     prometheus.Gauge
	alerts  prometheus.Counter
	kick    chan struct{}
	started bool
	leading bool
	// held are alerts seen while following, kept (bounded) in case the
	// leader died before raising them: on takeover those at or past the
	// shared cursor are raised.
	held []heldAlert
}

type heldAlert struct {
	index uint64
	alert detect.Alert
}

const maxHeld = 4096

// Kick wakes the runner early (the gateway calls it after an append).
func (r *Runner) Kick() {
	if r.kick == nil {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *Runner) init(ctx context.Context) error {
	if r.Poll <= 0 {
		r.Poll = 200 * time.Millisecond
	}
	if r.Batch <= 0 {
		r.Batch = 2048
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	r.kick = make(chan struct{}, 1)
	r.lag = prometheus.NewGauge(prometheus.GaugeOpts{Name: "custos_detect_lag_records", Help: "Audit records not yet seen by the detectors."})
	r.alerts = prometheus.NewCounter(prometheus.CounterOpts{Name: "custos_detect_alerts_total", Help: "Alerts raised by the online detectors."})
	if r.Registerer != nil {
		r.Registerer.MustRegister(r.lag, r.alerts)
	}
	b, err := r.Store.Meta(ctx, metaCursor)
	switch {
	case err == nil:
		n, perr := strconv.ParseUint(string(b), 10, 64)
		if perr != nil {
			return fmt.Errorf("watch: bad cursor %q", b)
		}
		r.cursor = n
	case err == store.ErrNotFound:
	default:
		return fmt.Errorf("watch: read cursor: %w", err)
	}
	r.started = true
	return nil
}

// Run feeds the engine until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.init(ctx); err != nil {
		return err
	}
	t := time.NewTicker(r.Poll)
	defer t.Stop()
	for {
		for {
			n, err := r.step(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				r.Logger.Error("detectors: step failed", "err", err)
				break
			}
			if n < r.Batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.kick:
		}
	}
}

// CatchUp feeds every record committed so far; for tests and the demo.
func (r *Runner) CatchUp(ctx context.Context) error {
	if !r.started {
		if err := r.init(ctx); err != nil {
			return err
		}
	}
	for {
		n, err := r.step(ctx)
		if err != nil {
			return err
		}
		if n < r.Batch {
			return nil
		}
	}
}

// Idle reports whether every record committed so far has been processed.
func (r *Runner) Idle(ctx context.Context) (bool, error) {
	size, err := r.Store.AuditSize(ctx)
	if err != nil {
		return false, err
	}
	r.mu.Lock()
	next := r.next
	r.mu.Unlock()
	return next >= size, nil
}

// WaitIdle waits until Idle or ctx ends.
func (r *Runner) WaitIdle(ctx context.Context) error {
	for {
		ok, err := r.Idle(ctx)
		if err != nil || ok {
			return err
		}
		r.Kick()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// step processes one batch and returns how many records it read.
func (r *Runner) step(ctx context.Context) (int, error) {
	leading := r.Lead == nil || r.Lead()
	if leading && !r.leading && r.started && r.Lead != nil {
		// Taking over: raise what the last leader did not get to.
		if b, err := r.Store.Meta(ctx, metaCursor); err == nil {
			if n, perr := strconv.ParseUint(string(b), 10, 64); perr == nil && n > r.cursor {
				r.cursor = n
			}
		}
		for _, h := range r.held {
			if h.index >= r.cursor {
				if err := r.raise(ctx, h.alert); err != nil {
					return 0, err
				}
			}
		}
		r.held = nil
	}
	r.leading = leading
	recs, err := r.Store.AuditRange(ctx, r.next, r.next+uint64(r.Batch))
	if err != nil {
		return 0, err
	}
	if len(recs) == 0 {
		r.lag.Set(0)
		return 0, nil
	}
	for _, rec := range recs {
		if rec.Index != r.next {
			return 0, fmt.Errorf("watch: audit gap: want index %d, got %d", r.next, rec.Index)
		}
		ev, err := event.Parse(rec.Event)
		if err != nil {
			return 0, fmt.Errorf("watch: audit record %d: %w", rec.Index, err)
		}
		r.mu.Lock()
		r.next++
		r.mu.Unlock()
		if strings.HasPrefix(ev.Action, "principal.") {
			// Containment and its reversal (by an analyst or the detectors
			// themselves) and HR notices: the engine reads Target, so that a
			// step-up's refusals are not taken as new evidence and a
			// reinstatement clears the person.
			r.mu.Lock()
			r.Engine.Observe(ev)
			r.mu.Unlock()
			continue
		}
		if !person(ev.Actor) {
			continue
		}
		r.mu.Lock()
		alerts := r.Engine.Observe(ev)
		r.mu.Unlock()
		if rec.Index < r.cursor {
			continue // replaying after a restart: already alerted on
		}
		if !leading {
			for _, a := range alerts {
				if len(r.held) >= maxHeld {
					r.held = r.held[1:]
				}
				r.held = append(r.held, heldAlert{rec.Index, a})
			}
			continue
		}
		for _, a := range alerts {
			if err := r.raise(ctx, a); err != nil {
				return 0, err
			}
		}
	}
	if leading && r.next > r.cursor {
		r.cursor = r.next
		if err := r.Store.SetMeta(ctx, metaCursor, []byte(strconv.FormatUint(r.cursor, 10))); err != nil {
			return 0, fmt.Errorf("watch: save cursor: %w", err)
		}
	}
	if size, err := r.Store.AuditSize(ctx); err == nil && size >= r.next {
		r.lag.Set(float64(size - r.next))
	}
	return len(recs), nil
}

// person reports whether actor is a person the detectors should learn
// (not an anonymous failure, a customer, or custos itself).
func person(actor string) bool {
	return actor != "" && actor != "-" && actor != "subject" && !strings.HasPrefix(actor, "custos:")
}

func (r *Runner) raise(ctx context.Context, a detect.Alert) error {
	detail, err := json.Marshal(a)
	if err != nil {
		return err
	}
	sa := store.Alert{Actor: a.Actor, Time: a.Time, Score: a.Score, Reasons: a.Reasons, Records: a.Records, Kind: a.Kind, Detail: detail}
	id, err := r.Store.AddAlert(ctx, sa)
	if err != nil {
		return fmt.Errorf("watch: store alert: %w", err)
	}
	r.alerts.Inc()
	r.Logger.Warn("alert", "actor", a.Actor, "kind", a.Kind, "score", a.Score, "action", a.Action)
	if r.Contain == nil || a.Action == detect.ActionNone {
		return nil
	}
	status := store.StatusStepUp
	if a.Action == detect.ActionSuspend {
		status = store.StatusSuspended
	}
	p, err := r.Store.Principal(ctx, a.Actor)
	if err != nil {
		return nil // not a known principal (offline events): nothing to contain
	}
	if p.Status == store.StatusSuspended || p.Status == status {
		return r.Store.SetAlertAction(ctx, id, p.Status)
	}
	reason := fmt.Sprintf("alert %d: %s", id, strings.Join(a.Reasons, "; "))
	if err := r.Contain(ctx, a.Actor, status, reason); err != nil {
		return fmt.Errorf("watch: contain: %w", err)
	}
	return r.Store.SetAlertAction(ctx, id, status)
}

// PersonView is one person at risk, for the dashboard.
type PersonView struct {
	detect.Risk
	Status string `json:"status"`
}

// People returns people ranked by risk, highest first.
func (r *Runner) People(ctx context.Context, limit int) (any, error) {
	r.mu.Lock()
	snap := r.Engine.Snapshot()
	r.mu.Unlock()
	sort.SliceStable(snap, func(i, j int) bool { return snap[i].Score > snap[j].Score })
	if limit > 0 && len(snap) > limit {
		snap = snap[:limit]
	}
	out := make([]PersonView, 0, len(snap))
	for _, s := range snap {
		v := PersonView{Risk: s}
		if p, err := r.Store.Principal(ctx, s.Actor); err == nil {
			v.Status = p.Status
		}
		out = append(out, v)
	}
	return map[string]any{"people": out}, nil
}

// Person returns one person's profile and timeline.
func (r *Runner) Person(ctx context.Context, id string) (any, error) {
	r.mu.Lock()
	prof, ok := r.Engine.Profile(id)
	r.mu.Unlock()
	if !ok {
		return nil, store.ErrNotFound
	}
	status := ""
	if p, err := r.Store.Principal(ctx, id); err == nil {
		status = p.Status
	}
	return map[string]any{"profile": prof, "status": status}, nil
}
