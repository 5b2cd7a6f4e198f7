// Package detect finds insiders in a stream of access events: people who use
// their permitted access to harvest customer records.
//
// An Engine learns, online, what normal is for each person (their own daily
// volumes, hours and regions) and for their peers (same role at the same
// org and site; same role in the same region; same role everywhere), and
// scores each person on a set of detectors: bulk pulls, slow-and-low
// harvesting, enumeration, off-hours work, foreign customers, made-up
// purposes, surges after notice, rings at one site, canary reads, whole
// records taken beyond peers' habits, tickets relayed between colleagues
// (one opens for customers who never came, the other reads), bursts of
// wrong one-time codes, and more customers whose record was opened only
// once than peers' habits predict (a visit opens a record several times,
// a harvest takes one look at each). Besides reads it follows the workflow around them:
// searches, tickets opened and handed over, consents started and
// confirmed, and each read's basis.
// Detection is online: an alert uses only the events observed before it, so
// the same code runs in the gateway (custos serve) and offline
// (custos detect).
//
// Reads are weighted by how well they are explained: a read of a customer the
// person looked up by phone, who confirmed a consent, or whose ticket
// someone else opened, is the trace of a real visit; a read under a ticket the
// reader opened for a customer who left no other trace is not. Most
// detectors compare these weighted volumes, so a busy day of real visits
// stays quiet while a few dozen unexplained reads do not.
//
// Memory is bounded by the number of people and peer groups, not by the
// number of events: each person keeps fixed-size rings and sketches (see
// docs/DETECTION.md for the bytes per person).
//
// An Engine is not safe for concurrent use: feed it from one goroutine, or
// guard it with a mutex (Snapshot, Risk and Profile read the same state).
package detect

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// Containment actions an alert may recommend.
const (
	ActionNone    = ""
	ActionStepUp  = "stepup"
	ActionSuspend = "suspend"
)

// Alert kinds: the detector that contributed most to the alert.
const (
	KindCanary   = "canary"
	KindBulk     = "bulk"
	KindVolume   = "volume"
	KindPurpose  = "purpose"
	KindSlow     = "slow"
	KindEnum     = "enumeration"
	KindOffHours = "offhours"
	KindForeign  = "foreign"
	KindNotice   = "notice"
	KindRing     = "ring"
	KindCodes    = "codes"
	KindRelay    = "relay"
	KindRecords  = "records"
	KindOnce     = "once"
)

// Config tunes an Engine. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// UTCOffset is the offset of local time from UTC, used for day
	// boundaries and hours of the day. Default 0 (event times as written).
	UTCOffset time.Duration
	// AlertScore is the risk at which an alert is raised. Default 0.7.
	AlertScore float64
	// StepUpScore is the risk at which an alert recommends step-up (reads
	// need a confirmed consent). Default 0.85.
	StepUpScore float64
	// SuspendScore is the risk at which an alert recommends suspension.
	// Default 0.95.
	SuspendScore float64
	// MinHistoryDays is how many active days a person needs before their own
	// baseline is trusted; before that, peers stand in. Default 4.
	MinHistoryDays int
	// Sensitivity scales every detector threshold: 1 is the default, 0.8
	// fires sooner, 1.25 later. Must be in (0, 10].
	Sensitivity float64
	// SiteZones gives sites their local time zone (keyed by the events'
	// site), for off-hours and hour-of-day patterns of the site's staff;
	// sites not listed use UTCOffset. Day boundaries stay on UTCOffset
	// for everyone, so that peers' days line up. Optional.
	SiteZones map[string]*time.Location
	// MaxDistinctPerDay caps the exact per-person set of customers read in a
	// day (8 bytes each at most twice over); past it, counts saturate
	// upward. Default 4096.
	MaxDistinctPerDay int
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		AlertScore:        0.7,
		StepUpScore:       0.85,
		SuspendScore:      0.95,
		MinHistoryDays:    4,
		Sensitivity:       1,
		MaxDistinctPerDay: 4096,
	}
}

// ErrInvalidConfig is wrapped by Validate's errors.
var ErrInvalidConfig = errors.New("invalid detect config")

