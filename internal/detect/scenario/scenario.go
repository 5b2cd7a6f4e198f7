// Package scenario builds synthetic partner networks and their access
// events, deterministically from a seed, for evaluating the detectors.
//
// A world has regions (provinces such as GD, SH, BJ), partner organisations
// (distributors and retailers with stores, contractors with repair
// technicians at stores, call centres serving every region with day and
// night shifts), employees with roles and shifts, and customers with a home
// region and store. Each day, customers visit stores (search by phone,
// ticket, read; sometimes a consent), technicians read under tickets that
// clerks opened, call-centre agents take calls, and store managers run
// month-end batches. Hidden among them are insiders of every kind the
// detectors look for, and people who look odd but are legitimate (the
// traps): a launch day on which every store triples, new hires, night-shift
// agents, agents who serve every region, month-end batches, and people who
// give notice and carry on as before.
//
// Rates, sizes, trace habits (how often a visit starts with a search) and
// insider intensities are drawn from the seed, so results over several
// seeds say something about scenarios the detectors were not tuned on.
package scenario

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// Insider kinds (ground truth), matching the behaviours in issue 5.
const (
	Bulk     = "bulk"
	Slow     = "slow"
	Enum     = "enumeration"
	OffHours = "offhours"
	Foreign  = "foreign"
	MadeUp   = "madeup"
	Notice   = "notice"
	Ring     = "ring"
	Canary   = "canary"
	// The kinds below are planted only in drawn worlds (Params.Wide).
	// Blend keeps their usual daily volume but serves customers of other
	// regions, taking the whole record.
	Blend = "blend"
	// FirstWeek is a new hire who harvests from their first week.
	FirstWeek = "firstweek"
	// Relay is a pair at one site: one opens tickets for customers who
	// were never there and hands them to a colleague, who reads them.
	// Both are insiders.
	Relay = "relay"
	// Ramp harvests a little more each day, so that a baseline trained on
	// their own days would follow them up.
	Ramp = "ramp"
	// Codes starts consents for customers who are not there and guesses
	// their one-time codes.
	Codes = "codes"
)

// Trap kinds: legitimate people who must not be alerted on.
const (
	TrapNewHire   = "newhire"
	TrapNight     = "night"
	TrapMonthEnd  = "monthend"
	TrapLeaver    = "leaver"
	TrapCallAllRg = "callcenter"
	// TrapTraveller covers a store in another region for a few days,
	// serving the customers there (drawn worlds only).
	TrapTraveller = "traveller"
)

// Params says what to build. Zero fields take defaults.
type Params struct {
	Seed   uint64
	People int // about this many employees (default 300)
	Days   int // default 28
	// Variant 1 is a sparse-trace world: staff rarely search or take
	// consents (almost every read is under a ticket they open themselves),
	// and events carry no found or customer_site fields. It checks the
	// detectors do not lean on those traces.
	Variant int
	// Start is the first day (UTC midnight of the local day); default a
	// date drawn from the seed, chosen so that a month end falls inside.
	Start time.Time
	// Wide turns on what drawn worlds add (see Draw): the insider kinds
	// Blend, FirstWeek, Relay, Ramp and Codes, staff who cover a store in
	// another region, tickets handed to colleagues and technicians,
	// consent starts and mistyped codes, reads that take part of the
	// record, store sizes from ranges and several insiders of a kind.
	Wide bool
}

// Draw returns the parameters of the world drawn from seed: size (150-700
// people), length (14-35 days), a sparse-trace variant one time in four,
// and Wide on. Rates, habits, store sizes and the insider mix are drawn
// from the same seed when the world is generated.
func Draw(seed uint64) Params {
	r := rand.New(rand.NewPCG(seed^0x5eed, seed*0x2545f4914f6cdd1d+1))
	p := Params{Seed: seed, People: 150 + r.IntN(551), Days: 14 + r.IntN(22), Wide: true}
	if r.IntN(4) == 0 {
		p.Variant = 1
	}
	return p
}

// Person is an employee.
type Person struct {
	ID, Org, OrgKind, Role, Site, Region string
	Night                                bool      // works nights
	Hired                                time.Time // first day of work
}

// Insider is the ground truth for one hidden insider.
type Insider struct {
	Actor string
	Kind  string
	// From is the time of the first illicit event.
	From time.Time
}

// World is a generated scenario's ground truth (its events go to the
// callback given to Generate).
type World struct {
	Params   Params
	People   []Person
	Insiders []Insider
	Traps    map[string]string // actor → trap kind
	// UTCOffset is the local time zone of the world's clock (events are
	// written in UTC); detectors are not told it.
	UTCOffset time.Duration
	// Illicit reports whether an event is part of an insider's harvest.
	// Events are identified by (actor, customer, time).
	illicit map[illicitKey]bool
	Knobs   Knobs
}

// Knobs are the randomised rates of one world.
type Knobs struct {
	VisitsPerClerk  float64 // mean visits per clerk-day
	SearchShare     float64 // visits that start with a search by phone
	SelfTicketShare float64 // tickets the clerk opens (rest: the CRM)
	TravelShare     float64 // visitors from another region
	Intensity       float64 // insider intensity multiplier
	LaunchFactor    float64
	// Drawn worlds only (Params.Wide).
	MaxClerks     int     // clerks per store: 2..MaxClerks
	WholeRecord   float64 // legitimate reads that take every field
	HandOver      float64 // visits whose ticket goes to a colleague
	WrongCode     float64 // consents with a mistyped code first
	TravelerStaff int     // clerks who cover a store in another region
}

