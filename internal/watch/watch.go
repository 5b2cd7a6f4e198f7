// Package watch runs the detectors online. A Runner follows the audit
// records through the audit feed (auditlog.Feed) — the same events the
// gateway answered on, committed before the gateway answered — feeds each
// one exactly once, in log order, to a detect.Engine, stores the alerts it
// raises and contains the people they name: step-up (reads need a consent)
// or suspension, each audited and reversible by an analyst.
//
// Because it follows the durable log rather than a side channel, nothing
// the gateway acknowledged can escape the detectors. Its position is
// persisted (store Meta "watch.cursor": the first index not yet alerted
// on). The engine's state lives in memory only (detect has no snapshot), so
// after a restart the Runner rebuilds it by replaying a bounded recent
// window of the log — the Replay records before the persisted position,
// not the whole log — and raises nothing for records before the position.
// Profiles learnt from older records are thus forgotten at a restart; with
// the default window (DefaultReplay) that is weeks of a large deployment's
// traffic.
package watch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/metric"
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

// DefaultReplay is the default Runner.Replay.
const DefaultReplay = 2_000_000

// Runner feeds the detectors. Set the fields, then call Run.
type Runner struct {
	Store store.Store
	// Feed delivers the audit records (the audit log in a gateway); nil
	// means auditlog.StoreFeed{Store, Poll}, the store alone.
	Feed    auditlog.Feed
	Engine  *detect.Engine
	Contain Contain // nil: alerts only
	Logger  *slog.Logger
	// Poll is how often a store-only feed is polled (default 200ms).
	Poll time.Duration
	// Batch is the most records handled at once (default 2048).
	Batch int
	// Replay is how many records before the persisted position are fed
	// again at start to rebuild the engine's state (DefaultReplay if 0;
	// negative: none).
	Replay int
	// Registerer receives the runner's metrics; optional.
	Registerer prometheus.Registerer
	// Lead reports whether this process leads: with many gateways on one
	// database every one feeds its engine (so each can show risk), but only
	// the leader raises alerts and contains. Nil means always.
	Lead func() bool

	mu      sync.Mutex // guards Engine
	next    uint64     // next index to feed
	cursor  uint64     // indexes below it were alerted on before a restart
	feed    *auditlog.Cursor
	pending []auditlog.Record // delivered by the feed, not yet processed
	lag     prometheus.Gauge
	alerts  prometheus.Counter
	started bool
	leading bool
	// savedAt is when the position was last saved, and raised whether an
	// alert was stored since: see process.
	savedAt time.Time
	raised  bool
	// held are alerts seen while following, kept (bounded) in case the
	// leader died before raising them: on takeover those at or past the
	// shared cursor are raised.
	held []heldAlert
	// unraised are alerts whose raising failed (the store or the audit log
	// was unavailable), oldest first: they are raised before any record
	// is processed further, and the persisted position stays before the
	// record that produced the first of them, so that neither a store
	// outage nor a restart during one loses an alert.
	unraised []pendingAlert
}

// pendingAlert is an alert not yet fully raised: id is 0 until the alert
// is stored, so a retry after a failed containment does not store it twice.
type pendingAlert struct {
	index uint64
	alert detect.Alert
	id    int64
}

type heldAlert struct {
	index uint64
	alert detect.Alert
}

const maxHeld = 4096

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
	// The cursor first: if the store cannot say, init fails before it
	// registers anything, and may be called again.
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
	replay := uint64(DefaultReplay)
	if r.Replay != 0 {
		replay = uint64(max(r.Replay, 0))
	}
	r.next = r.cursor - min(r.cursor, replay)
	r.lag = metric.Gauge("custos_detect_lag_records", "Audit records not yet seen by the detectors.")
	r.alerts = metric.Counter("custos_detect_alerts_total", "Alerts raised by the online detectors.")
	if r.Registerer != nil {
		r.Registerer.MustRegister(r.lag, r.alerts)
	}
	feed := r.Feed
	if feed == nil {
		feed = auditlog.StoreFeed{Store: r.Store, Poll: r.Poll}
	}
	r.feed = feed.Follow(ctx, r.next, auditlog.FollowName("detect"), auditlog.FollowBatch(r.Batch))
	r.started = true
	return nil
}