// Validate checks the config, naming the first bad field.
func (c Config) Validate() error {
	switch {
	case c.AlertScore <= 0 || c.AlertScore > 1:
		return fmt.Errorf("%w: AlertScore %v not in (0,1]", ErrInvalidConfig, c.AlertScore)
	case c.StepUpScore < c.AlertScore || c.StepUpScore > 1:
		return fmt.Errorf("%w: StepUpScore %v not in [AlertScore,1]", ErrInvalidConfig, c.StepUpScore)
	case c.SuspendScore < c.StepUpScore || c.SuspendScore > 1:
		return fmt.Errorf("%w: SuspendScore %v not in [StepUpScore,1]", ErrInvalidConfig, c.SuspendScore)
	case c.MinHistoryDays < 1 || c.MinHistoryDays > historyDays:
		return fmt.Errorf("%w: MinHistoryDays %d not in [1,%d]", ErrInvalidConfig, c.MinHistoryDays, historyDays)
	case c.Sensitivity <= 0 || c.Sensitivity > 10:
		return fmt.Errorf("%w: Sensitivity %v not in (0,10]", ErrInvalidConfig, c.Sensitivity)
	case c.MaxDistinctPerDay < 64:
		return fmt.Errorf("%w: MaxDistinctPerDay %d below 64", ErrInvalidConfig, c.MaxDistinctPerDay)
	case c.UTCOffset <= -24*time.Hour || c.UTCOffset >= 24*time.Hour:
		return fmt.Errorf("%w: UTCOffset %v out of range", ErrInvalidConfig, c.UTCOffset)
	}
	return nil
}

// Alert is a finding about one actor. Its JSON is the contract's alert line
// (actor, time, score, reasons, records) plus kind, action, org and site.
type Alert struct {
	Actor string    `json:"actor"`
	Time  time.Time `json:"time"`
	// Score is the actor's risk in [0,1] when the alert fired.
	Score   float64  `json:"score"`
	Reasons []string `json:"reasons"`
	// Records is the number of distinct customers the actor had read
	// (allowed reads) up to Time; estimated past a few thousand.
	Records int `json:"records"`
	// Kind names the detector that contributed most (KindBulk, ...).
	Kind string `json:"kind"`
	// Action is the recommended containment: ActionStepUp, ActionSuspend or
	// ActionNone, by the thresholds in Config.
	Action string `json:"action"`
	Org    string `json:"org,omitempty"`
	Site   string `json:"site,omitempty"`
}

// Risk is a person's current standing, for the dashboard.
type Risk struct {
	Actor   string    `json:"actor"`
	Org     string    `json:"org"`
	Role    string    `json:"role"`
	Site    string    `json:"site"`
	Region  string    `json:"region"`
	Score   float64   `json:"score"`
	Reasons []string  `json:"reasons"`
	Kind    string    `json:"kind,omitempty"`
	Records int       `json:"records"`
	Updated time.Time `json:"updated"`
	// Notice is set when the person has given notice.
	Notice bool `json:"notice,omitempty"`
}

// DayPoint is one day of a person's timeline beside their peers.
type DayPoint struct {
	Day time.Time `json:"day"` // local midnight, as a UTC instant
	// Reads is distinct customers the person read (or tried to) that day.
	Reads int `json:"reads"`
	// Unexplained is how many of them left no trace of a real visit.
	Unexplained int `json:"unexplained"`
	// PeerMedian and PeerHigh (90th percentile) are the same-role peers'
	// distinct reads that day (active peers only); 0 when unknown.
	PeerMedian float64 `json:"peer_median"`
	PeerHigh   float64 `json:"peer_high"`
}

// PersonProfile is a person's recent history for a timeline chart.
type PersonProfile struct {
	Risk
	Days []DayPoint `json:"days"`
	// Hours is the share of the person's reads in each local hour of day.
	Hours [24]float64 `json:"hours"`
}