type illicitKey struct {
	actor, customer string
	unix            int64
}

// IsIllicit reports whether ev is part of an insider's harvest.
func (w *World) IsIllicit(ev *event.Event) bool {
	return w.illicit[illicitKey{ev.Actor, ev.Customer, ev.Time.UnixNano()}]
}

// EmployeeDays is people × days worked or not (the denominator for false
// alert rates), counted from each person's hire day.
func (w *World) EmployeeDays() int {
	end := w.Params.Start.AddDate(0, 0, w.Params.Days)
	n := 0
	for _, p := range w.People {
		n += int(end.Sub(p.Hired).Hours()/24 + 0.5)
	}
	return n
}

var allRegions = []string{"GD", "SH", "BJ", "ZJ", "JS", "SC", "HB", "FJ", "SD", "HN"}

type store struct {
	site, region, org string
	customers         []int // indexes into world customers
	clerks            []*emp
	manager           *emp
	techs             []*emp
}

type emp struct {
	Person
	store      *store
	prod       float64 // productivity multiplier
	habit      float64 // shift of this person's search habit
	shiftStart float64 // local hour
	shiftLen   float64
	offDays    [2]int // weekdays off
	insider    string
	from       int // day index the insider starts
	fromHour   float64
	intensity  float64
	noticeDay  int // -1 none
	hiredDay   int
	ringStore  bool
	ringRegion string // a ring's target region, if any
	bulkDone   bool
	quiet      bool // a slow insider who looks customers up like visitors
	partner    *emp // Relay: the colleague who reads the opener's tickets
	opener     bool // Relay: this one opens the tickets
	cover      *store
	coverFrom  int
	coverTo    int
}

type customer struct {
	id, region, site string
	canary           bool
}

type gen struct {
	r        *rand.Rand
	w        *World
	k        Knobs
	custs    []customer
	stores   []*store
	cc       []*emp // call-centre agents
	emps     []*emp
	days     int
	start    time.Time
	off      int64 // seconds
	ticketN  int
	consentN int
	pending  []event.Event
	emit     func(w *World, ev event.Event, illicit bool)
	launch   map[int]bool
	monthEnd map[int]bool
	crm      Person
}

// Generate builds a world and passes its events, in time order, to emit.
func Generate(p Params, emit func(event.Event)) *World {
	return Stream(p, func(_ *World, ev event.Event, _ bool) { emit(ev) })
}

// Stream is Generate for evaluations: emit also gets the world being built
// (its Insiders already list everyone whose harvest has begun by ev's time)
// and whether ev is part of an insider's harvest.
func Stream(p Params, emit func(w *World, ev event.Event, illicit bool)) *World {
	if p.People <= 0 {
		p.People = 300
	}
	if p.Days <= 0 {
		p.Days = 28
	}
	r := rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))
	if p.Start.IsZero() {
		// A Monday 5..20 days before a month end, in 2026.
		month := time.Month(1 + r.IntN(12))
		end := time.Date(2026, month+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
		s := end.AddDate(0, 0, -(5 + r.IntN(16)))
		for s.Weekday() != time.Monday {
			s = s.AddDate(0, 0, -1)
		}
		p.Start = s
	}
	g := &gen{
		r:        r,
		days:     p.Days,
		start:    p.Start,
		emit:     emit,
		launch:   map[int]bool{},
		monthEnd: map[int]bool{},
	}
	g.k = Knobs{
		VisitsPerClerk:  12 + 28*r.Float64(),
		SearchShare:     0.3 + 0.65*r.Float64(),
		SelfTicketShare: 0.4 + 0.5*r.Float64(),
		TravelShare:     0.01 + 0.05*r.Float64(),
		Intensity:       0.8 + 0.7*r.Float64(),
		LaunchFactor:    2.5 + r.Float64(),
	}
	g.k.MaxClerks = 5
	if p.Wide {
		g.k.MaxClerks = 3 + r.IntN(5)
		g.k.WholeRecord = 0.05 + 0.25*r.Float64()
		g.k.HandOver = 0.02 + 0.08*r.Float64()
		g.k.WrongCode = 0.02 + 0.08*r.Float64()
		g.k.TravelerStaff = 1 + r.IntN(3)
		g.k.VisitsPerClerk = 8 + 40*r.Float64()
		g.k.TravelShare = 0.005 + 0.08*r.Float64()
		g.k.LaunchFactor = 2 + 2*r.Float64()
		g.k.Intensity = 0.6 + 0.9*r.Float64()
		if r.IntN(4) == 0 {
			g.k.WholeRecord = 1 // staff see every field: fields tell nothing
		}
	}
	if p.Variant == 1 {
		g.k.SearchShare = 0.02 + 0.1*r.Float64()
		g.k.SelfTicketShare = 0.7 + 0.3*r.Float64()
	}
	offs := []time.Duration{0, 8 * time.Hour, -5 * time.Hour, 1 * time.Hour}
	g.w = &World{
		Params: p, Traps: map[string]string{}, illicit: map[illicitKey]bool{},
		UTCOffset: offs[r.IntN(len(offs))], Knobs: g.k,
	}
	g.off = int64(g.w.UTCOffset / time.Second)
	g.crm = Person{ID: "svc-crm", Org: "hq", OrgKind: "company", Role: "integration", Site: "hq", Region: "SH"}
	g.build(p.People)
	g.plan()
	for d := 0; d < g.days; d++ {
		g.day(d)
		g.flush(g.dayStart(d + 1).Add(6 * time.Hour))
	}
	g.flush(g.dayStart(g.days + 2))
	return g.w
}

