package detect

import (
	"math"
	"sort"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// historyDays is how many past active days a person (and a group) keeps.
const historyDays = 28

// Peer groups of a person, narrowest first.
const (
	grpSite   = iota // same role, org and site
	grpRegion        // same role and region
	grpRole          // same role everywhere
	numGroups
)

// shareBins is the resolution of groups' habit histograms.
const shareBins = 50

// shareHist is a decayed histogram of members' daily shares of something
// (unexplained reads, whole records), in bins of 1/shareBins: how much
// people's habits differ in a group.
type shareHist struct {
	h     [shareBins]float32
	n     float32
	reads float32 // reads behind the samples
	inv   float32 // sum of 1/reads over the samples (for binomial noise)
	// Cached median and spread, valid while cacheN == n.
	cacheN  float32
	med, sd float64
}

// add adds one member-day's share x out of reads.
func (sh *shareHist) add(x float64, reads int32) {
	b := min(int(x*shareBins), shareBins-1)
	sh.h[b]++
	sh.n++
	sh.reads += float32(reads)
	sh.inv += 1 / float32(reads)
}

func (sh *shareHist) decay(f float32) {
	for i := range sh.h {
		sh.h[i] *= f
	}
	sh.n *= f
	sh.reads *= f
	sh.inv *= f
}

func (sh *shareHist) refresh() {
	if sh.cacheN != sh.n {
		sh.cacheN = sh.n
		sh.med = sh.q(0.5)
		sh.sd = sh.spread(sh.med)
	}
}

// habit returns the spread (standard deviation) of members' shares beyond
// binomial noise at share s; def when too little is known.
func (sh *shareHist) habit(s, def float64) float64 {
	if sh.n < 30 {
		return def
	}
	sh.refresh()
	// Binomial noise of a member-day's share, averaged over the samples
	// (the mean of 1/reads: small days are noisier).
	v := sh.sd*sh.sd - s*(1-s)*math.Min(float64(sh.inv/sh.n), 0.2)
	return clamp(math.Sqrt(math.Max(v, 0)), 0.02, 0.15)
}

// median returns the typical member-day's share (cached).
func (sh *shareHist) median() float64 {
	sh.refresh()
	return sh.med
}

// spread is the robust spread (1.4826 MAD) around med.
func (sh *shareHist) spread(med float64) float64 {
	var dev [shareBins]float32
	for i, w := range sh.h {
		x := (float64(i) + 0.5) / shareBins
		dev[min(int(math.Abs(x-med)*shareBins), shareBins-1)] += w
	}
	acc, need := float32(0), sh.n/2
	mad := 0.0
	for i, w := range dev {
		acc += w
		if acc >= need {
			mad = (float64(i) + 0.5) / shareBins
			break
		}
	}
	return 1.4826 * mad
}

func (sh *shareHist) q(q float64) float64 {
	acc, need := float32(0), float32(q)*sh.n
	for i, w := range sh.h {
		acc += w
		if acc >= need {
			return (float64(i) + 0.5) / shareBins
		}
	}
	return 1
}

// memberSpread learns how far members' own long-run shares of something
// (unexplained reads, whole records, weighted foreign customers) differ
// from person to person: the habits that persist, beyond the noise of
// each person's own estimate. Samples are each member's smoothed share,
// taken as they close a day; decayed like the group's other shares.
// Samples far from the current mean are pulled in to three spreads, so
// one harvester does not widen everyone's bar.
type memberSpread struct {
	n, sx, sxx float64
	inv        float64 // sum of 1/reads behind each sample (their noise)
}

// add adds a member's smoothed share x estimated from reads reads.
func (m *memberSpread) add(x, reads float64) {
	if m.n >= 10 {
		mu := m.sx / m.n
		sd := math.Sqrt(math.Max(m.sxx/m.n-mu*mu, 0))
		x = clamp(x, mu-3*sd-0.01, mu+3*sd+0.01)
	}
	m.n++
	m.sx += x
	m.sxx += x * x
	m.inv += 1 / math.Max(reads, 1)
}

func (m *memberSpread) decay(f float64) {
	m.n *= f
	m.sx *= f
	m.sxx *= f
	m.inv *= f
}

// tau returns the spread of members' lasting habits around share s (the
// variance of their shares less what their own estimates' noise
// explains), or def before 20 samples.
func (m *memberSpread) tau(s, def float64) float64 {
	if m.n < 20 {
		return def
	}
	mu := m.sx / m.n
	v := m.sxx/m.n - mu*mu - s*(1-s)*m.inv/m.n
	return clamp(math.Sqrt(math.Max(v, 0)), 0.01, 0.15)
}

// shrink is a person's own share own (from reads reads) pulled toward
// their peers' share peer as far as habits usually differ (tau): little
// evidence or an odd value moves it less, and it never rises more than
// two spreads above the peers', so a harvest cannot teach its own bar.
func shrink(own, reads, peer, tau float64) float64 {
	noise := peer * (1 - peer) / math.Max(reads, 1)
	b := tau * tau / (tau*tau + noise + 1e-9)
	return math.Min(peer+b*(own-peer), peer+2*tau)
}

// minPeers is how many active peers a comparison with today's peers needs:
// at least ten, so that a 90th percentile is never the person themself.
const minPeers = 10

// dayCounts are one person's counters for one local day. Reads count
// distinct customers (allowed or denied); w5 weighs each new customer 5 when
// unexplained and 1 when explained, so w5/5 is the "weighted reads".
type dayCounts struct {
	reads, unexpl, w5, foreignR, foreignS, offW5, miss, seq, hourMaxW5 int32
	searches                                                           int32
	// fw10 is foreign customers weighted (×10) by how they were read:
	// full weight for a whole record with no trace of a visit, less for
	// part of the record or a customer who was there. fRegions is a
	// 64-bit sketch of the foreign regions read (one bit per region).
	fw10     int32
	fRegions uint64
	// fTop counts foreign customers by region (the four first seen).
	fTop [4]regionCount
	// fWhole counts foreign customers whose whole record was taken.
	fWhole int32
	// whole counts customers whose whole record was taken, except under
	// tickets the CRM opened.
	whole int32
	// consents started, wrong one-time codes entered.
	consents, wrong int32
	// handed: tickets this person opened for a customer who left no trace
	// and handed to a colleague; relayed: customers read under such
	// tickets handed to this person.
	handed, relayed int32
	// once counts customers whose record was opened once and not again
	// (so far today), of onceBase customers first read other than under a
	// CRM ticket: a visit usually opens the record more than once (look
	// up, check, update), a harvest takes one look at each.
	once, onceBase int32
}

// dayStat is a finished day in a person's history.
type dayStat struct {
	day                      int32
	factor                   float32 // role group's volume that day vs usual
	reads, unexpl, miss, off uint16
	w5, hourMaxW5            uint32
	fw10, relay, wrong       uint16
	fRegions                 uint64
	fTop, fAll, fWhole       uint16 // foreign-region reads: busiest region, all, whole records
	whole                    uint16
	once, onceBase           uint16
}

// baseline is a person's own normal, recomputed at each day change from
// their history, normalised by each day's group factor (so a launch day
// does not inflate it).
type baseline struct {
	days                                   int
	readsP90, wP75, wP90, missP90, offWP90 float64
	hourWP90, wrongP90                     float64
}

// ring64 is a small ring of recent customer hashes.
type ring64 struct {
	h [64]uint64
	i uint8
}

func (r *ring64) add(h uint64) {
	r.h[r.i&63] = h
	r.i++
}

func (r *ring64) has(h uint64) bool {
	for _, x := range r.h {
		if x == h {
			return true
		}
	}
	return false
}

type slot struct {
	at int64 // 5-minute slot number
	w5 int32
}

type finding struct {
	score  float64
	reason string
}

// person is everything the engine keeps about one actor.
type person struct {
	eng *Engine
	id  string
	// damped holds, per detector, until when (unix seconds) an analyst's
	// benign outcome on a case about this person halves its finding.
	damped                  [numKinds]int64
	role, org, site, region string
	groups                  [numGroups]*group
	siteSt                  *siteState
	// loc is the site's time zone (nil: the engine's UTCOffset); the
	// offset zoneOff holds from zoneFrom to zoneTo (unix seconds).
	loc                       *time.Location
	zoneOff, zoneFrom, zoneTo int64

	day      int32
	today    dayCounts
	seen     distinctSet // customers touched today
	slots    [12]slot    // weighted new reads per 5 minutes, last hour
	elevated bool        // counted in site/group elevated today

	hist  [historyDays]dayStat
	nHist int
	base  baseline

	hours      [24]float32
	hoursTotal float32
	// Decayed sums for own shares of foreign customers.
	shReads, shForeignR, shForeignS float32
	shFW                            float32 // weighted foreign (fw10/10)
	// Decayed unexplained and total reads (own habit), and whole records.
	shU, shR, shWh float32
	// Decayed customers opened only once, of those that count (once).
	shO, shOB float32

	trace       ring64 // customers this person found by search or consent
	selfTickets ring64 // customers this person opened a ticket for
	lastIDs     [8]int64
	lastIDi     uint8

	total hll // distinct customers ever read (allowed)

	ewmaW     float64 // EWMA of normalised daily weighted reads
	ewmaDays  int
	noticeDay int32

	noticeGiven bool
	// newcomer is set for people who first appear after their role has a
	// week of history: new hires, judged against peers from day one.
	newcomer bool
	// contained is set while the person is stepped up or suspended.
	contained bool
	// onceNew is set while the event being evaluated added a customer
	// opened once (the once detector has nothing new to see otherwise).
	onceNew bool

	// early holds the person's first earlyDays active days (normalised
	// distinct reads): a baseline a slow ramp cannot train upward.
	early  [earlyDays]float32
	nEarly uint8
	// links are the colleagues this person handed untraced tickets to, or
	// read untraced tickets from, today.
	links [4]link

	findings   [numKinds]finding
	alertLevel int8
	risk0      float64 // last computed risk
	kind       string
	updated    instInfo
}

// regionCount counts customers of one region (by hash).
type regionCount struct {
	h    uint32
	n    int32
	ring bool // counted in the site's regions
}

// topShare returns the count of the busiest foreign region.
func topCount(t *[4]regionCount) int32 {
	var m int32
	for _, x := range t {
		m = max(m, x.n)
	}
	return m
}

// earlyDays is how many first active days make a person's early baseline.
const earlyDays = 7

// link counts today's untraced tickets between this person and one
// colleague.
type link struct {
	who *person
	n   int32
}

// addLink counts one untraced ticket with q and returns the count.
func (p *person) addLink(q *person) int32 {
	free := -1
	for i := range p.links {
		if p.links[i].who == q {
			p.links[i].n++
			return p.links[i].n
		}
		if p.links[i].who == nil && free < 0 {
			free = i
		}
	}
	if free < 0 {
		// Replace the weakest link.
		free = 0
		for i := range p.links {
			if p.links[i].n < p.links[free].n {
				free = i
			}
		}
	}
	p.links[free] = link{who: q, n: 1}
	return 1
}

// topLink returns the strongest link today.
func (p *person) topLink() link {
	var best link
	for _, l := range p.links {
		if l.n > best.n {
			best = l
		}
	}
	return best
}

type instInfo struct {
	unix int64
	nsec int32
}

// group is a peer group's state.
type group struct {
	members int
	day     int32
	ver     uint32 // bumped on each histogram change
	// Today's members' counters (active members only).
	hReads, hW5, hMiss, hHourW5 countHist
	elevated                    int32
	// Long-run medians across days (robust EWMA).
	longReads, longW5 float64
	longDays          int
	ring              [historyDays]groupDay
	// Decayed shares.
	shReads, shForeignR, shForeignS, shUnexpl float64
	shFW                                      float64
	hours                                     [24]float32
	hoursTotal                                float32
	// unexplH and wholeH are members' daily shares of unexplained reads
	// and of whole records taken.
	unexplH, wholeH shareHist
	// memU, memW and memF are members' lasting habits: shares of
	// unexplained reads, whole records and weighted foreign customers.
	memU, memW, memF memberSpread
	// onceH is members' daily shares of customers opened only once, onceD
	// the same shares' spread (exact, where onceH's bins are coarse), memO
	// members' lasting habits; shOnce of shOnceB the pooled decayed share.
	onceH           shareHist
	onceD, memO     memberSpread
	shOnce, shOnceB float64
	// shWhole counts whole records among shReads (decayed), except under
	// CRM tickets; shWholeAll counts them all.
	shWhole, shWholeAll float64
	// Yesterday's foreign shares, so today's reads do not move the bar.
	refR, refS, refW float64
	refOK            bool

	cacheVer uint32
	cacheOK  bool
	q        groupQ
}

// groupQ caches today's quantiles.
type groupQ struct {
	active                        int
	readsQ90, wQ50, wQ90, missQ90 float64
	hourWQ90, readsQ50, hourWQ50  float64
}

type groupDay struct {
	day                 int32
	medReads, highReads float64
	medW5               float64
	factor              float64
	ok                  bool
}

// siteState tracks people at one site (org+site) rising together today.
type siteState struct {
	day      int32
	active   int32
	elevated int32
	// regions counts, per foreign region (the four first seen), the
	// people here who read ringRegionReads of its customers today.
	regions [4]regionCount
}

// ringRegionReads is how many customers of one foreign region make a
// person count towards a ring reading that region.
const ringRegionReads = 5

func (s *siteState) addRegion(h uint32) {
	for i := range s.regions {
		if x := &s.regions[i]; x.n == 0 || x.h == h {
			x.h = h
			x.n++
			return
		}
	}
}

// region returns how many people here read region h's customers today.
func (s *siteState) region(h uint32) int32 {
	for _, x := range s.regions {
		if x.h == h {
			return x.n
		}
	}
	return 0
}

func (g *group) ensureDay(d int32) {
	if g.day >= d {
		return
	}
	if g.day > -1<<29 {
		g.finish()
	}
	g.day = d
	g.unexplH.decay(0.9)
	g.wholeH.decay(0.9)
	g.memU.decay(0.9)
	g.memW.decay(0.9)
	g.memF.decay(0.9)
	g.onceH.decay(0.9)
	g.onceD.decay(0.9)
	g.memO.decay(0.9)
	g.shOnce *= 0.85
	g.shOnceB *= 0.85
	if g.shReads >= 100 {
		g.refR, g.refS, g.refOK = g.shForeignR/g.shReads, g.shForeignS/g.shReads, true
		g.refW = g.shFW / g.shReads
	}
	g.hReads.reset()
	g.hW5.reset()
	g.hMiss.reset()
	g.hHourW5.reset()
	g.elevated = 0
	g.ver++
	g.cacheOK = false
	g.shReads *= 0.85
	g.shForeignR *= 0.85
	g.shForeignS *= 0.85
	g.shFW *= 0.85
	g.shWhole *= 0.85
	g.shWholeAll *= 0.85
	g.shUnexpl *= 0.85
}

// finish closes the group's day: its medians go to the ring and, clamped so
// one odd day moves them little, into the long-run medians.
func (g *group) finish() {
	gd := groupDay{day: g.day, factor: 1}
	if int(g.hReads.total) >= 3 {
		gd.ok = true
		gd.medReads = g.hReads.quantile(0.5)
		gd.highReads = g.hReads.quantile(0.9)
		gd.medW5 = g.hW5.quantile(0.5)
		if g.longDays >= 2 && g.longReads > 0 {
			gd.factor = clamp(gd.medReads/g.longReads, 0.5, 6)
		}
		if g.longDays == 0 {
			g.longReads, g.longW5 = gd.medReads, gd.medW5
		} else {
			g.longReads = 0.8*g.longReads + 0.2*clamp(gd.medReads, 0.67*g.longReads, 1.5*g.longReads+1)
			g.longW5 = 0.8*g.longW5 + 0.2*clamp(gd.medW5/gd.factor, 0.67*g.longW5, 1.5*g.longW5+1)
		}
		g.longDays++
	}
	g.ring[int(g.day)%historyDays] = gd
}

func (g *group) dayStats(d int32) (groupDay, bool) {
	if d < 0 {
		return groupDay{}, false
	}
	gd := g.ring[int(d)%historyDays]
	if !gd.ok || gd.day != d {
		return groupDay{}, false
	}
	return gd, true
}

func (g *group) quantiles() *groupQ {
	if g.cacheOK && g.ver-g.cacheVer < 8 {
		return &g.q
	}
	g.q = groupQ{
		active:   int(g.hReads.total),
		readsQ50: g.hReads.quantile(0.5),
		readsQ90: g.hReads.quantile(0.9),
		wQ50:     g.hW5.quantile(0.5) / 5,
		wQ90:     g.hW5.quantile(0.9) / 5,
		missQ90:  g.hMiss.quantileOf(0.9, g.hReads.total),
		hourWQ50: g.hHourW5.quantile(0.5) / 5,
		hourWQ90: g.hHourW5.quantile(0.9) / 5,
	}
	g.cacheVer, g.cacheOK = g.ver, true
	return &g.q
}

func (g *group) foreignShares() (r, s float64, ok bool) {
	return g.refR, g.refS, g.refOK
}

func clamp(x, lo, hi float64) float64 {
	if x < lo {
		return lo
	}
	if x > hi {
		return hi
	}
	return x
}

// roll moves p to local day d, closing its previous day.
func (p *person) roll(e *Engine, d int32) {
	for _, g := range p.groups {
		g.ensureDay(d)
	}
	if p.siteSt.day < d {
		*p.siteSt = siteState{day: d}
	}
	if p.day >= d {
		return
	}
	if p.today.reads > 0 || p.today.miss > 0 || p.today.handed > 0 || p.today.wrong > 0 {
		f := 1.0
		if gd, ok := p.groups[grpRole].dayStats(p.day); ok {
			f = gd.factor
		}
		ds := dayStat{
			day:       p.day,
			factor:    float32(f),
			reads:     sat16(p.today.reads),
			unexpl:    sat16(p.today.unexpl),
			miss:      sat16(p.today.miss + p.today.seq),
			off:       sat16(p.today.offW5),
			w5:        uint32(p.today.w5),
			hourMaxW5: uint32(p.today.hourMaxW5),
			fw10:      sat16(p.today.fw10),
			relay:     sat16(p.today.relayed + p.today.handed),
			wrong:     sat16(p.today.wrong),
			fRegions:  p.today.fRegions,
			fTop:      sat16(topCount(&p.today.fTop)),
			fAll:      sat16(p.today.foreignR),
			fWhole:    sat16(p.today.fWhole),
			whole:     sat16(p.today.whole),
			once:      sat16(p.today.once),
			onceBase:  sat16(p.today.onceBase),
		}
		if p.nEarly < earlyDays && p.today.reads > 0 {
			p.early[p.nEarly] = float32(float64(p.today.reads) / f)
			p.nEarly++
		}
		p.hist[p.nHist%historyDays] = ds
		p.nHist++
		p.rebase()
		w := float64(p.today.w5) / 5 / f
		if p.ewmaDays == 0 {
			p.ewmaW = w
		} else {
			p.ewmaW = 0.7*p.ewmaW + 0.3*w
		}
		p.ewmaDays++
		if p.findings[detPurpose].score < 0.4 && p.findings[detSlow].score < 0.4 {
			p.shU = 0.9*p.shU + float32(p.today.unexpl)
			p.shR = 0.9*p.shR + float32(p.today.reads)
			if p.today.reads >= 5 {
				for _, g := range p.groups[grpRegion:] {
					g.unexplH.add(float64(p.today.unexpl)/float64(p.today.reads), p.today.reads)
				}
			}
		}
		if p.findings[detRecords].score < 0.4 {
			p.shWh = 0.9*p.shWh + float32(p.today.whole)
			if p.today.reads >= 5 {
				for _, g := range p.groups[grpRegion:] {
					g.wholeH.add(float64(p.today.whole)/float64(p.today.reads), p.today.reads)
				}
			}
		}
		if p.findings[detOnce].score < 0.4 {
			p.shO = 0.9*p.shO + float32(p.today.once)
			p.shOB = 0.9*p.shOB + float32(p.today.onceBase)
			for _, g := range p.groups[grpRegion:] {
				g.shOnce += float64(p.today.once)
				g.shOnceB += float64(p.today.onceBase)
				if p.today.onceBase >= 5 {
					g.onceH.add(float64(p.today.once)/float64(p.today.onceBase), p.today.onceBase)
					g.onceD.add(float64(p.today.once)/float64(p.today.onceBase), float64(p.today.onceBase))
				}
			}
		}
		p.shReads *= 0.9
		p.shForeignR *= 0.9
		p.shForeignS *= 0.9
		p.shFW *= 0.9
		// A day the foreign detector flagged does not teach what is usual.
		if p.findings[detForeign].score < 0.4 {
			p.shReads += float32(p.today.reads)
			p.shForeignR += float32(p.today.foreignR)
			p.shForeignS += float32(p.today.foreignS)
			p.shFW += float32(p.today.fw10) / 10
		}
		for _, g := range p.groups[grpRegion:] {
			if p.shR >= 100 {
				g.memU.add(float64(p.shU/p.shR), float64(p.shR))
				g.memW.add(float64(p.shWh/p.shR), float64(p.shR))
			}
			if p.shOB >= 100 {
				g.memO.add(float64(p.shO/p.shOB), float64(p.shOB))
			}
			if p.shReads >= 100 {
				g.memF.add(float64(p.shFW/p.shReads), float64(p.shReads))
			}
		}
	}
	p.day = d
	p.today = dayCounts{}
	p.seen.reset()
	p.slots = [12]slot{}
	p.elevated = false
	p.findings = [numKinds]finding{}
	p.alertLevel = 0
	p.links = [4]link{}
}

func sat16(v int32) uint16 {
	if v > math.MaxUint16 {
		return math.MaxUint16
	}
	return uint16(v)
}

// rebase recomputes the person's own baseline from their history.
func (p *person) rebase() {
	n := min(p.nHist, historyDays)
	var reads, w, miss, off, hw, wr [historyDays]float64
	for i := 0; i < n; i++ {
		d := &p.hist[i]
		f := float64(d.factor)
		if f <= 0 {
			f = 1
		}
		reads[i] = float64(d.reads) / f
		w[i] = float64(d.w5) / 5 / f
		miss[i] = float64(d.miss)
		off[i] = float64(d.off) / 5
		hw[i] = float64(d.hourMaxW5) / 5 / f
		wr[i] = float64(d.wrong)
	}
	p.base = baseline{
		days:     n,
		readsP90: quantile(reads[:n], 0.9),
		wP75:     quantile(w[:n], 0.75),
		wP90:     quantile(w[:n], 0.9),
		missP90:  quantile(miss[:n], 0.9),
		offWP90:  quantile(off[:n], 0.9),
		hourWP90: quantile(hw[:n], 0.9),
		wrongP90: quantile(wr[:n], 0.9),
	}
}

// quantile sorts xs in place and returns its q-quantile (nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	i := int(math.Ceil(q*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

// explained reports whether a read of customer h under ev's purpose carries
// the trace of a real visit.
func (p *person) explained(ev *event.Event, h uint64) bool {
	// A refusal for want of a purpose is unexplained; one for quota (a
	// busy day) is judged on its purpose like an allowed read.
	if ev.Decision == event.Deny && ev.Reason != "quota_exceeded" {
		return false
	}
	if p.trace.has(h) {
		return true
	}
	switch ev.Basis {
	case event.BasisOwnTicket, event.BasisBreakGlass:
		return false
	case event.BasisCRMTicket, event.BasisConsent:
		return ev.PurposeValid || ev.Decision == event.Deny
	}
	switch {
	case strings.HasPrefix(ev.Purpose, "consent:"):
		return ev.PurposeValid || ev.Decision == event.Deny // quota: validity not checked
	case strings.HasPrefix(ev.Purpose, "ticket:"):
		if e := p.eng; e != nil && len(e.handed) > 0 {
			if q := e.handed[handKey(p.id, ev.Customer)]; q != nil && q != p {
				// Handed over by a colleague who never looked the
				// customer up: a relay, not a visit.
				p.today.relayed++
				p.addLink(q)
				return false
			}
		}
		return (ev.PurposeValid || ev.Decision == event.Deny) && !p.selfTickets.has(h)
	}
	return false
}

// read applies a customer.read or export of a customer.
func (p *person) read(e *Engine, ev *event.Event, u instant) {
	h := hashString(ev.Customer)
	if ev.Decision != event.Deny {
		p.total.add(h)
	}
	entry, isNew := p.seen.touch(h)
	if !isNew {
		if v := *entry; v&setAgain == 0 {
			*entry = v | setAgain
			if v&setMarked != 0 && p.today.once > 0 {
				p.today.once-- // a second look: part of a visit
			}
		}
		return
	}
	t := &p.today
	if entry != nil && p.onceCountable(ev, h) {
		*entry |= setMarked
		t.once++
		t.onceBase++
		p.onceNew = true
	}
	old := *t
	expl := p.explained(ev, h)
	w := int32(1)
	if !expl {
		w = 5
		t.unexpl++
	}
	t.reads++
	t.w5 += w
	// Hourly window of weighted new reads.
	idx := u.slot % 12
	if idx < 0 {
		idx += 12
	}
	s := &p.slots[idx]
	if s.at != u.slot {
		if s.at < u.slot {
			*s = slot{at: u.slot}
		}
	}
	s.w5 += w
	var hw int32
	for _, x := range p.slots {
		if x.at > u.slot-12 && x.at <= u.slot {
			hw += x.w5
		}
	}
	if hw > t.hourMaxW5 {
		t.hourMaxW5 = hw
	}
	fr := ev.CustomerRegion != "" && ev.Region != "" && ev.CustomerRegion != ev.Region
	fs := ev.CustomerSite != "" && ev.Site != "" && ev.CustomerSite != ev.Site
	if fr {
		t.foreignR++
		rh := hashString(ev.CustomerRegion)
		t.fRegions |= 1 << (rh & 63)
		for i := range t.fTop {
			if x := &t.fTop[i]; x.n == 0 || x.h == uint32(rh) {
				x.h = uint32(rh)
				x.n++
				if !x.ring && x.n >= ringRegionReads && 5*x.n >= t.reads {
					// A fifth of the day's customers from one other
					// region: counts towards a ring at the site.
					x.ring = true
					p.siteSt.addRegion(x.h)
				}
				break
			}
		}
	}
	if fs {
		t.foreignS++
	}
	whAll := wholeRecord(ev)
	wh := whAll && ev.Basis != event.BasisCRMTicket
	if wh {
		t.whole++
	}
	var fw int32
	if fr || fs {
		fw = foreignWeight(expl, ev)
		t.fw10 += fw
		if fr && wholeRecord(ev) {
			t.fWhole++
		}
	}
	if p.isOff(e, u.hour) {
		t.offW5 += w
	}
	for i, g := range p.groups {
		g.hReads.move(int(old.reads), int(t.reads))
		g.hW5.move(int(old.w5), int(t.w5))
		g.hHourW5.move(int(old.hourMaxW5), int(t.hourMaxW5))
		g.ver++
		g.shReads++
		if !expl {
			g.shUnexpl++
		}
		if fr {
			g.shForeignR++
		}
		if fs {
			g.shForeignS++
		}
		g.shFW += float64(fw) / 10
		if wh {
			g.shWhole++
		}
		if whAll {
			g.shWholeAll++
		}
		if i != grpRegion {
			g.hours[u.hour]++
			g.hoursTotal++
		}
	}
	if old.reads == 0 {
		p.siteSt.active++
	}
	p.hours[u.hour]++
	p.hoursTotal++
	if p.hoursTotal > 5000 {
		for i := range p.hours {
			p.hours[i] /= 2
		}
		p.hoursTotal /= 2
	}
	p.sequential(e, ev.Customer)
}

// onceCountable reports whether a read of customer h counts towards the
// customers opened only once: not a refusal (nothing was shown), not under
// a ticket the CRM opened (review batches look at each record once), nor,
// in events without a basis, under a ticket somebody else opened.
func (p *person) onceCountable(ev *event.Event, h uint64) bool {
	if ev.Decision == event.Deny {
		return false
	}
	switch ev.Basis {
	case event.BasisCRMTicket:
		return false
	case "":
		return !strings.HasPrefix(ev.Purpose, "ticket:") || p.selfTickets.has(h)
	}
	return true
}

// foreignWeight weighs (×10) a read of a customer from another region or
// site: a whole record taken with no trace of a visit counts fully; a
// customer who was there, or part of the record, much less (a traveller
// served at the counter, a colleague covering another store).
func foreignWeight(expl bool, ev *event.Event) int32 {
	w := int32(10)
	if expl {
		w = 4
	}
	if !wholeRecord(ev) {
		w = 1
	}
	return w
}

// wholeRecord reports whether ev took the record's contact details (phone
// and account, shown in clear: a masked one is of no use to a harvester) or
// names no fields (older events).
func wholeRecord(ev *event.Event) bool {
	if len(ev.Fields) == 0 {
		return true
	}
	var ph, ac bool
	for _, f := range ev.Fields {
		switch f {
		case "phone":
			ph = true
		case "account":
			ac = true
		}
	}
	for _, f := range ev.Masked {
		switch f {
		case "phone":
			ph = false
		case "account":
			ac = false
		}
	}
	return ph && ac
}

// miss counts a lookup of a record that does not exist.
func (p *person) miss(e *Engine) {
	old := p.today.miss + p.today.seq
	p.today.miss++
	for _, g := range p.groups {
		g.hMiss.move(int(old), int(old+1))
		g.ver++
	}
}

// sequential counts lookups whose numeric id is within a few of a recent
// one: a walk through ids or phone numbers.
func (p *person) sequential(e *Engine, customer string) bool {
	n, ok := trailingNumber(customer)
	if !ok {
		return false
	}
	hit := false
	for _, x := range p.lastIDs {
		if x != 0 && x != n && x-n <= 5 && n-x <= 5 {
			hit = true
			break
		}
	}
	p.lastIDs[p.lastIDi&7] = n
	p.lastIDi++
	if hit {
		old := p.today.miss + p.today.seq
		p.today.seq++
		for _, g := range p.groups {
			g.hMiss.move(int(old), int(old+1))
			g.ver++
		}
	}
	return hit
}

func trailingNumber(s string) (int64, bool) {
	i := len(s)
	for i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
		i--
	}
	if len(s)-i < 3 || len(s)-i > 18 {
		return 0, false
	}
	var n int64
	for _, c := range s[i:] {
		n = n*10 + int64(c-'0')
	}
	return n + 1, true // +1 so id 0 is not the empty marker
}