// Engine holds per-person and per-group state. See the package comment on
// concurrency.
type Engine struct {
	cfg    Config
	off    int64 // UTC offset in seconds
	people map[string]*person
	groups map[string]*group
	sites  map[string]*siteState
	dets   []detector
	// handed holds recent tickets opened for a customer who left no trace
	// of a visit and handed to a colleague: key handKey(colleague,
	// customer), value the opener. Bounded: the oldest of handedMax
	// entries is forgotten first.
	handed  map[uint64]*person
	handedQ [handedMax]uint64
	handedI int
	// cur and chk are reused per event so nothing escapes to the heap.
	cur event.Event
	chk check
}

// New returns an Engine. An invalid cfg panics: validate configs from users
// with Config.Validate first.
func New(cfg Config) *Engine {
	if err := cfg.Validate(); err != nil {
		panic("detect: internal error: " + err.Error())
	}
	return &Engine{
		cfg:    cfg,
		off:    int64(cfg.UTCOffset / time.Second),
		people: make(map[string]*person),
		groups: make(map[string]*group),
		sites:  make(map[string]*siteState),
		dets:   allDetectors(),
		handed: make(map[uint64]*person),
	}
}

// handedMax bounds Engine.handed.
const handedMax = 1 << 14

func handKey(to, customer string) uint64 {
	return hashString(to)*0x9e3779b97f4a7c15 ^ hashString(customer)
}

// hand records that opener handed an untraced ticket for customer to to.
func (e *Engine) hand(opener *person, to, customer string) {
	k := handKey(to, customer)
	if _, ok := e.handed[k]; !ok {
		if old := e.handedQ[e.handedI]; old != 0 {
			delete(e.handed, old)
		}
		e.handedQ[e.handedI] = k
		e.handedI = (e.handedI + 1) % handedMax
	}
	e.handed[k] = opener
}

// People reports how many people the engine holds state for.
func (e *Engine) People() int { return len(e.people) }

// Observe feeds one event and returns the alerts it raises (usually none).
// Events should come in time order; up to a minute out of order is fine.
func (e *Engine) Observe(ev0 event.Event) []Alert {
	switch ev0.Action {
	case event.ActionRead, event.ActionExport, event.ActionSearch, event.ActionConsentConfirm,
		event.ActionTicketCreate, event.ActionNotice, event.ActionConsentStart:
	case event.ActionTicketAssign:
		if ev0.Target == "" || ev0.Customer == "" || ev0.Decision == event.Deny {
			return nil
		}
	case event.ActionReinstate:
		e.reinstate(&ev0)
		return nil
	case event.ActionCaseUpdate:
		e.caseOutcome(&ev0)
		return nil
	case event.ActionStepUp, event.ActionSuspend:
		// Containment (by the detectors or an analyst): the target's reads
		// are now denied or need consents because of it, which is no new
		// evidence against them.
		if t := e.people[ev0.Target]; t != nil && ev0.Decision != event.Deny {
			t.contained = true
		}
		return nil
	default:
		// Other actions (customers signing in, auditors, the detectors'
		// own containment, ...) carry no evidence and must not grow
		// state: memory stays bounded by the people who read.
		return nil
	}
	e.cur = ev0
	ev := &e.cur
	p := e.person(ev)
	u := e.clock(ev.Time)
	if p.loc != nil {
		u.hour = p.localHour(ev.Time)
	}
	p.roll(e, u.day)
	if u.day < p.day {
		u.day = p.day // up to a minute late across midnight: count it today
	}
	switch ev.Action {
	case event.ActionRead, event.ActionExport:
		if ev.Decision == event.Deny && (p.contained || containmentReason(ev.Reason)) {
			// Refused because we contained them: already alerted on.
			return e.evaluate(p, ev, u, ev.Canary)
		}
		if ev.Customer == "" {
			if isMiss(ev) {
				p.miss(e)
				return e.evaluate(p, ev, u, true)
			}
			return nil
		}
		if isMiss(ev) {
			p.miss(e)
		}
		p.read(e, ev, u)
		return e.evaluate(p, ev, u, true)
	case event.ActionSearch:
		p.today.searches++
		changed := ev.Canary
		if isMiss(ev) {
			p.miss(e)
			changed = true
		} else if ev.Customer != "" {
			// A hit, allowed or not, shows the person had the customer's
			// phone or account: the trace of a contact.
			p.trace.add(hashString(ev.Customer))
			changed = p.sequential(e, ev.Customer) || changed
		}
		return e.evaluate(p, ev, u, changed)
	case event.ActionConsentStart:
		if ev.Decision != event.Deny {
			p.today.consents++
		}
	case event.ActionConsentConfirm:
		if ev.Customer != "" && ev.Decision != event.Deny {
			p.trace.add(hashString(ev.Customer))
		}
		if ev.Reason == "wrong_code" {
			// Guessing codes for customers who are not at the counter.
			p.today.wrong++
			return e.evaluate(p, ev, u, true)
		}
	case event.ActionTicketAssign:
		if ev.Target == ev.Actor || p.trace.has(hashString(ev.Customer)) {
			return nil // a visit handed to a colleague to finish
		}
		// A ticket for a customer this person never looked up, handed to
		// a colleague: the colleague's reads under it are not explained
		// by it, and the hand-over counts against the opener like an
		// unexplained read.
		e.hand(p, ev.Target, ev.Customer)
		p.today.handed++
		if q := e.people[ev.Target]; q != nil {
			p.addLink(q)
		}
		return e.evaluate(p, ev, u, true)
	case event.ActionTicketCreate:
		if ev.Customer != "" && ev.Decision != event.Deny {
			p.selfTickets.add(hashString(ev.Customer))
		}
	case event.ActionNotice:
		// The gateway writes the leaver as actor (and target); a denied
		// attempt by someone else says nothing about anyone leaving.
		if ev.Decision != event.Deny && (ev.Target == "" || ev.Target == ev.Actor) && !p.noticeGiven {
			p.noticeGiven = true
			p.noticeDay = u.day
		}
	}
	return nil
}

