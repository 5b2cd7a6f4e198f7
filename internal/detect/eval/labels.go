package eval

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// Label is one known insider in a user's own history.
type Label struct {
	Actor string
	Kind  string
	// From is when their abuse began; zero means from their first event.
	From time.Time
}

// ErrLabels is wrapped by ParseLabels' errors.
var ErrLabels = errors.New("bad labels file")

// ParseLabels reads a labels file: CSV with a header naming actor and,
// optionally, kind and from (RFC 3339, or a date 2006-01-02 meaning its
// UTC midnight). One row per insider; everyone else in the events is
// taken to be legitimate. Lines starting with # are comments.
func ParseLabels(r io.Reader) ([]Label, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrLabels, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	ia, ok := col["actor"]
	if !ok {
		return nil, fmt.Errorf("%w: the header must name an actor column (actor,kind,from)", ErrLabels)
	}
	get := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Label
	seen := map[string]bool{}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLabels, err)
		}
		l := Label{Kind: get(rec, "kind")}
		if ia < len(rec) {
			l.Actor = strings.TrimSpace(rec[ia])
		}
		if l.Actor == "" {
			return nil, fmt.Errorf("%w: line %d: empty actor", ErrLabels, line)
		}
		if seen[l.Actor] {
			return nil, fmt.Errorf("%w: line %d: actor %s listed twice", ErrLabels, line, l.Actor)
		}
		seen[l.Actor] = true
		if f := get(rec, "from"); f != "" {
			t, err := time.Parse(time.RFC3339, f)
			if err != nil {
				t, err = time.Parse("2006-01-02", f)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: from %q is not RFC 3339 (2026-03-02T09:00:00Z) or a date", ErrLabels, line, f)
			}
			l.From = t
		}
		out = append(out, l)
	}
}

// Labelled scores cfg's detectors on a user's own history: the events of
// r (JSON lines) with the known insiders in labels. An alert on a labelled
// actor at or after their From detects them; any other alert is false
// (counted once per actor and UTC day). Records before the first alert
// are the distinct customers the insider read from From on. Employee-days
// are, for each actor who read, searched or opened tickets, the UTC days
// from their first such event to their last. The SIEM rule is scored on
// the same events.
func Labelled(ctx context.Context, r io.Reader, labels []Label, cfg detect.Config) (Result, error) {
	w := &scenario.World{Traps: map[string]string{}}
	lab := map[string]Label{}
	for _, l := range labels {
		lab[l.Actor] = l
		if !l.From.IsZero() {
			w.Insiders = append(w.Insiders, scenario.Insider{Actor: l.Actor, Kind: l.Kind, From: l.From})
		}
	}
	res := Result{BaselineRule: BaselineRule, Kinds: map[string]*KindScores{},
		FalseByKind: map[string]int{}, FalseByTrap: map[string]int{}}
	mk := func(s *Scores, kinds map[string]*KindScores) *tracker {
		return &tracker{w: w, illicit: map[string]map[string]bool{}, first: map[string]bool{},
			seen: map[string]bool{}, s: s, kinds: kinds}
	}
	det, bl := mk(&res.Detectors, res.Kinds), mk(&res.Baseline, nil)
	det.onFalse = func(a detect.Alert) {
		res.FalseByKind[a.Kind]++
		res.FalseByTrap["other"]++
		if len(res.FalseSamples) < 20 {
			res.FalseSamples = append(res.FalseSamples, a)
		}
	}
	type span struct{ first, last int64 }
	spans := map[string]*span{}
	eng := detect.New(cfg)
	base := newSIEM()
	n, err := Observe(ctx, r, &tapEngine{eng: eng, before: func(ev *event.Event) {
		switch ev.Action {
		case event.ActionRead, event.ActionExport, event.ActionSearch, event.ActionTicketCreate:
			d := ev.Time.Unix() / 86400
			if s := spans[ev.Actor]; s == nil {
				spans[ev.Actor] = &span{d, d}
			} else {
				s.first, s.last = min(s.first, d), max(s.last, d)
			}
		}
		l, ok := lab[ev.Actor]
		if ok && l.From.IsZero() {
			// From their first event.
			l.From = ev.Time
			lab[ev.Actor] = l
			w.Insiders = append(w.Insiders, scenario.Insider{Actor: l.Actor, Kind: l.Kind, From: l.From})
		}
		illicit := ok && !ev.Time.Before(l.From)
		det.event(ev, illicit)
		bl.event(ev, illicit)
		if base.observe(ev) {
			bl.alert(ev.Actor, ev.Time, nil)
		}
	}}, func(a detect.Alert) error {
		det.alert(a.Actor, a.Time, &a)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	res.Events = n
	for _, s := range spans {
		res.EmployeeDays += int(s.last-s.first) + 1
	}
	res.People = len(spans)
	for _, l := range labels {
		res.Detectors.Insiders++
		res.Baseline.Insiders++
		k := res.Kinds[l.Kind]
		if k == nil {
			k = &KindScores{}
			res.Kinds[l.Kind] = k
		}
		k.Insiders++
		if !det.first[l.Actor] {
			res.Missed = append(res.Missed, scenario.Insider{Actor: l.Actor, Kind: l.Kind, From: lab[l.Actor].From})
		}
	}
	res.finish()
	return res, nil
}

// LabelledFiles scores cfg's detectors on the access events in eventsPath
// (JSON lines) against the known insiders in labelsPath (CSV).
func LabelledFiles(ctx context.Context, eventsPath, labelsPath string, cfg detect.Config) (Result, error) {
	lf, err := os.Open(labelsPath)
	if err != nil {
		return Result{}, err
	}
	defer lf.Close()
	ls, err := ParseLabels(lf)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", labelsPath, err)
	}
	ef, err := os.Open(eventsPath)
	if err != nil {
		return Result{}, err
	}
	defer ef.Close()
	res, err := Labelled(ctx, ef, ls, cfg)
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", eventsPath, err)
	}
	return res, nil
}

// ParseSeeds reads a comma-separated list of seeds ("1,2,3").
func ParseSeeds(list string) ([]uint64, error) {
	var seeds []uint64
	for _, s := range strings.Split(list, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q in --seeds (want numbers like 1,2,3)", s)
		}
		seeds = append(seeds, v)
	}
	return seeds, nil
}
