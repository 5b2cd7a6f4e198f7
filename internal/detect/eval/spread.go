package eval

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
)

// Splits of the drawn worlds (scenario.Draw). Tuning looks only at the
// tuning split; the held-out split is for reporting, and nothing in the
// detectors may be changed because of what it shows.
const (
	SplitTune    = "tune"
	SplitHeldOut = "heldout"
	// TuneFirst is the first tuning seed: the tuning split is seeds
	// TuneFirst, TuneFirst+1, ...
	TuneFirst = 1
	// HeldOutFirst is the first held-out seed: the held-out split is seeds
	// HeldOutFirst, HeldOutFirst+1, ... Tuning never uses seeds at or
	// above it.
	HeldOutFirst = 1_000_001
)

// ErrSplit is returned for an unknown split name.
var ErrSplit = errors.New(`split must be "tune" or "heldout"`)

// SplitSeeds returns the first n seeds of a split.
func SplitSeeds(split string, n int) ([]uint64, error) {
	first := uint64(0)
	switch split {
	case SplitTune:
		first = TuneFirst
	case SplitHeldOut:
		first = HeldOutFirst
	default:
		return nil, ErrSplit
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out, nil
}

// WorldResult is the detectors' figures on one drawn world.
type WorldResult struct {
	Seed          uint64  `json:"seed"`
	People        int     `json:"people"`
	Days          int     `json:"days"`
	Variant       int     `json:"variant"`
	EmployeeDays  int     `json:"employee_days"`
	Events        int     `json:"events"`
	Insiders      int     `json:"insiders"`
	Detected      int     `json:"detected"`
	Recall        float64 `json:"recall"`
	FalseAlerts   int     `json:"false_alerts"`
	FalsePer1000  float64 `json:"false_per_1000_employee_days"`
	MedianRecords float64 `json:"median_records_before_alert"`
	// EventsPerSec is the engine's throughput on this world: events per
	// second of CPU time in Observe (events already parsed).
	EventsPerSec float64            `json:"events_per_sec"`
	Missed       []scenario.Insider `json:"missed,omitempty"`
}

// Range is the minimum, median and maximum of a figure over worlds.
type Range struct {
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func rangeOf(xs []float64) Range {
	if len(xs) == 0 {
		return Range{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return Range{Min: s[0], Median: median(s), Max: s[len(s)-1]}
}

// Spread is an evaluation over many drawn worlds: each world's figures,
// their spread, and the pooled result.
type Spread struct {
	Split         string        `json:"split,omitempty"`
	Worlds        []WorldResult `json:"worlds"`
	Recall        Range         `json:"recall"`
	FalsePer1000  Range         `json:"false_per_1000_employee_days"`
	MedianRecords Range         `json:"median_records_before_alert"`
	EventsPerSec  Range         `json:"events_per_sec"`
	Pooled        Result        `json:"pooled"`
}

// RunSpread evaluates cfg on the world drawn from each seed
// (scenario.Draw), one at a time, streaming. progress, when not nil, is
// called after each world. With feedback, analysts close each false
// alert's case as benign (see RunFeedback).
func RunSpread(seeds []uint64, cfg detect.Config, progress func(WorldResult), feedback bool) Spread {
	var sp Spread
	var ps []scenario.Params
	var rec, fa, mr, eps []float64
	for _, seed := range seeds {
		p := scenario.Draw(seed)
		ps = append(ps, p)
		r, rates := runWorlds([]scenario.Params{p}, cfg, nil, feedback)
		w := WorldResult{
			Seed: seed, People: r.People, Days: p.Days, Variant: p.Variant,
			EmployeeDays: r.EmployeeDays, Events: r.Events,
			Insiders: r.Detectors.Insiders, Detected: r.Detectors.Detected, Recall: r.Detectors.Recall,
			FalseAlerts: r.Detectors.FalseAlerts, FalsePer1000: r.Detectors.FalsePer1000,
			MedianRecords: r.Detectors.MedianRecords, Missed: r.Missed,
		}
		if len(rates) > 0 {
			w.EventsPerSec = rates[0]
		}
		sp.Worlds = append(sp.Worlds, w)
		rec, fa, mr, eps = append(rec, w.Recall), append(fa, w.FalsePer1000), append(mr, w.MedianRecords), append(eps, w.EventsPerSec)
		sp.Pooled.merge(&r)
		if progress != nil {
			progress(w)
		}
	}
	sp.Pooled.finish()
	sp.Recall, sp.FalsePer1000, sp.MedianRecords, sp.EventsPerSec = rangeOf(rec), rangeOf(fa), rangeOf(mr), rangeOf(eps)
	return sp
}

// merge adds o's counts to r (rates are recomputed by finish).
func (r *Result) merge(o *Result) {
	if r.Kinds == nil {
		r.Kinds, r.FalseByKind, r.FalseByTrap = map[string]*KindScores{}, map[string]int{}, map[string]int{}
		r.BaselineRule = o.BaselineRule
	}
	r.Seeds = append(r.Seeds, o.Seeds...)
	r.People += o.People
	r.EmployeeDays += o.EmployeeDays
	r.Events += o.Events
	add := func(a, b *Scores) {
		a.Insiders += b.Insiders
		a.Detected += b.Detected
		a.FalseAlerts += b.FalseAlerts
		a.records = append(a.records, b.records...)
		a.hours = append(a.hours, b.hours...)
	}
	add(&r.Detectors, &o.Detectors)
	add(&r.Baseline, &o.Baseline)
	for k, v := range o.Kinds {
		x := r.Kinds[k]
		if x == nil {
			x = &KindScores{}
			r.Kinds[k] = x
		}
		x.Insiders += v.Insiders
		x.Detected += v.Detected
		x.records = append(x.records, v.records...)
		x.hours = append(x.hours, v.hours...)
	}
	for k, v := range o.FalseByKind {
		r.FalseByKind[k] += v
	}
	for k, v := range o.FalseByTrap {
		r.FalseByTrap[k] += v
	}
	r.Missed = append(r.Missed, o.Missed...)
	for _, a := range o.FalseSamples {
		if len(r.FalseSamples) < 20 {
			r.FalseSamples = append(r.FalseSamples, a)
		}
	}
}

// PrintWorld writes one world's line of the spread table.
func PrintWorld(w io.Writer, x WorldResult) {
	fmt.Fprintf(w, "%-9d %6d %4d %7d %9d %9.3f %5d/%-4d %8.2f (%2d) %8.0f %12.0f\n",
		x.Seed, x.People, x.Days, x.Variant, x.Events, x.Recall, x.Detected, x.Insiders,
		x.FalsePer1000, x.FalseAlerts, x.MedianRecords, x.EventsPerSec)
}

// PrintWorldHeader writes the header of the spread table.
func PrintWorldHeader(w io.Writer) {
	fmt.Fprintf(w, "%-9s %6s %4s %7s %9s %9s %10s %13s %8s %12s\n",
		"seed", "people", "days", "variant", "events", "recall", "detected", "false/1000", "records", "events/s")
}

// Print writes the spread's summary (after the per-world lines) and the
// pooled figures by kind.
func (sp Spread) Print(w io.Writer) {
	fmt.Fprintf(w, "\nspread over %d worlds (min / median / max):\n", len(sp.Worlds))
	r := func(name string, x Range, f string) {
		fmt.Fprintf(w, "  %-38s "+f+" / "+f+" / "+f+"\n", name, x.Min, x.Median, x.Max)
	}
	r("recall", sp.Recall, "%.3f")
	r("false alerts per 1,000 employee-days", sp.FalsePer1000, "%.2f")
	r("median records before first alert", sp.MedianRecords, "%.0f")
	r("events/s (engine, per CPU second)", sp.EventsPerSec, "%.0f")
	fmt.Fprintf(w, "goals: recall >= 0.95, <= 0.5 false alerts per 1,000 employee-days, median records <= 100, >= 300,000 events/s\n\n")
	fmt.Fprintf(w, "pooled:\n")
	sp.Pooled.Print(w)
}