// reinstate applies principal.reinstate: an analyst cleared the target
// (the actor when no target is named), so today's findings are forgotten and
// the same evidence does not re-raise the same day.
func (e *Engine) reinstate(ev *event.Event) {
	id := ev.Target
	if id == "" {
		id = ev.Actor
	}
	if t := e.people[id]; t != nil && ev.Decision != event.Deny {
		t.contained = false
		// alertLevel stays: only a stronger finding (or a canary) alerts
		// again today; tomorrow starts afresh.
		t.findings = [numKinds]finding{}
		t.risk0 = 0
	}
}

// DampFor is how long a benign outcome damps the pattern it cleared.
const DampFor = 14 * 24 * time.Hour

// caseOutcome applies an analyst's outcome on a case (event.ActionCaseUpdate,
// Target the person, Reason "… outcome=benign kind=<kind>"): a benign one
// halves every finding but a canary's on that person for DampFor — the
// alert's pattern is usually several findings together (odd hours and no
// visits, say) — so the same work does not keep alerting; a much stronger
// pattern still does, and a canary always does.
func (e *Engine) caseOutcome(ev *event.Event) {
	t := e.people[ev.Target]
	if t == nil || ev.Decision == event.Deny || !strings.Contains(ev.Reason, "outcome=benign") {
		return
	}
	for i, k := range kindNames {
		if k != KindCanary {
			t.damped[i] = ev.Time.Add(DampFor).Unix()
		}
	}
}

// containmentReason reports a refusal caused by containment (the person is
// suspended or stepped up), not by what they asked for.
func containmentReason(r string) bool {
	switch r {
	case "principal_suspended", "principal_stepup", "stepup_required", "consent_required":
		return true
	}
	return false
}

// isMiss reports a lookup of a record that does not exist.
func isMiss(ev *event.Event) bool {
	if ev.Found != nil {
		return !*ev.Found
	}
	if ev.Reason == "not_found" {
		return true
	}
	return ev.Action == event.ActionSearch && ev.Customer == "" && ev.Decision == event.Allow
}

// clock splits an event time into local day and 5-minute slot.
type instant struct {
	day  int32 // local days since 1970
	slot int64 // 5-minute slots since 1970 (local)
	hour int   // local hour of day
	t    time.Time
}