// Run feeds the engine until ctx ends. The feed's cursor is closed when
// Run returns.
func (r *Runner) Run(ctx context.Context) error {
	// The store may be unavailable at start (a database restarting): try
	// again until it answers, rather than leave the detectors stopped.
	for {
		err := r.init(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, store.ErrUnavailable) {
			return err
		}
		r.Logger.Warn("detectors: cannot read their position yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(max(r.Poll, time.Second)):
		}
	}
	defer r.feed.Close()
	recs := r.pending // delivered, not yet processed
	r.pending = nil
	for {
		var err error
		if len(recs) == 0 && len(r.unraised) == 0 {
			recs, err = r.feed.Next(ctx)
		}
		if err == nil {
			var n int
			n, err = r.process(ctx, recs)
			recs = recs[n:]
		}
		r.lag.Set(float64(r.feed.Lag() + uint64(len(recs))))
		if err != nil {
			if ctx.Err() != nil {
				if r.leading {
					r.save(context.WithoutCancel(ctx), true) // best effort: a restart re-feeds the rest
				}
				return nil
			}
			r.Logger.Error("detectors: step failed", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(r.Poll):
			}
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
		recs, err := r.pending, error(nil)
		r.pending = nil
		if len(recs) == 0 && len(r.unraised) > 0 {
			if _, err := r.process(ctx, nil); err != nil {
				return err
			}
		}
		if len(recs) == 0 {
			recs, err = r.feed.TryNext(ctx)
		}
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			r.lag.Set(float64(r.feed.Lag()))
			return nil
		}
		for len(recs) > 0 {
			n, err := r.process(ctx, recs)
			recs = recs[n:]
			if err != nil {
				r.pending = recs // the next CatchUp or Run goes on with them
				return err
			}
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
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// process feeds records from the feed (consecutive, from r.next) to the
// engine, raises alerts for records at or past the persisted position, and
// advances and saves the position (when leading). It returns how many
// leading records it consumed; on an error the caller retries the rest
// (as before the feed, the record whose alert failed is not fed again).
func (r *Runner) process(ctx context.Context, recs []auditlog.Record) (done int, err error) {
	leading := r.Lead == nil || r.Lead()
	defer func() {
		next := r.next
		if len(r.unraised) > 0 {
			next = min(next, r.unraised[0].index)
		}
		if leading && next > r.cursor {
			r.cursor = next
			if serr := r.save(ctx, false); serr != nil && err == nil {
				err = serr
			}
		}
	}()
	if leading && !r.leading && r.started && r.Lead != nil {
		// Taking over: raise what the last leader did not get to.
		if b, err := r.Store.Meta(ctx, metaCursor); err == nil {
			if n, perr := strconv.ParseUint(string(b), 10, 64); perr == nil && n > r.cursor {
				r.cursor = n
			}
		}
		for _, h := range r.held {
			if h.index >= r.cursor {
				r.unraised = append(r.unraised, pendingAlert{index: h.index, alert: h.alert})
			}
		}
		r.held = nil
	}
	r.leading = leading
	if leading {
		if err := r.raisePending(ctx); err != nil {
			return 0, err
		}
	}
	for i, rec := range recs {
		if rec.Index != r.next {
			// The feed guarantees order; this is a broken invariant.
			return i, fmt.Errorf("watch: audit feed out of order: want index %d, got %d", r.next, rec.Index)
		}
		r.mu.Lock()
		r.next++
		r.mu.Unlock()
		if err := r.observe(ctx, rec, leading); err != nil {
			return i + 1, err
		}
	}
	return len(recs), nil
}

// saveEvery is how often the position is saved while no alert is raised.
// Each save is a write to the store that competes with the audit log's
// group commits; a restart re-feeds at most this much without alerting
// twice, because a position is saved at once after an alert is stored.
const saveEvery = time.Second

// save persists the position: now if force or an alert was stored since the
// last save, otherwise at most every saveEvery.
func (r *Runner) save(ctx context.Context, force bool) error {
	if !force && !r.raised && time.Since(r.savedAt) < saveEvery {
		return nil
	}
	if err := r.Store.SetMeta(ctx, metaCursor, []byte(strconv.FormatUint(r.cursor, 10))); err != nil {
		return fmt.Errorf("watch: save cursor: %w", err)
	}
	r.savedAt, r.raised = time.Now(), false
	return nil
}

// observe feeds one record to the engine and raises its alerts when due.
func (r *Runner) observe(ctx context.Context, rec auditlog.Record, leading bool) error {
	if rec.Event == nil {
		// Not an access event (audit verify judges the log's integrity):
		// nothing to learn, and it must not stall the detectors.
		r.Logger.Error("detectors: skipping unreadable audit record", "index", rec.Index, "err", rec.Err)
		return nil
	}
	// The event is shared with the feed's other consumers; Observe takes a
	// copy and writes through none of its slices or pointers.
	ev := *rec.Event
	if strings.HasPrefix(ev.Action, "principal.") {
		// Containment and its reversal (by an analyst or the detectors
		// themselves) and HR notices: the engine reads Target, so that a
		// step-up's refusals are not taken as new evidence and a
		// reinstatement clears the person.
		r.mu.Lock()
		r.Engine.Observe(ev)
		r.mu.Unlock()
		return nil
	}
	if !person(ev.Actor) {
		return nil
	}
	r.mu.Lock()
	alerts := r.Engine.Observe(ev)
	r.mu.Unlock()
	if rec.Index < r.cursor {
		return nil // replaying after a restart: already alerted on
	}
	if !leading {
		for _, a := range alerts {
			if len(r.held) >= maxHeld {
				r.held = r.held[1:]
			}
			r.held = append(r.held, heldAlert{rec.Index, a})
		}
		return nil
	}
	for _, a := range alerts {
		r.unraised = append(r.unraised, pendingAlert{index: rec.Index, alert: a})
	}
	return r.raisePending(ctx)
}

// raisePending raises the unraised alerts in order, stopping at the first
// that fails (it stays first, to be retried).
func (r *Runner) raisePending(ctx context.Context) error {
	for len(r.unraised) > 0 {
		if err := r.raise(ctx, &r.unraised[0]); err != nil {
			return err
		}
		r.unraised = r.unraised[1:]
	}
	r.unraised = nil
	return nil
}

// person reports whether actor is a person the detectors should learn
// (not an anonymous failure, a customer, or custos itself).
func person(actor string) bool {
	return actor != "" && actor != "-" && actor != "subject" && !strings.HasPrefix(actor, "custos:")
}

// raise stores the alert (once: pa.id records it) and applies its
// containment.
func (r *Runner) raise(ctx context.Context, pa *pendingAlert) error {
	a := pa.alert
	if pa.id == 0 {
		detail, err := json.Marshal(a)
		if err != nil {
			return err
		}
		sa := store.Alert{Actor: a.Actor, Time: a.Time, Score: a.Score, Reasons: a.Reasons, Records: a.Records, Kind: a.Kind, Detail: detail}
		id, err := r.Store.AddAlert(ctx, sa)
		if err != nil {
			return fmt.Errorf("watch: store alert: %w", err)
		}
		pa.id = id
		r.raised = true
		r.alerts.Inc()
		r.Logger.Warn("alert", "actor", a.Actor, "kind", a.Kind, "score", a.Score, "action", a.Action)
	}
	id := pa.id
	if r.Contain == nil || a.Action == detect.ActionNone {
		return nil
	}
	status := store.StatusStepUp
	if a.Action == detect.ActionSuspend {
		status = store.StatusSuspended
	}
	p, err := r.Store.Principal(ctx, a.Actor)
	if errors.Is(err, store.ErrNotFound) {
		return nil // not a known principal (offline events): nothing to contain
	}
	if err != nil {
		return fmt.Errorf("watch: contain: %w", err) // retried: containment must not be skipped
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
func (r *Runner) People(ctx context.Context, limit int) ([]PersonView, error) {
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
	return out, nil
}

// PersonDetail is one person's profile and timeline with their status.
type PersonDetail struct {
	Profile detect.PersonProfile `json:"profile"`
	Status  string               `json:"status"`
}

// Person returns one person's profile and timeline.
func (r *Runner) Person(ctx context.Context, id string) (PersonDetail, error) {
	r.mu.Lock()
	prof, ok := r.Engine.Profile(id)
	r.mu.Unlock()
	if !ok {
		return PersonDetail{}, store.ErrNotFound
	}
	d := PersonDetail{Profile: prof}
	if p, err := r.Store.Principal(ctx, id); err == nil {
		d.Status = p.Status
	}
	return d, nil
}