// dayStart is local midnight of day d as a UTC instant.
func (g *gen) dayStart(d int) time.Time {
	return g.start.AddDate(0, 0, d).Add(-g.w.UTCOffset)
}

func (g *gen) at(d int, hour float64) time.Time {
	return g.dayStart(d).Add(time.Duration(hour * float64(time.Hour))).Truncate(time.Second)
}

func (g *gen) flush(before time.Time) {
	sort.SliceStable(g.pending, func(i, j int) bool { return g.pending[i].Time.Before(g.pending[j].Time) })
	i := 0
	for ; i < len(g.pending) && g.pending[i].Time.Before(before); i++ {
		ev := g.pending[i]
		g.emit(g.w, ev, g.w.illicit[illicitKey{ev.Actor, ev.Customer, ev.Time.UnixNano()}])
	}
	g.pending = append(g.pending[:0], g.pending[i:]...)
}

func (g *gen) build(people int) {
	r := g.r
	nr := 4 + r.IntN(4)
	perm := r.Perm(len(allRegions))
	regions := make([]string, nr)
	for i := range regions {
		regions[i] = allRegions[perm[i]]
	}
	ccShare := 0.08 + 0.1*r.Float64()
	nCC := max(6, int(float64(people)*ccShare))
	storePeople := people - nCC
	// Orgs: distributors and retailers own stores.
	type org struct{ id, kind string }
	nOrgs := max(2, storePeople/40)
	orgs := make([]org, nOrgs)
	for i := range orgs {
		kind := "distributor"
		if r.IntN(3) == 0 {
			kind = "retailer"
		}
		orgs[i] = org{fmt.Sprintf("%s-%03d", kind[:4], i+1), kind}
	}
	contractors := []string{"ctr-001", "ctr-002"}
	empN := 0
	newEmp := func(org, kind, role string, st *store, region string) *emp {
		empN++
		e := &emp{
			Person:    Person{ID: fmt.Sprintf("emp-%05d", empN*7+r.IntN(7)), Org: org, OrgKind: kind, Role: role, Region: region},
			store:     st,
			prod:      math.Exp(0.25 * r.NormFloat64()),
			habit:     0.08 * r.NormFloat64(),
			noticeDay: -1,
		}
		if st != nil {
			e.Site = st.site
		}
		a, b := r.IntN(7), r.IntN(7)
		e.offDays = [2]int{a, b}
		g.emps = append(g.emps, e)
		return e
	}
	custN := 0
	siteN := 100 + r.IntN(800)
	for n := 0; n < storePeople; {
		o := orgs[r.IntN(len(orgs))]
		siteN += 1 + r.IntN(9)
		st := &store{site: fmt.Sprintf("store-%04d", siteN), region: regions[r.IntN(nr)], org: o.id}
		nc := 400 + r.IntN(1200)
		for range nc {
			custN++
			g.custs = append(g.custs, customer{region: st.region, site: st.site})
			st.customers = append(st.customers, len(g.custs)-1)
		}
		st.manager = newEmp(o.id, o.kind, "store_manager", st, st.region)
		st.manager.shiftStart, st.manager.shiftLen = 8.5+r.Float64(), 9
		n++
		for range 2 + r.IntN(g.k.MaxClerks-1) {
			c := newEmp(o.id, o.kind, "store_clerk", st, st.region)
			if r.IntN(2) == 0 {
				c.shiftStart, c.shiftLen = 9+r.Float64(), 8
			} else {
				c.shiftStart, c.shiftLen = 12.5+r.Float64(), 8
			}
			st.clerks = append(st.clerks, c)
			n++
		}
		if r.IntN(3) == 0 {
			t := newEmp(contractors[r.IntN(2)], "contractor", "repair_tech", st, st.region)
			t.shiftStart, t.shiftLen = 9+r.Float64(), 8
			st.techs = append(st.techs, t)
			n++
		}
		g.stores = append(g.stores, st)
	}
	ccOrgs := []string{"cc-001", "cc-002"}
	for i := range nCC {
		org := ccOrgs[i%2]
		a := newEmp(org, "callcenter", "callcenter_agent", nil, "SH")
		if org == "cc-002" {
			a.Region = "SC"
		}
		a.Site = org + "-floor"
		if r.IntN(4) == 0 {
			a.Night = true
			a.shiftStart, a.shiftLen = 21.5+r.Float64(), 8
		} else {
			a.shiftStart, a.shiftLen = 8+4*r.Float64(), 8
		}
		g.cc = append(g.cc, a)
	}
	// Customer ids: random distinct 7-digit numbers (never walked in order).
	// i*stride mod 9e6 is a permutation (stride is coprime to 9e6), so ids
	// are distinct and consecutive customers are far apart.
	off := r.IntN(9_000_000)
	for i := range g.custs {
		g.custs[i].id = fmt.Sprintf("c-%07d", 1_000_000+(off+i*7_654_321)%9_000_000)
	}
	for i := 0; i < len(g.custs)/2000+1; i++ {
		g.custs[r.IntN(len(g.custs))].canary = true
	}
	for _, e := range g.emps {
		e.Hired = g.start
	}
}