// isOff reports whether a read at this local hour is outside the person's
// own pattern (or, without enough history, outside their peers' pattern).
func (p *person) isOff(e *Engine, hour int) bool {
	if p.hoursTotal >= 150 && p.base.days >= e.cfg.MinHistoryDays {
		return hourShare(&p.hours, p.hoursTotal, hour) < 0.01
	}
	known := false
	for _, g := range []*group{p.groups[grpSite], p.groups[grpRole]} {
		if g.hoursTotal < 500 {
			continue
		}
		known = true
		if hourShare(&g.hours, g.hoursTotal, hour) >= 0.01 {
			return false
		}
	}
	return known
}

func hourShare(h *[24]float32, total float32, hour int) float64 {
	v := h[hour] + 0.5*h[(hour+23)%24] + 0.5*h[(hour+1)%24]
	return float64(v) / float64(total)
}

// risk builds the person's dashboard view.
func (p *person) risk() Risk {
	r := Risk{
		Actor: p.id, Org: p.org, Role: p.role, Site: p.site, Region: p.region,
		Score: p.risk0, Kind: p.kind, Records: p.total.estimate(), Notice: p.noticeGiven,
		Reasons: p.reasons(),
	}
	if p.updated.unix != 0 {
		r.Updated = unixTime(p.updated)
	}
	return r
}