func (e *Engine) clock(t time.Time) instant {
	s := t.Unix() + e.off
	d := s / 86400
	if s < 0 && s%86400 != 0 {
		d--
	}
	h := int((s - d*86400) / 3600)
	return instant{day: int32(d), slot: floorDiv(s, 300), hour: h, t: t}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (e *Engine) person(ev *event.Event) *person {
	p := e.people[ev.Actor]
	if p == nil {
		p = &person{eng: e, id: ev.Actor, day: -1 << 30}
		p.seen.max = e.cfg.MaxDistinctPerDay
		e.people[ev.Actor] = p
	}
	if p.groups[0] == nil || p.role != ev.Role || p.org != ev.Org || p.site != ev.Site || p.region != ev.Region {
		first := p.groups[0] == nil
		e.rebind(p, ev)
		if first && p.groups[grpRole].longDays >= 7 {
			p.newcomer = true
		}
	}
	return p
}

// rebind attaches p to the peer groups of its (new) role, org, site and
// region. Counts already made today stay in the old groups for the day.
func (e *Engine) rebind(p *person, ev *event.Event) {
	p.role, p.org, p.site, p.region = ev.Role, ev.Org, ev.Site, ev.Region
	keys := [numGroups]string{
		"s\x00" + ev.Role + "\x00" + ev.Org + "\x00" + ev.Site,
		"r\x00" + ev.Role + "\x00" + ev.Region,
		"a\x00" + ev.Role,
	}
	for i, k := range keys {
		g := e.groups[k]
		if g == nil {
			g = &group{day: -1 << 30}
			e.groups[k] = g
		}
		if p.groups[i] != g {
			g.members++
			if old := p.groups[i]; old != nil {
				old.members--
			}
		}
		p.groups[i] = g
	}
	sk := ev.Org + "\x00" + ev.Site
	s := e.sites[sk]
	if s == nil {
		s = &siteState{day: -1 << 30}
		e.sites[sk] = s
	}
	p.siteSt = s
	p.loc = e.cfg.SiteZones[ev.Site]
	p.zoneFrom, p.zoneTo = 0, 0
	// Reset today's group contributions: they were counted in old groups.
	p.today = dayCounts{}
	p.seen.reset()
	p.slots = [12]slot{}
}

// Risk returns the person's current risk (false if the actor is unknown).
func (e *Engine) Risk(actor string) (Risk, bool) {
	p := e.people[actor]
	if p == nil {
		return Risk{}, false
	}
	return p.risk(), true
}

// Snapshot returns every person with a non-zero risk, highest first.
func (e *Engine) Snapshot() []Risk {
	var out []Risk
	for _, p := range e.people {
		if r := p.risk(); r.Score > 0 {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Score != out[j].Score {
			return out[i].Score > out[j].Score
		}
		return out[i].Actor < out[j].Actor
	})
	return out
}

// Profile returns the person's daily timeline (oldest first, today last)
// with the peer median and band, and their hour-of-day pattern.
func (e *Engine) Profile(actor string) (PersonProfile, bool) {
	p := e.people[actor]
	if p == nil {
		return PersonProfile{}, false
	}
	pp := PersonProfile{Risk: p.risk()}
	g := p.groups[grpRole]
	n := p.nHist
	if n > historyDays {
		n = historyDays
	}
	add := func(day int32, reads, unexpl int) {
		dp := DayPoint{
			Day:         time.Unix(int64(day)*86400-e.off, 0).UTC(),
			Reads:       reads,
			Unexplained: unexpl,
		}
		if g != nil {
			if gd, ok := g.dayStats(day); ok {
				dp.PeerMedian, dp.PeerHigh = gd.medReads, gd.highReads
			}
		}
		pp.Days = append(pp.Days, dp)
	}
	for i := n; i >= 1; i-- {
		d := p.hist[(p.nHist-i)%historyDays]
		add(d.day, int(d.reads), int(d.unexpl))
	}
	if p.today.reads > 0 {
		add(p.day, int(p.today.reads), int(p.today.unexpl))
	}
	if p.hoursTotal > 0 {
		for h := range pp.Hours {
			pp.Hours[h] = float64(p.hours[h]) / float64(p.hoursTotal)
		}
	}
	return pp, true
}
