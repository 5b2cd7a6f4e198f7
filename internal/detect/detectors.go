package detect

import (
	"fmt"
	"math"
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
	detCodes
	detRelay
	detRecords
	detOnce
	numKinds
)

var kindNames = [numKinds]string{
	KindCanary, KindBulk, KindVolume, KindPurpose, KindSlow, KindEnum,
	KindOffHours, KindForeign, KindNotice, KindRing, KindCodes, KindRelay, KindRecords,
	KindOnce,
}

// check is what a detector sees: the engine, the person (already updated
// with the event) and the event.
type check struct {
	e  *Engine
	p  *person
	ev *event.Event
	s  float64 // sensitivity multiplier for thresholds
	// why is set when the caller wants the reason text (formatting is
	// skipped otherwise: most checks change nothing).
	why bool
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
		codesDet{}, relayDet{}, recordsDet{}, onceDet{},
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
	if sc == 0 || !c.why {
		return sc, ""
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
		if !c.why {
			return sc, ""
		}
		return sc, fmt.Sprintf("reads %.0f customers today, %.0fx %s", x, x/ref, refName)
	}
	if !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("reads %.0f customers today", x)
}

// unexplShare is the share of reads that leave no trace of a visit among
// the person's wider peers (same role and region, else same role).
// The second result is how much people's habits differ around it.
func (c *check) unexplShare() (share, habit float64, ok bool) {
	for _, g := range []*group{c.p.groups[grpRegion], c.p.groups[grpRole]} {
		if g.shReads >= 200 {
			s := g.shUnexpl / g.shReads
			// A typical member-day's share, not only the pooled one: a few
			// big explained batches must not set everyone's bar.
			hg := g
			for _, w := range []*group{g, c.p.groups[grpRole]} {
				if w.unexplH.n >= 30 {
					hg = w
					s = math.Max(s, w.unexplH.median())
					break
				}
			}
			return s, hg.unexplH.habit(s, habitSD), true
		}
	}
	return 0, 0, false
}

// lasting returns how much the person's peers' lasting habits differ in
// the share that pick selects (members' own long-run shares; see
// memberSpread), at share s: same role and region, else same role.
func (c *check) lasting(pick func(*group) *memberSpread, s float64) float64 {
	for _, g := range c.p.groups[grpRegion:] {
		if m := pick(g); m.n >= 20 {
			return m.tau(s, 0.05)
		}
	}
	return 0.05
}

// weekHabit is the habit spread to use for a share summed over days:
// the lasting part (tau) stays whatever the days, the day-to-day rest
// averages out over them.
func weekHabit(habit, tau float64, days int) float64 {
	t2 := math.Min(tau*tau, habit*habit)
	return math.Sqrt(t2 + (habit*habit-t2)/float64(max(days, 1)))
}

func memU(g *group) *memberSpread { return &g.memU }
func memW(g *group) *memberSpread { return &g.memW }

// ownShare is the person's own smoothed unexplained share, once there is
// enough history to trust it.
func (c *check) ownShare() (float64, bool) {
	if !c.ownOK() || c.p.shR < 100 {
		return 0, false
	}
	return float64(c.p.shU / c.p.shR), true
}

// habitSD is the default spread of people's unexplained share around their
// peers' (habits differ: some staff search every customer, some rarely),
// until a group has learned its own.
const habitSD = 0.08

// ownHabitSD is how much a person's own share drifts from week to week.
const ownHabitSD = 0.025

// excess returns how many more unexplained reads there are among r reads
// than the peer share s predicts, and that excess in standard deviations
// (binomial noise plus a spread of personal habits).
func excessSD(u, r, s, habit float64) (e, z float64) {
	e = u - s*r
	v := r*s*(1-s) + habit*habit*r*r + 1
	return e, e / math.Sqrt(v)
}

// purposeDet: reads under tickets the reader opened for customers who left
// no other trace of a visit (made-up purposes), or with no valid purpose.
type purposeDet struct{}