func (p *person) reasons() []string {
	type kr struct {
		s float64
		r string
	}
	var list []kr
	for _, f := range p.findings {
		if f.score >= minReasonScore && f.reason != "" {
			list = append(list, kr{f.score, f.reason})
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].s > list[j].s })
	out := make([]string, 0, len(list))
	for i, x := range list {
		if i == 4 {
			break
		}
		out = append(out, x.r)
	}
	return out
}

// localHour is the hour of day of t at the person's site.
func (p *person) localHour(t time.Time) int {
	s := t.Unix()
	if s < p.zoneFrom || s >= p.zoneTo {
		lt := t.In(p.loc)
		_, off := lt.Zone()
		from, to := lt.ZoneBounds()
		p.zoneOff, p.zoneFrom, p.zoneTo = int64(off), math.MinInt64, math.MaxInt64
		if !from.IsZero() {
			p.zoneFrom = from.Unix()
		}
		if !to.IsZero() {
			p.zoneTo = to.Unix()
		}
	}
	return int(((s+p.zoneOff)%86400 + 86400) % 86400 / 3600)
}

// spansMidnight reports whether the person works around midnight (night
// shifts), so that calendar days split their shifts and daily volumes are
// not comparable day to day.
func (p *person) spansMidnight() bool {
	if p.hoursTotal < 50 {
		return false
	}
	v := p.hours[22] + p.hours[23] + p.hours[0] + p.hours[1]
	return v/p.hoursTotal > 0.1
}
