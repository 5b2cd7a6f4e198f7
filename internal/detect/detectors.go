package detect

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// Detector indexes (into person.findings) and their kinds.
const (
	detCanary = iota
	detBulk
	detVolume
	detPurpose
	detSlow
	detEnum
	detOffHours
	detForeign
	detNotice
	detRing
	numKinds
)

var kindNames = [numKinds]string{
	KindCanary, KindBulk, KindVolume, KindPurpose, KindSlow, KindEnum,
	KindOffHours, KindForeign, KindNotice, KindRing,
}

// check is what a detector sees: the engine, the person (already updated
// with the event) and the event.
type check struct {
	e  *Engine
	p  *person
	ev *event.Event
	s  float64 // sensitivity multiplier for thresholds
}

// detector scores one kind of insider behaviour for the person right now.
// A score of 0.7 means "at the alert threshold"; see scoreAt.
type detector interface {
	index() int
	check(c *check) (score float64, reason string)
}

func allDetectors() []detector {
	return []detector{
		canaryDet{}, bulkDet{}, volumeDet{}, purposeDet{}, slowDet{},
		enumDet{}, offHoursDet{}, foreignDet{}, noticeDet{}, ringDet{},
	}
}

// scoreAt maps an observation x against its threshold t to a score: 0.7 at
// x = t, about 0.9 at 2t, rising toward 1; zero below t/2.
func scoreAt(x, t float64) float64 {
	if t <= 0 || x < 0.5*t {
		return 0
	}
	return 1 - 0.3*math.Pow(t/x, 1.5)
}

// ownOK reports whether the person's own baseline is trusted.
func (c *check) ownOK() bool { return c.p.base.days >= c.e.cfg.MinHistoryDays }

// peers returns today's quantiles for the narrowest group with enough
// active members (falling back to wider groups), or nil.
func (c *check) peers() *groupQ {
	for _, g := range c.p.groups {
		if q := g.quantiles(); q.active >= minPeers {
			return q
		}
	}
	return nil
}

// longPeers returns the long-run median weighted reads of the narrowest
// group with history.
func (c *check) longPeersW() (float64, bool) {
	for _, g := range c.p.groups {
		if g.longDays >= 2 && g.members >= 3 {
			return g.longW5 / 5, true
		}
	}
	return 0, false
}

// explainedShare is the share of today's new customers that were explained.
func (c *check) explainedShare() float64 {
	t := &c.p.today
	if t.reads == 0 {
		return 0
	}
	return 1 - float64(t.unexpl)/float64(t.reads)
}

type canaryDet struct{}

func (canaryDet) index() int { return detCanary }
func (canaryDet) check(c *check) (float64, string) {
	if c.ev.Canary {
		return 1, "read a canary record"
	}
	return 0, ""
}

// bulkDet: many weighted reads within the last hour.
type bulkDet struct{}

