// Package eval measures the detectors on generated scenarios: recall over
// hidden insiders, false alerts per 1,000 employee-days, records read before
// the first alert and hours to detect, beside a naive SIEM threshold rule on
// the same events.
package eval

import (
	"sort"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// Scores are one method's figures on one scenario (or a pool of them).
type Scores struct {
	Insiders int `json:"insiders"`
	Detected int `json:"detected"`
	// Recall is Detected/Insiders.
	Recall float64 `json:"recall"`
	// FalseAlerts counts alerts (at most one per actor and day) on people
	// who are not insiders, or on insiders before they started.
	FalseAlerts  int     `json:"false_alerts"`
	FalsePer1000 float64 `json:"false_per_1000_employee_days"`
	// MedianRecords is the median, over detected insiders, of distinct
	// illicitly read customers up to the first alert.
	MedianRecords float64 `json:"median_records_before_alert"`
	// MedianHours is the median time from an insider's first illicit event
	// to the first alert.
	MedianHours float64 `json:"median_hours_to_detect"`

	records, hours []float64
}

// KindScores are detection figures for one insider kind.
type KindScores struct {
	Insiders      int     `json:"insiders"`
	Detected      int     `json:"detected"`
	MedianRecords float64 `json:"median_records_before_alert"`
	MedianHours   float64 `json:"median_hours_to_detect"`

	records, hours []float64
}

// Result is an evaluation of one or more scenarios.
type Result struct {
	Seeds        []uint64               `json:"seeds"`
	People       int                    `json:"people"`
	EmployeeDays int                    `json:"employee_days"`
	Events       int                    `json:"events"`
	Detectors    Scores                 `json:"detectors"`
	Baseline     Scores                 `json:"baseline"`
	BaselineRule string                 `json:"baseline_rule"`
	Kinds        map[string]*KindScores `json:"kinds"`
	// FalseByKind counts false alerts by the alert's kind; FalseByTrap by
	// the trap the person was (or "other").
	FalseByKind map[string]int `json:"false_by_kind"`
	FalseByTrap map[string]int `json:"false_by_trap"`
	// Missed lists insiders never alerted on.
	Missed []scenario.Insider `json:"missed,omitempty"`
	// FalseSamples holds a few false alerts to look at.
	FalseSamples []detect.Alert `json:"false_samples,omitempty"`
}

// BaselineRule is the naive SIEM rule the detectors are compared with.
const BaselineRule = "more than 60 customer reads by one person within 60 minutes, or more than 300 in a day"

// siem is the naive baseline: a rolling count of reads per person.
type siem struct {
	win  map[string][]time.Time
	day  map[string]int
	dkey map[string]int64
}

func newSIEM() *siem {
	return &siem{win: map[string][]time.Time{}, day: map[string]int{}, dkey: map[string]int64{}}
}

func (s *siem) observe(ev *event.Event) bool {
	if ev.Action != event.ActionRead && ev.Action != event.ActionExport {
		return false
	}
	w := s.win[ev.Actor]
	cut := ev.Time.Add(-time.Hour)
	i := 0
	for i < len(w) && w[i].Before(cut) {
		i++
	}
	w = append(w[i:], ev.Time)
	s.win[ev.Actor] = w
	d := ev.Time.Unix() / 86400
	if s.dkey[ev.Actor] != d {
		s.dkey[ev.Actor], s.day[ev.Actor] = d, 0
	}
	s.day[ev.Actor]++
	return len(w) > 60 || s.day[ev.Actor] > 300
}

// tracker turns alerts into scores against the ground truth, online: an
// alert is judged when it fires, against the insiders whose harvest has
// begun by then (an alert on anyone else is false).
type tracker struct {
	w       *scenario.World
	illicit map[string]map[string]bool // actor → illicit customers so far
	first   map[string]bool
	seen    map[string]bool // actor|day already counted as false
	s       *Scores
	kinds   map[string]*KindScores
	onFalse func(a detect.Alert)
	offset  int64
}

func (t *tracker) insider(actor string) (scenario.Insider, bool) {
	for _, in := range t.w.Insiders {
		if in.Actor == actor {
			return in, true
		}
	}
	return scenario.Insider{}, false
}

func (t *tracker) alert(actor string, at time.Time, a *detect.Alert) {
	in, ok := t.insider(actor)
	if ok && !at.Before(in.From) {
		if t.first[actor] {
			return
		}
		t.first[actor] = true
		t.s.Detected++
		rec := float64(len(t.illicit[actor]))
		h := at.Sub(in.From).Hours()
		t.s.records = append(t.s.records, rec)
		t.s.hours = append(t.s.hours, h)
		if t.kinds != nil {
			k := t.kinds[in.Kind]
			if k == nil {
				k = &KindScores{}
				t.kinds[in.Kind] = k
			}
			k.Detected++
			k.records = append(k.records, rec)
			k.hours = append(k.hours, h)
		}
		return
	}
	key := actor + "|" + time.Unix((at.Unix()+t.offset)/86400*86400, 0).Format("2006-01-02")
	if t.seen[key] {
		return
	}
	t.seen[key] = true
	t.s.FalseAlerts++
	if a != nil && t.onFalse != nil {
		t.onFalse(*a)
	}
}

func (t *tracker) event(ev *event.Event, illicit bool) {
	if !illicit || ev.Customer == "" || ev.Action != event.ActionRead {
		return
	}
	m := t.illicit[ev.Actor]
	if m == nil {
		m = map[string]bool{}
		t.illicit[ev.Actor] = m
	}
	m[ev.Customer] = true
}

// Run generates the scenarios for seeds (people, days and variant from p)
// and evaluates cfg on them, streaming: memory is the engine's plus the
// ground truth, not the events. sink, when not nil, receives every event.
func Run(p scenario.Params, seeds []uint64, cfg detect.Config, sink func(event.Event)) Result {
	res, _ := runWorlds(seeded(p, seeds), cfg, sink, false)
	return res
}

// seeded returns p once for each seed.
func seeded(p scenario.Params, seeds []uint64) []scenario.Params {
	ps := make([]scenario.Params, len(seeds))
	for i, seed := range seeds {
		ps[i] = p
		ps[i].Seed = seed
	}
	return ps
}

// ReviewDelay is how long after a false alert the simulated analyst closes
// its case as benign (RunFeedback).
const ReviewDelay = 4 * time.Hour

// RunFeedback is Run with analysts in the loop: every alert on someone who
// is not an insider becomes a case closed as benign ReviewDelay later, fed
// back to the detectors as the gateway does (event.ActionCaseUpdate), so the
// figures show how outcomes change the false-alert rate (and what they cost
// in recall when an insider was cleared before they started).
func RunFeedback(p scenario.Params, seeds []uint64, cfg detect.Config) Result {
	res, _ := runWorlds(seeded(p, seeds), cfg, nil, true)
	return res
}

// runWorlds evaluates cfg on each world of ps, pooling the figures, and
// returns the detectors' throughput per world: events per second of CPU
// time spent in Observe (on Linux, the thread's own CPU time, so that other
// work on the machine does not count; elsewhere wall time).
func runWorlds(ps []scenario.Params, cfg detect.Config, sink func(event.Event), feedback bool) (Result, []float64) {
	res := Result{
		BaselineRule: BaselineRule,
		Kinds:        map[string]*KindScores{},
		FalseByKind:  map[string]int{},
		FalseByTrap:  map[string]int{},
	}
	rates := make([]float64, 0, len(ps))
	for _, p := range ps {
		res.Seeds = append(res.Seeds, p.Seed)
		eng := detect.New(cfg)
		base := newSIEM()
		var det, bl *tracker
		n := 0
		var busy time.Duration
		// Events are observed in batches so that the engine's time can be
		// measured apart from the generator's; the ground truth is
		// replayed beside the alerts in event order.
		type pending struct {
			ev      event.Event
			illicit bool
		}
		batch := make([]pending, 0, 4096)
		type at struct {
			i int
			a detect.Alert
		}
		var alerts []at
		var reviews []event.Event // benign outcomes due (feedback)
		insider := map[string]bool{}
		flush := func() {
			alerts = alerts[:0]
			var clk threadClock
			clk.start()
			t0 := time.Now()
			for i := range batch {
				for len(reviews) > 0 && !reviews[0].Time.After(batch[i].ev.Time) {
					eng.Observe(reviews[0])
					reviews = reviews[1:]
				}
				for _, a := range eng.Observe(batch[i].ev) {
					alerts = append(alerts, at{i, a})
					if feedback && !insider[a.Actor] {
						reviews = append(reviews, event.Event{Time: a.Time.Add(ReviewDelay), Actor: "analyst", Action: event.ActionCaseUpdate,
							Target: a.Actor, Decision: event.Allow, Reason: "status=closed outcome=benign kind=" + a.Kind})
					}
				}
			}
			busy += clk.stop(time.Since(t0))
			k := 0
			for i := range batch {
				ev := &batch[i].ev
				det.event(ev, batch[i].illicit)
				bl.event(ev, batch[i].illicit)
				for ; k < len(alerts) && alerts[k].i == i; k++ {
					det.alert(alerts[k].a.Actor, alerts[k].a.Time, &alerts[k].a)
				}
				if base.observe(ev) {
					bl.alert(ev.Actor, ev.Time, nil)
				}
			}
			batch = batch[:0]
		}
		world := scenario.Stream(p, func(w *scenario.World, ev event.Event, illicit bool) {
			if det == nil {
				mk := func(s *Scores, kinds map[string]*KindScores) *tracker {
					return &tracker{w: w, illicit: map[string]map[string]bool{},
						first: map[string]bool{}, seen: map[string]bool{}, s: s, kinds: kinds,
						offset: int64(w.UTCOffset / time.Second)}
				}
				det, bl = mk(&res.Detectors, res.Kinds), mk(&res.Baseline, nil)
				for _, in := range w.Insiders {
					insider[in.Actor] = true
				}
				det.onFalse = func(a detect.Alert) {
					res.FalseByKind[a.Kind]++
					trap := w.Traps[a.Actor]
					if trap == "" {
						trap = "other"
						for _, in := range w.Insiders {
							if in.Actor == a.Actor {
								trap = "insider-before-start"
							}
						}
					}
					res.FalseByTrap[trap]++
					if len(res.FalseSamples) < 20 {
						res.FalseSamples = append(res.FalseSamples, a)
					}
				}
			}
			n++
			if sink != nil {
				sink(ev)
			}
			batch = append(batch, pending{ev, illicit})
			if len(batch) == cap(batch) {
				flush()
			}
		})
		if det != nil {
			flush()
		}
		if busy > 0 {
			rates = append(rates, float64(n)/busy.Seconds())
		}
		res.Events += n
		res.People += len(world.People)
		res.EmployeeDays += world.EmployeeDays()
		res.Detectors.Insiders += len(world.Insiders)
		res.Baseline.Insiders += len(world.Insiders)
		for _, in := range world.Insiders {
			if res.Kinds[in.Kind] == nil {
				res.Kinds[in.Kind] = &KindScores{}
			}
			res.Kinds[in.Kind].Insiders++
			if det == nil || !det.first[in.Actor] {
				res.Missed = append(res.Missed, in)
			}
		}
	}
	res.finish()
	return res, rates
}

// finish computes the rates and medians from the counts.
func (res *Result) finish() {
	fin := func(s *Scores) {
		if s.Insiders > 0 {
			s.Recall = float64(s.Detected) / float64(s.Insiders)
		}
		if res.EmployeeDays > 0 {
			s.FalsePer1000 = 1000 * float64(s.FalseAlerts) / float64(res.EmployeeDays)
		}
		s.MedianRecords = median(s.records)
		s.MedianHours = median(s.hours)
	}
	fin(&res.Detectors)
	fin(&res.Baseline)
	for _, k := range res.Kinds {
		k.MedianRecords = median(k.records)
		k.MedianHours = median(k.hours)
	}
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