// plan picks insiders, traps, launch days and month ends.
func (g *gen) plan() {
	r := g.r
	for d := range g.days {
		t := g.start.AddDate(0, 0, d)
		if t.AddDate(0, 0, 1).Day() == 1 {
			g.monthEnd[d] = true
		}
	}
	nl := 1 + r.IntN(2)
	for range nl {
		g.launch[8+r.IntN(max(1, g.days-10))] = true
	}
	clerks := []*emp{}
	for _, st := range g.stores {
		clerks = append(clerks, st.clerks...)
	}
	r.Shuffle(len(clerks), func(i, j int) { clerks[i], clerks[j] = clerks[j], clerks[i] })
	used := map[*emp]bool{}
	pick := func(pool []*emp) *emp {
		for range 100 {
			e := pool[r.IntN(len(pool))]
			if !used[e] && e.insider == "" {
				used[e] = true
				return e
			}
		}
		return nil
	}
	// Traps first: new hires, leavers as before, night agents are built in.
	for range max(2, len(g.emps)/60) {
		if e := pick(clerks); e != nil {
			e.hiredDay = 5 + r.IntN(max(1, g.days-12))
			e.Hired = g.start.AddDate(0, 0, e.hiredDay)
			g.w.Traps[e.ID] = TrapNewHire
		}
	}
	for range max(2, len(g.emps)/80) {
		if e := pick(clerks); e != nil {
			e.noticeDay = 4 + r.IntN(max(1, g.days-8))
			g.w.Traps[e.ID] = TrapLeaver
		}
	}
	for _, a := range g.cc {
		if a.Night {
			g.w.Traps[a.ID] = TrapNight
		} else {
			g.w.Traps[a.ID] = TrapCallAllRg
		}
	}
	for _, st := range g.stores {
		g.w.Traps[st.manager.ID] = TrapMonthEnd
	}
	// Insiders: at least one of each kind; more in big worlds.
	kinds := []string{Bulk, Slow, Enum, OffHours, Foreign, MadeUp, Notice, Canary}
	extra := len(g.emps) / 150
	for i := range extra {
		kinds = append(kinds, kinds[i%8])
	}
	if g.w.Params.Wide {
		// The mix differs from world to world: each kind once, then some
		// drawn at random.
		for range r.IntN(1 + len(g.emps)/100) {
			kinds = append(kinds, kinds[r.IntN(8)])
		}
	}
	for _, k := range kinds {
		pool := clerks
		if k == Bulk && r.IntN(3) == 0 {
			pool = g.cc
		}
		e := pick(pool)
		if e == nil {
			continue
		}
		delete(g.w.Traps, e.ID)
		e.insider = k
		e.intensity = g.k.Intensity * (0.8 + 0.4*r.Float64())
		e.from = 3 + r.IntN(max(1, g.days-8))
		if k == Slow || k == MadeUp || k == Foreign {
			e.from = r.IntN(max(1, g.days-10))
		}
		e.fromHour = e.shiftStart + 1 + r.Float64()*(e.shiftLen-2)
		if k == Slow && r.IntN(2) == 0 {
			e.quiet = true
		}
		if k == Notice {
			e.noticeDay = e.from
			e.from++ // surge starts the next day
		}
	}
	if g.w.Params.Wide {
		g.planWide(clerks, pick)
	}
	// A ring: three or four clerks at one store with enough staff.
	for _, st := range g.stores {
		if len(st.clerks) < 3 {
			continue
		}
		free := 0
		for _, c := range st.clerks {
			if !used[c] && c.insider == "" {
				free++
			}
		}
		if free < 3 {
			continue
		}
		from := 3 + r.IntN(max(1, g.days-8))
		region := ""
		if g.w.Params.Wide && r.IntN(2) == 0 {
			// The ring serves a buyer who wants one other region.
			for range 20 {
				if o := g.stores[r.IntN(len(g.stores))]; o.region != st.region {
					region = o.region
					break
				}
			}
		}
		n := 0
		for _, c := range st.clerks {
			if used[c] || n == 4 {
				continue
			}
			used[c] = true
			delete(g.w.Traps, c.ID)
			c.insider, c.from, c.ringStore, c.ringRegion = Ring, from, true, region
			c.fromHour = c.shiftStart + 1 + r.Float64()*(c.shiftLen-2)
			c.intensity = g.k.Intensity * (0.8 + 0.4*r.Float64())
			n++
		}
		break
	}
	for _, e := range g.emps {
		g.w.People = append(g.w.People, e.Person)
	}
}

func (g *gen) works(e *emp, d int) bool {
	if d < e.hiredDay {
		return false
	}
	wd := (int(g.start.Weekday()) + d) % 7
	return wd != e.offDays[0] && wd != e.offDays[1]
}