func (purposeDet) index() int { return detPurpose }
func (purposeDet) check(c *check) (float64, string) {
	t := &c.p.today
	u, r := float64(t.unexpl), float64(t.reads)
	best := 0.0
	share, habit, ok := c.unexplShare()
	if ok {
		e, z := excessSD(u, r, share, habit)
		best = math.Min(scoreAt(e, 12*c.s), scoreAt(z, 4.5*c.s))
	}
	if ok {
		if best == 0 {
			return 0, ""
		}
		if !c.why {
			return best, ""
		}
		return best, fmt.Sprintf("%d of %d customers today left no trace of a visit (%.0f%% unexplained, peers %.0f%%)",
			t.unexpl, t.reads, 100*u/math.Max(r, 1), 100*share)
	}
	// No peer habits known yet: against the person's own usual and today's
	// peers, in weighted reads.
	x := float64(t.w5) / 5
	th := 12.0
	if c.ownOK() {
		th = math.Max(th, 3*c.p.base.wP90)
	}
	if q := c.peers(); q != nil {
		th = math.Max(th, 2.5*q.wQ90)
	} else if lw, ok := c.longPeersW(); ok {
		th = math.Max(th, 3*lw)
	}
	best = math.Max(best, scoreAt(x, th*c.s))
	if best == 0 {
		return 0, ""
	}
	if !c.why {
		return best, ""
	}
	return best, fmt.Sprintf("%d of %d customers today left no trace of a visit (%.0f%% unexplained)",
		t.unexpl, t.reads, 100*u/math.Max(r, 1))
}

// slowWindow is how many days (today included) slow-and-low sums over.
const slowWindow = 7

// slowDet: unexplained reads above what peers' habits predict, summed over
// the last week (tens a day add up), or well above the person's own earlier
// weeks.
type slowDet struct{}

func (slowDet) index() int { return detSlow }
func (slowDet) check(c *check) (float64, string) {
	p := c.p
	u, r := float64(p.today.unexpl), float64(p.today.reads)
	days := 1
	n := min(p.nHist, historyDays)
	var oldShare, oldReads [historyDays]float64
	no := 0
	var recentReads float64 // completed recent days, normalised
	recentDays := 0
	for i := 0; i < n; i++ {
		d := &p.hist[i]
		f := math.Max(float64(d.factor), 0.1)
		if d.day > p.day-slowWindow {
			u += float64(d.unexpl)
			r += float64(d.reads)
			days++
			recentReads += float64(d.reads) / f
			recentDays++
		} else if d.reads >= 5 {
			oldShare[no] = float64(d.unexpl) / float64(d.reads)
			oldReads[no] = float64(d.reads) / f
			no++
		}
	}
	if days < 2 {
		return 0, ""
	}
	best, reason := 0.0, ""
	if share, habit, ok := c.unexplShare(); ok {
		e, z := excessSD(u, r, share, weekHabit(habit, c.lasting(memU, share), days))
		if sc := math.Min(scoreAt(e, 20*c.s), scoreAt(z, 5*c.s)); sc > 0 {
			best = sc
			if c.why {
				reason = fmt.Sprintf("%.0f unexplained reads over %d days, %.0f more than peers' habits predict", u, days, e)
			}
		}
	}
	if no < 7 {
		// Too new for their own history: their volume against their
		// peers' busy days (90th percentile) from the first week on.
		if sc, why := c.newcomer(); sc > best {
			best, reason = sc, why
		}
		return best, reason
	}
	// The person's own earlier weeks. Their usual share of unexplained
	// reads (the median day's, so one big batch does not set it), and
	// their usual daily volume (normalised for launch days).
	own := quantile(oldShare[:no], 0.5)
	e, z := excessSD(u, r, own, ownHabitSD)
	if sc := math.Min(scoreAt(e, 25*c.s), scoreAt(z, 5*c.s)); sc > best {
		best = sc
		if c.why {
			reason = fmt.Sprintf("%.0f unexplained reads over %d days, %.1fx own usual share", u, days, u/math.Max(own*r, 1))
		}
	}
	// Volume against own history is noisy (days off, busy days at the
	// store): the bar is high. (It was lower where most reads are
	// unexplained anyway, for harvests that showed only as volume there;
	// the once detector now sees them, and the lower bar raised false
	// alerts on busy weeks.)
	minE, minZ := 40.0, 6.0
	if recentDays >= 2 && !p.spansMidnight() {
		med := quantile(oldReads[:no], 0.75) // upper quartile: night shifts split over two dates
		if p.nEarly == earlyDays {
			// A baseline may grow, but not by much past the person's
			// first weeks: a slow ramp must not train its own bar up.
			med = math.Min(med, 1.3*earlyQ75(p))
		}
		exp := med * float64(recentDays)
		e := recentReads - exp
		z := e / math.Sqrt(exp+0.04*med*med*float64(recentDays)+1)
		if sc := math.Min(scoreAt(e, minE*c.s), scoreAt(z, minZ*c.s)); sc > best {
			best = sc
			if c.why {
				reason = fmt.Sprintf("%.0f customers over the last %d days, %.1fx own usual", recentReads, recentDays, recentReads/math.Max(exp, 1))
			}
		}
	}
	return best, reason
}