func (bulkDet) index() int { return detBulk }
func (bulkDet) check(c *check) (float64, string) {
	x := float64(c.p.today.hourMaxW5) / 5
	t := 15.0
	if c.ownOK() {
		t = math.Max(t, 3*c.p.base.hourWP90)
	}
	if q := c.peers(); q != nil {
		t = math.Max(t, 3*q.hourWQ90)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	return sc, fmt.Sprintf("%.0f unexplained-weighted reads within an hour (threshold %.0f)", x, t)
}

// volumeDet: distinct customers today far above own usual and today's peers.
type volumeDet struct{}

func (volumeDet) index() int { return detVolume }
func (volumeDet) check(c *check) (float64, string) {
	x := float64(c.p.today.reads)
	t := 80.0
	ref, refName := 0.0, ""
	if c.ownOK() {
		t = math.Max(t, 5*c.p.base.readsP90)
		ref, refName = c.p.base.readsP90, "own usual"
	}
	if q := c.peers(); q != nil {
		t = math.Max(t, 4*q.readsQ90)
		if q.readsQ50 > 0 && refName == "" {
			ref, refName = q.readsQ50, "peer median"
		}
	}
	t *= c.s * (1 + 2*c.explainedShare())
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	if ref > 0 {
		return sc, fmt.Sprintf("reads %.0f customers today, %.0fx %s", x, x/ref, refName)
	}
	return sc, fmt.Sprintf("reads %.0f customers today", x)
}

// purposeDet: reads under tickets the reader opened for customers who left
// no other trace of a visit (made-up purposes), or with no valid purpose.
type purposeDet struct{}

func (purposeDet) index() int { return detPurpose }
func (purposeDet) check(c *check) (float64, string) {
	x := float64(c.p.today.w5) / 5
	t := 12.0
	if c.ownOK() {
		t = math.Max(t, 3*c.p.base.wP90)
	}
	if q := c.peers(); q != nil {
		t = math.Max(t, 2.5*q.wQ90)
	} else if lw, ok := c.longPeersW(); ok {
		t = math.Max(t, 3*lw)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	u := c.p.today.unexpl
	return sc, fmt.Sprintf("%d of %d customers today left no trace of a visit (%.0f%% unexplained)",
		u, c.p.today.reads, 100*float64(u)/float64(max(c.p.today.reads, 1)))
}

// slowDet: weighted reads above peers, sustained over days (EWMA).
type slowDet struct{}

func (slowDet) index() int { return detSlow }
func (slowDet) check(c *check) (float64, string) {
	p := c.p
	if p.ewmaDays < 2 {
		return 0, ""
	}
	lw, ok := c.longPeersW()
	if !ok {
		return 0, ""
	}
	// Include today's partial evidence once it exceeds the average.
	x := p.ewmaW
	if tw := float64(p.today.w5) / 5; tw > x {
		x = 0.7*p.ewmaW + 0.3*tw
	}
	t := math.Max(1.8*lw+3, lw+8) * c.s
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	return sc, fmt.Sprintf("unexplained reads %.1f/day over recent days, %.1fx peer median", x, x/math.Max(lw, 0.5))
}

// enumDet: lookups of records that do not exist, and walks through ids.
type enumDet struct{}

func (enumDet) index() int { return detEnum }
func (enumDet) check(c *check) (float64, string) {
	x := float64(c.p.today.miss + c.p.today.seq)
	t := 10.0
	if c.ownOK() {
		t = math.Max(t, 4*c.p.base.missP90+3)
	}
	if q := c.peers(); q != nil {
		t = math.Max(t, 3*q.missQ90+3)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	return sc, fmt.Sprintf("%d lookups of missing records and %d sequential ids today", c.p.today.miss, c.p.today.seq)
}

// offHoursDet: reads at hours outside the person's own pattern.
type offHoursDet struct{}

func (offHoursDet) index() int { return detOffHours }
func (offHoursDet) check(c *check) (float64, string) {
	x := float64(c.p.today.offW5) / 5
	t := 8.0
	if c.ownOK() {
		t = math.Max(t, 3*c.p.base.offWP90+2)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 {
		return 0, ""
	}
	return sc, fmt.Sprintf("%.0f weighted reads at hours this person does not work", x)
}

// foreignDet: customers from regions or sites the person and peers do not serve.
type foreignDet struct{}

func (foreignDet) index() int { return detForeign }
func (foreignDet) check(c *check) (float64, string) {
	p := c.p
	n := float64(p.today.reads)
	refR, refS, known := 0.0, 0.0, false
	if p.shReads >= 100 && c.ownOK() {
		refR, refS, known = float64(p.shForeignR/p.shReads), float64(p.shForeignS/p.shReads), true
	}
	for _, g := range p.groups[:grpRole] {
		if r, s, ok := g.foreignShares(); ok {
			refR, refS, known = math.Max(refR, r), math.Max(refS, s), true
		}
	}
	if !known {
		return 0, ""
	}
	best, reason := 0.0, ""
	for _, k := range []struct {
		x, ref float64
		what   string
	}{
		{float64(p.today.foreignR), refR, "region"},
		{float64(p.today.foreignS), refS, "site"},
	} {
		exp := k.ref * n
		t := math.Max(10, 2*exp+3*math.Sqrt(exp)+6) * c.s
		if sc := scoreAt(k.x, t); sc > best {
			best = sc
			reason = fmt.Sprintf("%.0f%% of customers today outside own %s (usual %.0f%%)", 100*k.x/n, k.what, 100*k.ref)
		}
	}
	return best, reason
}

// noticeDet: volume above own usual after giving notice.
type noticeDet struct{}

func (noticeDet) index() int { return detNotice }
func (noticeDet) check(c *check) (float64, string) {
	p := c.p
	if !p.noticeGiven {
		return 0, ""
	}
	r, w := float64(p.today.reads), float64(p.today.w5)/5
	tr, tw := 20.0, 8.0
	if c.ownOK() {
		tr = math.Max(tr, 1.6*p.base.readsP90)
		tw = math.Max(tw, 1.8*p.base.wP90+3)
	}
	if q := c.peers(); q != nil {
		tr = math.Max(tr, 1.8*q.readsQ90)
		tw = math.Max(tw, 1.8*q.wQ90+3)
	} else if lw, ok := c.longPeersW(); ok && !c.ownOK() {
		tw = math.Max(tw, 2*lw+3)
	}
	tr *= c.s * (1 + 1.5*c.explainedShare())
	tw *= c.s
	sr, sw := scoreAt(r, tr), scoreAt(w, tw)
	sc := math.Max(sr, sw)
	if sc == 0 {
		return 0, ""
	}
	ref := math.Max(p.base.readsP90, 1)
	return sc, fmt.Sprintf("after giving notice: %.0f customers today, %.1fx own usual", r, r/ref)
}

// ringDet: several people at one site elevated the same day while their
// role as a whole is not.
type ringDet struct{}

func (ringDet) index() int { return detRing }
func (ringDet) check(c *check) (float64, string) {
	p := c.p
	w := float64(p.today.w5) / 5
	if !p.elevated {
		ref, ok := 0.0, false
		if c.ownOK() {
			ref, ok = p.base.wP75, true
		} else if g := p.groups[grpRegion]; g.longDays >= 2 {
			ref, ok = g.longW5/5, true
		}
		if !ok || w < math.Max(6, 1.6*ref+4)*c.s {
			return 0, ""
		}
		p.elevated = true
		p.siteSt.elevated++
		p.groups[grpRole].elevated++
	}
	st := p.siteSt
	n := st.elevated
	if n < 2 || (n < 3 && st.active > 4) || float64(n) < 0.3*float64(st.active) {
		return 0, ""
	}
	if q := p.groups[grpRole].quantiles(); q.active >= 8 && float64(p.groups[grpRole].elevated) > 0.2*float64(q.active) {
		return 0, "" // the whole role is up today: a launch, not a ring
	}
	sc := math.Min(0.95, 0.72+0.06*float64(n-2))
	return sc, fmt.Sprintf("%d of %d active colleagues at this site rising together today", n, st.active)
}

// evaluate runs the detectors for p after ev and returns any alert.
func (e *Engine) evaluate(p *person, ev *event.Event, u instant, changed bool) []Alert {
	if !changed && !ev.Canary {
		return nil
	}
	c := check{e: e, p: p, ev: ev, s: e.cfg.Sensitivity}
	if p.noticeGiven {
		c.s *= 0.85
	}
	for _, d := range e.dets {
		sc, reason := d.check(&c)
		i := d.index()
		if sc > p.findings[i].score {
			p.findings[i] = finding{score: sc, reason: reason}
		}
	}
	// Combine: the strongest finding, plus half the second's share of what
	// is left.
	var top [2]float64
	ki := -1
	for i, f := range p.findings {
		switch {
		case f.score > top[0]:
			top[1], top[0], ki = top[0], f.score, i
		case f.score > top[1]:
			top[1] = f.score
		}
	}
	risk := top[0]
	if top[1] >= 0.3 {
		risk += (1 - top[0]) * top[1] * 0.5
	}
	risk = math.Round(risk*1000) / 1000
	p.risk0 = risk
	if ki >= 0 {
		p.kind = kindNames[ki]
	}
	p.updated = instInfo{unix: ev.Time.Unix(), nsec: int32(ev.Time.Nanosecond())}
	level := int8(0)
	switch {
	case risk >= e.cfg.SuspendScore:
		level = 3
	case risk >= e.cfg.StepUpScore:
		level = 2
	case risk >= e.cfg.AlertScore:
		level = 1
	}
	if level <= p.alertLevel {
		return nil
	}
	p.alertLevel = level
	a := Alert{
		Actor:   p.id,
		Time:    ev.Time.UTC(),
		Score:   risk,
		Reasons: p.reasons(),
		Records: p.total.estimate(),
		Kind:    p.kind,
		Org:     p.org,
		Site:    p.site,
	}
	switch level {
	case 3:
		a.Action = ActionSuspend
	case 2:
		a.Action = ActionStepUp
	}
	return []Alert{a}
}

func unixTime(i instInfo) time.Time { return time.Unix(i.unix, int64(i.nsec)).UTC() }

// sortAlerts orders alerts by time then actor (for deterministic output).
func sortAlerts(as []Alert) {
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].Time.Equal(as[j].Time) {
			return as[i].Time.Before(as[j].Time)
		}
		return as[i].Actor < as[j].Actor
	})
}