func (g *gen) poisson(mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 40 {
		v := int(math.Round(mean + math.Sqrt(mean)*g.r.NormFloat64()))
		return max(v, 0)
	}
	l, k, p := math.Exp(-mean), 0, 1.0
	for {
		p *= g.r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func (g *gen) base(e *emp, t time.Time, action string) event.Event {
	return event.Event{
		Time: t, Actor: e.ID, Org: e.Org, Role: e.Role, Site: e.Site, Region: e.Region,
		Action: action, Decision: event.Allow,
	}
}

func (g *gen) consentShare() float64 {
	if g.w.Params.Variant == 1 {
		return 0.05
	}
	return 0.5
}

func (g *gen) push(ev event.Event, illicit bool) {
	if g.w.Params.Variant == 1 {
		ev.Found, ev.CustomerSite = nil, ""
	}
	if illicit {
		g.w.illicit[illicitKey{ev.Actor, ev.Customer, ev.Time.UnixNano()}] = true
	}
	g.pending = append(g.pending, ev)
}

func boolp(b bool) *bool { return &b }

// visit is one service interaction: optional miss, search, ticket or
// consent, then reads.
type visitOpts struct {
	search, selfTicket, consent, crmTicket bool
	miss                                   bool
	reads                                  int
	illicit                                bool
	// Drawn worlds: the ticket goes to handTo, who reads (the opener
	// reads nothing); wrong is how many mistyped codes precede a consent's
	// confirmation (with noConfirm, the consent is never confirmed and
	// nothing is read); part takes only some fields.
	handTo    *emp
	wrong     int
	noConfirm bool
	part      bool
}

var (
	fieldsAll  = []string{"name", "phone", "account"}
	fieldsPart = []string{"name", "phone"}
	fieldsName = []string{"name"}
)

func (g *gen) visit(e *emp, t time.Time, c int, o visitOpts) {
	for !o.illicit && g.custs[c].canary {
		c = (c + 1) % len(g.custs) // nobody reads a canary for real
	}
	cu := g.custs[c]
	wide := g.w.Params.Wide
	if o.miss {
		ev := g.base(e, t.Add(-40*time.Second), event.ActionSearch)
		ev.Found = boolp(false)
		g.push(ev, false)
	}
	if o.search {
		ev := g.base(e, t, event.ActionSearch)
		ev.Customer, ev.CustomerRegion, ev.CustomerSite = cu.id, cu.region, cu.site
		ev.Found, ev.Canary = boolp(true), cu.canary
		g.push(ev, o.illicit)
		t = t.Add(time.Duration(20+g.r.IntN(60)) * time.Second)
	}
	purpose, basis := "", ""
	opened := t
	reader := e
	switch {
	case o.consent:
		g.consentN++
		purpose, basis = fmt.Sprintf("consent:K-%06d", g.consentN), event.BasisConsent
		if wide {
			ev := g.base(e, t, event.ActionConsentStart)
			ev.Customer, ev.Purpose = cu.id, purpose
			g.push(ev, o.illicit)
			t = t.Add(time.Duration(30+g.r.IntN(60)) * time.Second)
			for range o.wrong {
				ev := g.base(e, t, event.ActionConsentConfirm)
				ev.Customer, ev.CustomerRegion, ev.CustomerSite, ev.Purpose = cu.id, cu.region, cu.site, purpose
				ev.Decision, ev.Reason = event.Deny, "wrong_code"
				g.push(ev, o.illicit)
				t = t.Add(time.Duration(8+g.r.IntN(30)) * time.Second)
			}
			if o.noConfirm {
				return
			}
		}
		ev := g.base(e, t, event.ActionConsentConfirm)
		ev.Customer, ev.CustomerRegion, ev.CustomerSite, ev.Canary = cu.id, cu.region, cu.site, cu.canary
		ev.Purpose, ev.PurposeValid = purpose, true
		if wide {
			ev.Basis = event.BasisConsent
		}
		g.push(ev, false)
	case o.crmTicket:
		g.ticketN++
		purpose, basis = fmt.Sprintf("ticket:T-%07d", g.ticketN), event.BasisCRMTicket
		opened = t.Add(-time.Duration(1+g.r.IntN(120)) * time.Minute)
		ev := event.Event{Time: opened, Actor: g.crm.ID, Org: g.crm.Org,
			Role: g.crm.Role, Site: e.Site, Region: e.Region, Action: event.ActionTicketCreate,
			Customer: cu.id, CustomerRegion: cu.region, CustomerSite: cu.site, Canary: cu.canary, Decision: event.Allow}
		ev.Purpose, ev.PurposeValid = purpose, wide
		if wide {
			ev.Basis = event.BasisCRMTicket
		}
		g.push(ev, false)
	default:
		g.ticketN++
		purpose, basis = fmt.Sprintf("ticket:T-%07d", g.ticketN), event.BasisOwnTicket
		ev := g.base(e, t, event.ActionTicketCreate)
		ev.Customer, ev.CustomerRegion, ev.CustomerSite, ev.Canary = cu.id, cu.region, cu.site, cu.canary
		ev.Purpose = purpose
		if wide {
			ev.PurposeValid = true
		}
		g.push(ev, o.illicit)
		if o.handTo != nil {
			t = t.Add(time.Duration(20+g.r.IntN(120)) * time.Second)
			ev := g.base(e, t, event.ActionTicketAssign)
			ev.Customer, ev.Purpose, ev.PurposeValid, ev.Target = cu.id, purpose, true, o.handTo.ID
			g.push(ev, o.illicit)
			reader, basis = o.handTo, event.BasisAssignedTicket
			t = t.Add(time.Duration(60+g.r.IntN(1200)) * time.Second)
		}
	}
	fields := fieldsAll
	if wide && o.part {
		fields = fieldsPart
		if g.r.IntN(4) == 0 {
			fields = fieldsName
		}
	}
	for i := range max(o.reads, 1) {
		t = t.Add(time.Duration(15+g.r.IntN(90*(i+1))) * time.Second)
		ev := g.base(reader, t, event.ActionRead)
		ev.Customer, ev.CustomerRegion, ev.CustomerSite = cu.id, cu.region, cu.site
		ev.Fields = fields
		ev.Purpose, ev.PurposeValid = purpose, true
		ev.Found, ev.Canary = boolp(true), cu.canary
		if wide {
			ev.Basis = basis
			if age := t.Sub(opened); age > 0 && basis != event.BasisConsent {
				ev.TicketAge = int64(age / time.Second)
			}
		}
		g.push(ev, o.illicit)
	}
}

// partRecord draws whether a legitimate read takes only part of the
// record (drawn worlds only; elsewhere every read takes it all).
func (g *gen) partRecord() bool {
	return g.w.Params.Wide && g.r.Float64() >= g.k.WholeRecord
}

// legitVisit draws a normal visit's habits from the world's knobs.
func (g *gen) legitVisit(e *emp) visitOpts {
	r := g.r
	o := visitOpts{reads: 1 + r.IntN(3)}
	ss := clampf(g.k.SearchShare+e.habit, 0.05, 0.98)
	switch x := r.Float64(); {
	case x < ss:
		o.search = true
		o.crmTicket = r.Float64() > g.k.SelfTicketShare
	case x < ss+g.consentShare()*(1-ss):
		o.consent = true
	default:
		o.crmTicket = r.Float64() > g.k.SelfTicketShare
	}
	o.miss = r.Float64() < 0.03
	if g.w.Params.Wide {
		o.part = r.Float64() >= g.k.WholeRecord
		if o.consent && r.Float64() < g.k.WrongCode {
			o.wrong = 1 + r.IntN(2)
		}
	}
	return o
}

func (g *gen) shiftTime(e *emp, d int) time.Time {
	h := e.shiftStart + e.shiftLen*g.r.Float64()
	return g.at(d, h).Add(time.Duration(g.r.IntN(60)) * time.Second)
}

// customerFor picks a visiting customer for a store.
func (g *gen) customerFor(st *store) int {
	r := g.r
	x := r.Float64()
	switch {
	case x < g.k.TravelShare:
		return r.IntN(len(g.custs))
	case x < g.k.TravelShare+0.08:
		o := g.stores[r.IntN(len(g.stores))]
		if o.region == st.region {
			return o.customers[r.IntN(len(o.customers))]
		}
	}
	return st.customers[r.IntN(len(st.customers))]
}

func (g *gen) day(d int) {
	r := g.r
	wd := (int(g.start.Weekday()) + d) % 7
	factor := 1.0
	if wd == 0 || wd == 6 {
		factor = 1.25
	}
	if g.launch[d] {
		factor *= g.k.LaunchFactor
	}
	for _, st := range g.stores {
		// Stores have their own busy and quiet days.
		sf := math.Exp(0.2 * r.NormFloat64())
		for _, c := range st.clerks {
			if c.noticeDay == d {
				ev := g.base(c, g.at(d, 8), event.ActionNotice)
				ev.Reason = g.start.AddDate(0, 0, d+30).Format("2006-01-02")
				g.push(ev, false)
			}
			if !g.works(c, d) {
				continue
			}
			n := g.poisson(g.k.VisitsPerClerk * c.prod * factor * sf)
			if c.insider == Blend && d >= c.from {
				n = g.blend(c, d, n)
			}
			serve := st
			if c.cover != nil && d >= c.coverFrom && d < c.coverTo {
				serve = c.cover
			}
			for range n {
				o := g.legitVisit(c)
				if g.w.Params.Wide && !o.consent && r.Float64() < g.k.HandOver {
					// Opened after a search, handed to a colleague or the
					// technician to finish.
					if to := g.colleague(st, c, d); to != nil {
						o.search, o.crmTicket, o.handTo = true, false, to
					}
				}
				g.visit(c, g.shiftTime(c, d), g.customerFor(serve), o)
			}
			if c.insider != "" && d >= c.from {
				g.harvest(c, d)
			}
		}
		// Technicians read under tickets a clerk opened.
		for _, t := range st.techs {
			if !g.works(t, d) {
				continue
			}
			for range g.poisson(6 * t.prod * math.Sqrt(factor)) {
				g.visit(t, g.shiftTime(t, d), st.customers[r.IntN(len(st.customers))], visitOpts{crmTicket: true, reads: 1 + r.IntN(2), part: g.partRecord()})
			}
		}
		m := st.manager
		if g.works(m, d) || g.monthEnd[d] {
			for range g.poisson(4 * m.prod) {
				o := g.legitVisit(m)
				g.visit(m, g.shiftTime(m, d), g.customerFor(st), o)
			}
			if g.monthEnd[d] {
				// Month-end batch: the CRM opens review tickets, the manager
				// works through them in a couple of hours.
				n := 60 + r.IntN(120)
				t := g.at(d, m.shiftStart+r.Float64()*3)
				for range n {
					t = t.Add(time.Duration(40+r.IntN(80)) * time.Second)
					g.visit(m, t, st.customers[r.IntN(len(st.customers))], visitOpts{crmTicket: true, reads: 1, part: g.partRecord()})
				}
			}
		}
	}
	for _, a := range g.cc {
		if !g.works(a, d) {
			continue
		}
		for range g.poisson(1.3 * g.k.VisitsPerClerk * a.prod * math.Sqrt(factor)) {
			c := r.IntN(len(g.custs))
			o := visitOpts{search: r.Float64() < 0.9, reads: 1 + r.IntN(2), miss: r.Float64() < 0.05, part: g.partRecord()}
			o.crmTicket = !o.search && r.IntN(2) == 0
			g.visit(a, g.shiftTime(a, d), c, o)
		}
		if a.insider != "" && d >= a.from {
			g.harvest(a, d)
		}
	}
}

// colleague returns someone at st other than c working on day d (a
// technician when there is one), or nil.
func (g *gen) colleague(st *store, c *emp, d int) *emp {
	var pool []*emp
	for _, t := range st.techs {
		if g.works(t, d) {
			pool = append(pool, t)
		}
	}
	if len(pool) == 0 || g.r.IntN(2) == 0 {
		for _, x := range st.clerks {
			if x != c && g.works(x, d) {
				pool = append(pool, x)
			}
		}
	}
	if len(pool) == 0 {
		return nil
	}
	return pool[g.r.IntN(len(pool))]
}

// planWide plants what drawn worlds add: staff who cover another region's
// store, new kinds of insider, and a relay pair.
func (g *gen) planWide(clerks []*emp, pick func([]*emp) *emp) {
	r := g.r
	for range g.k.TravelerStaff {
		e := pick(clerks)
		if e == nil {
			break
		}
		for range 20 {
			o := g.stores[r.IntN(len(g.stores))]
			if o.region != e.Region {
				e.cover = o
				break
			}
		}
		if e.cover == nil {
			continue
		}
		e.coverFrom = 3 + r.IntN(max(1, g.days-8))
		e.coverTo = e.coverFrom + 2 + r.IntN(4)
		g.w.Traps[e.ID] = TrapTraveller
	}
	start := func(e *emp, kind string, from int) {
		delete(g.w.Traps, e.ID)
		e.insider, e.from = kind, from
		e.intensity = g.k.Intensity * (0.8 + 0.4*r.Float64())
		e.fromHour = e.shiftStart + 1 + r.Float64()*(e.shiftLen-2)
	}
	kinds := []string{Blend, FirstWeek, Ramp, Codes}
	for range r.IntN(1 + len(g.emps)/150) {
		kinds = append(kinds, kinds[r.IntN(4)])
	}
	for _, k := range kinds {
		e := pick(clerks)
		if e == nil {
			continue
		}
		switch k {
		case FirstWeek:
			e.hiredDay = 3 + r.IntN(max(1, g.days-10))
			e.Hired = g.start.AddDate(0, 0, e.hiredDay)
			start(e, k, e.hiredDay+r.IntN(4))
			e.quiet = r.IntN(2) == 0
		case Ramp:
			start(e, k, r.IntN(max(1, g.days/3)))
			e.quiet = r.IntN(2) == 0
		default:
			start(e, k, 2+r.IntN(max(1, g.days-8)))
		}
	}
	// A relay pair: two clerks at one store.
	for range 1 + r.IntN(2) {
		for range 50 {
			st := g.stores[r.IntN(len(g.stores))]
			var free []*emp
			for _, c := range st.clerks {
				if c.insider == "" && g.w.Traps[c.ID] == "" {
					free = append(free, c)
				}
			}
			if len(free) < 2 {
				continue
			}
			a, b := free[0], free[1]
			from := 2 + r.IntN(max(1, g.days-8))
			start(a, Relay, from)
			start(b, Relay, from)
			a.opener, a.partner, b.partner = true, b, a
			b.intensity = a.intensity
			break
		}
	}
}

// blend replaces part of an insider's n visits today with reads of other
// regions' customers taking the whole record, keeping the day's volume,
// and returns how many ordinary visits are left.
func (g *gen) blend(e *emp, d, n int) int {
	r := g.r
	share := math.Min(0.9, (0.3+0.4*r.Float64())*e.intensity)
	k := int(math.Round(float64(n) * share))
	if k < 3 {
		k = min(n, 3)
	}
	for range k {
		c := r.IntN(len(g.custs))
		for g.custs[c].region == e.Region {
			c = r.IntN(len(g.custs))
		}
		o := visitOpts{reads: 1, illicit: true, search: r.IntN(2) == 0}
		t := g.shiftTime(e, d)
		if d == e.from && t.Before(g.at(d, e.fromHour)) {
			t = g.at(d, e.fromHour).Add(time.Duration(r.IntN(3600)) * time.Second)
		}
		g.first(e, t)
		g.visit(e, t, c, o)
	}
	return n - k
}

// first records e's first illicit event (the earliest call wins).
func (g *gen) first(e *emp, t time.Time) {
	for i, in := range g.w.Insiders {
		if in.Actor == e.ID {
			if t.Before(in.From) {
				g.w.Insiders[i].From = t
			}
			return
		}
	}
	g.w.Insiders = append(g.w.Insiders, Insider{Actor: e.ID, Kind: e.insider, From: t})
}

// harvest adds an insider's illicit activity for day d.
func (g *gen) harvest(e *emp, d int) {
	r := g.r
	k := e.intensity
	start := g.at(d, e.shiftStart+0.5)
	if d == e.from {
		start = g.at(d, e.fromHour)
	}
	end := g.at(d, e.shiftStart+e.shiftLen)
	if !start.Before(end) {
		start = end.Add(-time.Hour)
	}
	during := func() time.Time {
		return start.Add(time.Duration(r.Int64N(int64(end.Sub(start)))))
	}
	first := func(t time.Time) {
		w := g.w
		for _, in := range w.Insiders {
			if in.Actor == e.ID {
				return
			}
		}
		w.Insiders = append(w.Insiders, Insider{Actor: e.ID, Kind: e.insider, From: t})
	}
	home := e.store
	randomCust := func() int { return r.IntN(len(g.custs)) }
	homeCust := func() int {
		if home == nil {
			return randomCust()
		}
		return home.customers[r.IntN(len(home.customers))]
	}
	made := visitOpts{reads: 1, illicit: true}
	var times []time.Time
	var custs []int
	var opts []visitOpts
	add := func(t time.Time, c int, o visitOpts) {
		times, custs, opts = append(times, t), append(custs, c), append(opts, o)
	}
	switch e.insider {
	case Bulk:
		if e.bulkDone {
			return
		}
		e.bulkDone = true
		n := int(float64(150+r.IntN(350)) * k)
		t := start
		for range n {
			t = t.Add(time.Duration(3+r.IntN(12)) * time.Second)
			o := made
			if r.IntN(4) == 0 {
				o.search = true
			}
			add(t, randomCust(), o)
		}
	case Slow, MadeUp:
		n := g.poisson((12 + 25*r.Float64()) * k)
		for range n {
			c := homeCust()
			o := made
			switch {
			case e.quiet:
				// Phones from the store's own list: looked up like a
				// visitor, home customers only. Only volume shows.
				o.search = true
			case r.IntN(2) == 0:
				c = randomCust()
			}
			add(during(), c, o)
		}
	case FirstWeek:
		n := g.poisson((12 + 25*r.Float64()) * k)
		for range n {
			c := homeCust()
			o := made
			if e.quiet {
				o.search = true
			} else if r.IntN(2) == 0 {
				c = randomCust()
			}
			add(during(), c, o)
		}
	case Ramp:
		// From a couple a day up by about two more each day.
		n := g.poisson(math.Min(45, 2+2*float64(d-e.from)) * k)
		for range n {
			c := homeCust()
			o := made
			if e.quiet {
				o.search = true
			} else if r.IntN(3) == 0 {
				c = randomCust()
			}
			add(during(), c, o)
		}
	case Relay:
		if !e.opener {
			return // the partner reads what the opener hands over
		}
		n := g.poisson((10 + 20*r.Float64()) * k)
		for range n {
			c := randomCust()
			if r.IntN(3) == 0 {
				c = homeCust()
			}
			o := made
			o.handTo = e.partner
			t := during()
			g.first(e.partner, t)
			add(t, c, o)
		}
	case Codes:
		// A burst of consents for customers who are not there, each
		// with guessed codes.
		n := 4 + g.poisson(8*k)
		t := start
		for range n {
			t = t.Add(time.Duration(40+r.IntN(200)) * time.Second)
			add(t, randomCust(), visitOpts{consent: true, wrong: 2 + r.IntN(3), noConfirm: true, illicit: true})
		}
	case Ring:
		n := g.poisson((10 + 20*r.Float64()) * k)
		for range n {
			c := homeCust()
			if e.ringRegion != "" {
				c = randomCust()
				for g.custs[c].region != e.ringRegion {
					c = randomCust()
				}
			}
			add(during(), c, made)
		}
	case Foreign:
		n := g.poisson((12 + 25*r.Float64()) * k)
		for range n {
			c := randomCust()
			for g.custs[c].region == e.Region {
				c = randomCust()
			}
			o := made
			o.search = r.IntN(2) == 0 // phones from a bought list
			add(during(), c, o)
		}
	case OffHours:
		n := g.poisson((15 + 30*r.Float64()) * k)
		h := 22 + 5*r.Float64()
		if e.Night {
			h = 12 + 3*r.Float64()
		}
		t := g.at(d, h)
		for range n {
			t = t.Add(time.Duration(30+r.IntN(200)) * time.Second)
			add(t, randomCust(), made)
		}
	case Enum:
		// Walk phone numbers: most are not customers.
		n := int(float64(40+r.IntN(120)) * k)
		t := start
		for range n {
			t = t.Add(time.Duration(5+r.IntN(40)) * time.Second)
			if r.Float64() < 0.12 {
				add(t, randomCust(), visitOpts{search: true, reads: 1, illicit: true})
				continue
			}
			ev := g.base(e, t, event.ActionSearch)
			ev.Found = boolp(false)
			first(t)
			g.push(ev, true)
		}
	case Notice:
		n := g.poisson((2 + 3*r.Float64()) * k * g.k.VisitsPerClerk)
		for range n {
			add(during(), homeCust(), made)
		}
	case Canary:
		// Reads one canary record among normal work, then carries on.
		if e.bulkDone {
			return
		}
		e.bulkDone = true
		c := -1
		for i, cu := range g.custs {
			if cu.canary {
				c = i
				break
			}
		}
		add(start, c, made)
	}
	sortIdx := make([]int, len(times))
	for i := range sortIdx {
		sortIdx[i] = i
	}
	sort.Slice(sortIdx, func(a, b int) bool { return times[sortIdx[a]].Before(times[sortIdx[b]]) })
	if len(sortIdx) > 0 {
		first(times[sortIdx[0]])
	}
	for _, i := range sortIdx {
		g.visit(e, times[i], custs[i], opts[i])
	}
}

func clampf(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