func earlyQ75(p *person) float64 {
	var xs [earlyDays]float64
	for i, x := range p.early[:p.nEarly] {
		xs[i] = float64(x)
	}
	return quantile(xs[:p.nEarly], 0.75)
}

// newcomer compares a person without a week of their own history with
// the 90th percentile of their peers' distinct reads on the same days.
func (c *check) newcomer() (float64, string) {
	p := c.p
	if !p.newcomer || p.spansMidnight() {
		return 0, ""
	}
	g := p.groups[grpRegion]
	if g.members < minPeers {
		g = p.groups[grpRole]
	}
	var x, exp float64
	days := 0
	for i := 0; i < min(p.nHist, historyDays); i++ {
		d := &p.hist[i]
		if d.day <= p.day-slowWindow {
			continue
		}
		gd, ok := g.dayStats(d.day)
		if !ok || gd.highReads <= 0 {
			continue
		}
		x += float64(d.reads)
		exp += gd.highReads
		days++
	}
	if days < 2 {
		return 0, ""
	}
	// People's speeds differ for good, day after day: the spread of
	// their sum grows with the days, not with its square root.
	e := x - exp
	z := e / math.Sqrt(exp+0.04*exp*exp+1)
	sc := math.Min(scoreAt(e, 40*c.s), scoreAt(z, 4*c.s))
	if sc == 0 || !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("new: %.0f customers over their first %d days, %.1fx what busy peers read", x, days, x/math.Max(exp, 1))
}

// enumDet: lookups of records that do not exist, and walks through ids.
type enumDet struct{}

func (enumDet) index() int { return detEnum }
func (enumDet) check(c *check) (float64, string) {
	x := float64(c.p.today.miss + c.p.today.seq)
	// Misses must be a good part of today's lookups: a busy agent's few
	// mistyped numbers are not a walk.
	t := math.Max(10, 0.25*float64(c.p.today.searches+c.p.today.reads))
	if c.ownOK() {
		t = math.Max(t, 4*c.p.base.missP90+3)
	}
	if q := c.peers(); q != nil {
		t = math.Max(t, 3*q.missQ90+3)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 || !c.why {
		return sc, ""
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
	if sc == 0 || !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("%.0f weighted reads at hours this person does not work", x)
}

// foreignDet: customers from regions or sites the person and peers do not
// serve, weighted by how they were read (whole records with no trace of a
// visit count most), today and over the last week.
type foreignDet struct{}

func (foreignDet) index() int { return detForeign }
func (foreignDet) check(c *check) (float64, string) {
	p := c.p
	n := float64(p.today.reads)
	if p.today.foreignR+p.today.foreignS == 0 {
		return 0, ""
	}
	refR, refS, refW, known := 0.0, 0.0, 0.0, false
	for i, g := range p.groups[:grpRole] {
		if i == grpSite && g.members < 8 {
			continue // a small team: one harvester would set the bar
		}
		if r, s, ok := g.foreignShares(); ok {
			refR, refS, refW, known = math.Max(refR, r), math.Max(refS, s), math.Max(refW, g.refW), true
		}
	}
	if p.shReads >= 100 && c.ownOK() {
		// The person's own share, pulled toward their peers' as far as
		// people's habits usually differ (a harvest that blends in must
		// not teach its own bar).
		oR, oS, oW := float64(p.shForeignR/p.shReads), float64(p.shForeignS/p.shReads), float64(p.shFW/p.shReads)
		if known {
			tau := c.lasting(func(g *group) *memberSpread { return &g.memF }, refW)
			n := float64(p.shReads)
			oR, oS, oW = shrink(oR, n, refR, tau), shrink(oS, n, refS, tau), shrink(oW, n, refW, tau)
		}
		refR, refS, refW, known = math.Max(refR, oR), math.Max(refS, oS), math.Max(refW, oW), true
	}
	if !known {
		return 0, ""
	}
	// A colleague covering one other store serves one other region; a
	// harvest from a bought list spreads over several.
	top, all, whole := float64(topCount(&p.today.fTop)), float64(p.today.foreignR), float64(p.today.fWhole)
	usualWhole := 0.0
	for _, g := range []*group{p.groups[grpRegion], p.groups[grpRole]} {
		if g.shReads >= 200 {
			usualWhole = g.shWholeAll / g.shReads
			break
		}
	}
	x := float64(p.today.fw10) / 10
	best, reason := 0.0, ""
	for _, k := range []struct {
		raw, ref float64
		what     string
	}{
		{float64(p.today.foreignR), refR, "region"},
		{float64(p.today.foreignS), refS, "site"},
	} {
		if k.raw == 0 {
			continue
		}
		exp := math.Min(k.ref, refW) * n
		t := math.Max(10, 2*exp+3*math.Sqrt(exp)+6) * c.s * concentration(top, all, whole, usualWhole, n)
		if sc := scoreAt(math.Min(x, k.raw), t); sc > best {
			best = sc
			if c.why {
				reason = fmt.Sprintf("%.0f%% of customers today outside own %s (usual %.0f%%), taking whole records with no trace of a visit",
					100*k.raw/n, k.what, 100*k.ref)
			}
		}
	}
	// The last week: a few a day, every day, in place of the usual work.
	wx, wn, days := x, n, 1
	for i := 0; i < min(p.nHist, historyDays); i++ {
		d := &p.hist[i]
		if d.day > p.day-slowWindow && !coverDay(d) {
			wx += float64(d.fw10) / 10
			wn += float64(d.reads)
			top += float64(d.fTop)
			all += float64(d.fAll)
			whole += float64(d.fWhole)
			days++
		}
	}
	if days >= 2 {
		exp := refW * wn
		t := math.Max(12, 2*exp+3*math.Sqrt(exp)+8) * c.s * concentration(top, all, whole, usualWhole, wn)
		if sc := scoreAt(wx, t); sc > best {
			best = sc
			if c.why {
				reason = fmt.Sprintf("customers from other regions or sites over %d days weigh %.0f (expected %.0f): whole records taken with no trace of a visit",
					days, wx, exp)
			}
		}
	}
	return best, reason
}

// coverDay reports a past day spent serving one other region's customers
// and hardly any of the person's own: covering a store there. Its foreign
// customers are the cover's, not a harvest blended into the usual work,
// so the week's sum leaves it out (a day's own bar rises for it alike; see
// concentration).
func coverDay(d *dayStat) bool {
	return d.fAll >= 5 && float64(d.fTop) >= 0.8*float64(d.fAll) && float64(d.fAll) >= 0.85*float64(d.reads)
}

// concentration raises the foreign bar when most foreign customers come
// from one region and no more of their records were taken whole than the
// person's peers usually take: a colleague covering a store there, not a
// harvest from a list. Someone who served nobody but that region's
// customers (of reads in all) was away covering it, not blending a harvest
// into their own work: the bar rises most.
func concentration(top, all, whole, usualWhole, reads float64) float64 {
	if all < 5 || whole > math.Max(0.5, usualWhole+0.15)*all {
		return 1
	}
	if top >= 0.8*all && all >= 0.85*reads {
		return 5
	}
	return 1 + 6*math.Max(0, top/all-0.6)
}

// wholeShare is the share of customers whose whole record is taken, by
// peers (same role and region, else same role) or, when higher, by the
// person in earlier weeks, capped a little above the peers' so that a
// slow ramp cannot raise its own bar; and how much habits differ.
func (c *check) wholeShare() (share, habit float64, ok bool) {
	p := c.p
	for _, g := range []*group{p.groups[grpRegion], p.groups[grpRole]} {
		if g.shReads < 200 {
			continue
		}
		share, habit, ok = g.shWhole/g.shReads, habitSD, true
		if g.wholeH.n >= 30 {
			share = math.Max(share, g.wholeH.median())
			habit = g.wholeH.habit(share, habitSD)
		}
		break
	}
	if !ok {
		return 0, 0, false
	}
	return c.withOwn(share, p.shWh, p.shR, memW), habit, true
}

// withOwn raises a peers' share to the person's own decayed share (own of
// reads), once there is enough of it, shrunk toward the peers' by how
// much members' lasting habits (mem) differ.
func (c *check) withOwn(share float64, own, reads float32, mem func(*group) *memberSpread) float64 {
	if !c.ownOK() || reads < 100 {
		return share
	}
	return math.Max(share, shrink(float64(own/reads), float64(reads), share, c.lasting(mem, share)))
}

// shareScore scores a count x of r today against the share peers'
// habits predict, and the count and base summed with the past days of
// the slow window (pick: a day's) against the habit's spread over those
// days (mem: members' lasting habits). It returns the higher score and,
// when c.why, the reason: the format today or week, given the count and
// the base (and for week the days), then the share in percent.
func (c *check) shareScore(x, r, share, habit float64, mem func(*group) *memberSpread, pick func(*dayStat) (x, r uint16), today, week string) (float64, string) {
	p := c.p
	e, z := excessSD(x, r, share, habit)
	best := math.Min(scoreAt(e, 12*c.s), scoreAt(z, 4.5*c.s))
	wx, wr, days := x, r, 1
	for i := 0; i < min(p.nHist, historyDays); i++ {
		if d := &p.hist[i]; d.day > p.day-slowWindow {
			dx, dr := pick(d)
			wx += float64(dx)
			wr += float64(dr)
			days++
		}
	}
	overWeek := false
	if days >= 2 {
		e, z := excessSD(wx, wr, share, weekHabit(habit, c.lasting(mem, share), days))
		if sc := math.Min(scoreAt(e, 20*c.s), scoreAt(z, 5*c.s)); sc > best {
			best, overWeek = sc, true
		}
	}
	switch {
	case best == 0 || !c.why:
		return best, ""
	case overWeek:
		return best, fmt.Sprintf(week, wx, wr, days, 100*share)
	}
	return best, fmt.Sprintf(today, x, r, 100*share)
}

// recordsDet: more whole records taken (phone and account, not only what
// the task needs) than peers' habits predict, today and over the week.
type recordsDet struct{}

func (recordsDet) index() int { return detRecords }
func (recordsDet) check(c *check) (float64, string) {
	p := c.p
	share, habit, ok := c.wholeShare()
	if !ok || share > 0.9 {
		return 0, "" // everyone takes whole records: nothing to compare
	}
	return c.shareScore(float64(p.today.whole), float64(p.today.reads), share, habit,
		memW, func(d *dayStat) (uint16, uint16) { return d.whole, d.reads },
		"took the whole record of %.0f of %.0f customers today (peers %.0f%%)",
		"took the whole record of %.0f of %.0f customers over %d days (peers %.0f%%)")
}

// onceShare is the share of customers whose record is opened only once
// in a day, by peers (same role and region, else same role) or, when
// higher, by the person in earlier weeks, shrunk toward the peers' (a
// harvest must not teach its own bar); and how much habits differ.
func (c *check) onceShare() (share, habit float64, ok bool) {
	p := c.p
	for _, g := range []*group{p.groups[grpRegion], p.groups[grpRole]} {
		if g.onceH.n < 30 || g.shOnceB < 200 {
			continue
		}
		share = math.Max(g.shOnce/g.shOnceB, g.onceH.median())
		if g.onceD.n >= 20 {
			share = math.Max(share, g.onceD.sx/g.onceD.n)
		}
		habit, ok = g.onceD.tau(share, habitSD), true
		break
	}
	if !ok {
		return 0, 0, false
	}
	return c.withOwn(share, p.shO, p.shOB, memO), habit, true
}

func memO(g *group) *memberSpread { return &g.memO }

// onceSettle is how many of today's customers opened once so far may
// still be opened again (the visit in progress).
const onceSettle = 2

// onceDet: more customers whose record was opened once and never again
// than peers' habits predict, today and over the last week. Serving a
// customer opens their record several times (look up, check, update);
// a harvester copies each record with one look, whatever the purpose
// they give and however they found the customer.
type onceDet struct{}

func (onceDet) index() int { return detOnce }
func (onceDet) check(c *check) (float64, string) {
	p := c.p
	if !p.onceNew {
		return 0, "" // no new customer opened once: the finding stands
	}
	share, habit, ok := c.onceShare()
	if !ok || share > 0.9 {
		return 0, "" // a look per customer is everyone's habit
	}
	return c.shareScore(float64(max(p.today.once-onceSettle, 0)), float64(p.today.onceBase), share, habit,
		memO, func(d *dayStat) (uint16, uint16) { return d.once, d.onceBase },
		"opened the records of %.0f of %.0f customers today only once, with no second look as a visit needs (peers %.0f%%)",
		"opened the records of %.0f of %.0f customers over %d days only once, with no second look as a visit needs (peers %.0f%%)")
}

// codesDet: wrong one-time codes, as when consents are started for
// customers who are not at the counter and their codes guessed.
type codesDet struct{}

func (codesDet) index() int { return detCodes }
func (codesDet) check(c *check) (float64, string) {
	p := c.p
	x := float64(p.today.wrong)
	if x == 0 {
		return 0, ""
	}
	// A customer at the counter mistypes a code now and then; guesses
	// for customers who are not there fail again and again.
	t := math.Max(8, 0.5*float64(p.today.consents)+4)
	if c.ownOK() {
		t = math.Max(t, 3*p.base.wrongP90+3)
	}
	t *= c.s
	sc := scoreAt(x, t)
	if sc == 0 || !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("%.0f wrong one-time codes today on %d consents started", x, p.today.consents)
}

// relayDet: tickets opened for customers who left no trace of a visit and
// handed to a colleague who reads them: one opens, the other reads.
type relayDet struct{}

func (relayDet) index() int { return detRelay }
func (relayDet) check(c *check) (float64, string) {
	p := c.p
	x := float64(p.today.handed + p.today.relayed)
	if x == 0 {
		return 0, ""
	}
	wx := x
	for i := 0; i < min(p.nHist, historyDays); i++ {
		if d := &p.hist[i]; d.day > p.day-slowWindow {
			wx += float64(d.relay)
		}
	}
	sc := math.Max(scoreAt(x, 8*c.s), scoreAt(wx, 20*c.s))
	if sc == 0 || !c.why {
		return sc, ""
	}
	l := p.topLink()
	who := "a colleague"
	if l.who != nil {
		who = l.who.id
	}
	if p.today.handed >= p.today.relayed {
		return sc, fmt.Sprintf("opened %d tickets today for customers who left no trace of a visit and handed them to %s (%.0f over the last week)", p.today.handed, who, wx)
	}
	return sc, fmt.Sprintf("read %d customers today under tickets %s opened for customers who left no trace of a visit (%.0f over the last week)", p.today.relayed, who, wx)
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
	if !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("after giving notice: %.0f customers today, %.1fx own usual", r, r/ref)
}

// ringDet: several people at one site elevated the same day while their
// role as a whole is not.
type ringDet struct{}

func (ringDet) index() int { return detRing }
func (ringDet) check(c *check) (float64, string) {
	sc, why := c.regionRing()
	if sc2, why2 := c.excessRing(); sc2 > sc {
		sc, why = sc2, why2
	}
	return sc, why
}

// regionRing: several people at one site reading customers of the same
// other region today, where peers rarely serve other regions.
func (c *check) regionRing() (float64, string) {
	p := c.p
	var n int32
	for _, x := range p.today.fTop {
		if x.ring {
			n = max(n, p.siteSt.region(x.h))
		}
	}
	if n < 3 {
		return 0, ""
	}
	g := p.groups[grpRegion]
	if r, _, ok := g.foreignShares(); !ok || r > 0.2 {
		return 0, "" // peers serve other regions as a matter of course
	}
	sc := math.Min(0.95, 0.72+0.06*float64(n-3))
	if !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("%d people at this site reading customers of the same other region today", n)
}

// ownExcess is today's unexplained reads above the person's own usual
// share (peers' before they have history), and in standard deviations.
func (c *check) ownExcess() (e, z float64) {
	p := c.p
	share, habit, ok := c.unexplShare()
	if own, ok2 := c.ownShare(); ok2 {
		share, habit, ok = own, ownHabitSD, true
	}
	if !ok {
		return 0, 0
	}
	return excessSD(float64(p.today.unexpl), float64(p.today.reads), share, habit)
}

// excessRing: several people at one site with unexplained reads above
// their usual today.
func (c *check) excessRing() (float64, string) {
	p := c.p
	if !p.elevated {
		e, z := c.ownExcess()
		if e < 5*c.s || z < 2.5*c.s {
			return 0, ""
		}
		p.elevated = true
		p.siteSt.elevated++
		p.groups[grpRole].elevated++
	}
	st := p.siteSt
	n := st.elevated
	if n < 3 || float64(n) < 0.3*float64(st.active) {
		return 0, ""
	}
	if q := p.groups[grpRole].quantiles(); q.active >= 8 && float64(p.groups[grpRole].elevated) > 0.2*float64(q.active) {
		return 0, "" // the whole role is up today: a launch, not a ring
	}
	if _, z := c.ownExcess(); z < 3.5*c.s {
		// Counted towards the site's ring, but their own rise is too
		// slight to name them in it: a colleague having a busy day
		// beside two who are not.
		return 0, ""
	}
	sc := math.Min(0.95, 0.72+0.06*float64(n-3))
	if !c.why {
		return sc, ""
	}
	return sc, fmt.Sprintf("%d of %d active colleagues at this site rising together today", n, st.active)
}

// minReasonScore is the least score whose reason is given (reasons) or
// adds to the risk as a second finding; below it, a finding's reason is
// not even formatted.
const minReasonScore = 0.3

// evaluate runs the detectors for p after ev and returns any alert.
func (e *Engine) evaluate(p *person, ev *event.Event, u instant, changed bool) []Alert {
	if !changed && !ev.Canary {
		return nil
	}
	c := &e.chk
	*c = check{e: e, p: p, ev: ev, s: e.cfg.Sensitivity}
	if p.noticeGiven {
		c.s *= 0.85
	}
	for _, d := range e.dets {
		c.why = false
		sc, _ := d.check(c)
		i := d.index()
		if p.damped[i] != 0 && ev.Time.Unix() < p.damped[i] {
			sc *= 0.5 // an analyst cleared this pattern for this person
		}
		if sc > p.findings[i].score {
			reason := ""
			if sc >= minReasonScore {
				c.why = true
				_, reason = d.check(c)
			}
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
	if top[1] >= minReasonScore {
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
	p.onceNew = false
	if level <= p.alertLevel && !ev.Canary {
		return nil
	}
	p.alertLevel = max(level, p.alertLevel)
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
