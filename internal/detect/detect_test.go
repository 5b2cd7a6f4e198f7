package detect

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// These tests drive the engine with synthetic event streams whose times are
// explicit (the event time is the engine's only clock). A small world of
// store clerks works normally for a couple of weeks; then one person (or a
// few) does something, and the test checks who is alerted, how soon, and
// that legitimate oddities stay quiet.

var t0 = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday

type staff struct{ id, org, role, site, region string }

type sim struct {
	t      *testing.T
	e      *Engine
	rng    *rand.Rand
	alerts []Alert
	evs    []event.Event
	fed    []event.Event
	nCust  int
	tick   int
}

func newSim(t *testing.T) *sim {
	return &sim{t: t, e: New(DefaultConfig()), rng: rand.New(rand.NewPCG(1, 2))}
}

func (s *sim) ev(p staff, at time.Time, action, cust, cregion, csite string) event.Event {
	s.tick++
	return event.Event{
		Time: at.Add(time.Duration(s.tick%1000) * time.Millisecond), Actor: p.id, Org: p.org, Role: p.role,
		Site: p.site, Region: p.region, Action: action, Customer: cust,
		CustomerRegion: cregion, CustomerSite: csite, Decision: event.Allow,
	}
}

func (s *sim) cust() string {
	s.nCust++
	return fmt.Sprintf("c-%07d", 1000000+(s.nCust*7919)%8999999)
}

// visit adds a customer visit: explained (search by phone, then read under
// a CRM ticket) or not (a ticket the reader opens, then the read).
func (s *sim) visit(p staff, at time.Time, cregion, csite string, explained bool) string {
	c := s.cust()
	found := true
	if explained {
		e := s.ev(p, at, event.ActionSearch, c, cregion, csite)
		e.Found = &found
		s.evs = append(s.evs, e)
	} else {
		s.evs = append(s.evs, s.ev(p, at, event.ActionTicketCreate, c, cregion, csite))
	}
	r := s.ev(p, at.Add(40*time.Second), event.ActionRead, c, cregion, csite)
	r.Purpose, r.PurposeValid, r.Found = "ticket:T-"+c, true, &found
	s.evs = append(s.evs, r)
	return c
}

// pull has p read n customers of another store, leaving no trace of a
// visit, one every step from at: a bulk pull.
func (s *sim) pull(p staff, at time.Time, n int, step time.Duration) {
	for i := range n {
		s.visit(p, at.Add(time.Duration(i)*step), "GD", "store-x", false)
	}
}

// normal adds a normal working day for people: n visits each between
// the hours from and to, 10% of them unexplained.
func (s *sim) normal(day int, people []staff, n int, from, to float64) {
	for _, p := range people {
		for range n {
			h := from + (to-from)*s.rng.Float64()
			at := t0.AddDate(0, 0, day).Add(time.Duration(h * float64(time.Hour)))
			csite := p.site
			if s.rng.IntN(10) == 0 {
				csite = "store-other"
			}
			s.visit(p, at, p.region, csite, s.rng.IntN(10) != 0)
		}
	}
}

// flush feeds the collected events in time order.
func (s *sim) flush() {
	sort.SliceStable(s.evs, func(i, j int) bool { return s.evs[i].Time.Before(s.evs[j].Time) })
	for _, e := range s.evs {
		s.alerts = append(s.alerts, s.e.Observe(e)...)
	}
	s.fed = append(s.fed, s.evs...)
	s.evs = s.evs[:0]
}

// readsBetween counts the actor's reads fed with times in [from, to].
func (s *sim) readsBetween(actor string, from, to time.Time) int {
	n := 0
	for _, e := range s.fed {
		if e.Actor == actor && e.Action == event.ActionRead && !e.Time.Before(from) && !e.Time.After(to) {
			n++
		}
	}
	return n
}

func (s *sim) alertsFor(actor string) []Alert {
	var out []Alert
	for _, a := range s.alerts {
		if a.Actor == actor {
			out = append(out, a)
		}
	}
	return out
}

// clerks returns n clerks over sites in one region (perSite per site).
func clerks(prefix, region string, n, perSite int) []staff {
	var out []staff
	for i := range n {
		out = append(out, staff{
			id: fmt.Sprintf("%s-%03d", prefix, i), org: "dist-001", role: "store_clerk",
			site: fmt.Sprintf("store-%s%02d", region, i/perSite), region: region,
		})
	}
	return out
}

// world runs days of normal work for 40 clerks in GD and returns the sim.
func world(t *testing.T, days int) (*sim, []staff) {
	s := newSim(t)
	people := clerks("emp", "GD", 40, 4)
	for d := range days {
		s.normal(d, people, 25, 9, 18)
		s.flush()
	}
	if len(s.alerts) != 0 {
		t.Fatalf("alerts during normal weeks: %+v", s.alerts)
	}
	return s, people
}

func TestDetectorsCatch(t *testing.T) {
	const warm = 10
	tests := []struct {
		name  string
		kinds []string // acceptable kinds of the first alert
		act   func(s *sim, people []staff) []string
		// maxAt bounds the insider's reads from the start of the act to the
		// first alert (0: not checked).
		maxAt int
	}{
		{"canary", []string{KindCanary}, func(s *sim, people []staff) []string {
			p := people[3]
			at := t0.AddDate(0, 0, warm).Add(11 * time.Hour)
			e := s.ev(p, at, event.ActionRead, "c-9000001", "GD", p.site)
			e.Canary = true
			s.evs = append(s.evs, e)
			return []string{p.id}
		}, 0},
		{"bulk pull", []string{KindBulk, KindPurpose, KindVolume, KindForeign}, func(s *sim, people []staff) []string {
			p := people[5]
			at := t0.AddDate(0, 0, warm).Add(14 * time.Hour)
			s.pull(p, at, 400, 8*time.Second)
			return []string{p.id}
		}, 60},
		{"enumeration", []string{KindEnum}, func(s *sim, people []staff) []string {
			p := people[7]
			at := t0.AddDate(0, 0, warm).Add(15 * time.Hour)
			miss := false
			for i := range 150 {
				e := s.ev(p, at.Add(time.Duration(i)*20*time.Second), event.ActionSearch, "", "", "")
				e.Found = &miss
				s.evs = append(s.evs, e)
			}
			return []string{p.id}
		}, 0},
		{"id walk", []string{KindEnum, KindPurpose}, func(s *sim, people []staff) []string {
			p := people[8]
			at := t0.AddDate(0, 0, warm).Add(15 * time.Hour)
			for i := range 60 {
				c := fmt.Sprintf("c-%07d", 5000000+i)
				e := s.ev(p, at.Add(time.Duration(i)*30*time.Second), event.ActionRead, c, "GD", p.site)
				e.Decision, e.Reason = event.Deny, "purpose_required"
				s.evs = append(s.evs, e)
			}
			return []string{p.id}
		}, 0},
		{"off hours", []string{KindOffHours, KindPurpose}, func(s *sim, people []staff) []string {
			p := people[9]
			at := t0.AddDate(0, 0, warm).Add(26 * time.Hour) // 02:00 next night
			for i := range 40 {
				s.visit(p, at.Add(time.Duration(i)*2*time.Minute), "GD", p.site, false)
			}
			return []string{p.id}
		}, 0},
		{"foreign customers", []string{KindForeign}, func(s *sim, people []staff) []string {
			p := people[10]
			at := t0.AddDate(0, 0, warm).Add(10 * time.Hour)
			// From a list spanning the country (customers of one other
			// store only would be a colleague covering it).
			regions := []string{"SH", "BJ", "ZJ"}
			for i := range 40 {
				r := regions[i%3]
				s.visit(p, at.Add(time.Duration(i)*10*time.Minute), r, "store-"+r+"01", true)
			}
			return []string{p.id}
		}, 0},
		{"made-up purposes", []string{KindPurpose, KindSlow, KindForeign}, func(s *sim, people []staff) []string {
			p := people[11]
			for d := warm; d < warm+3; d++ {
				at := t0.AddDate(0, 0, d).Add(10 * time.Hour)
				for i := range 25 {
					s.visit(p, at.Add(time.Duration(i)*17*time.Minute), "GD", "store-GD09", false)
				}
			}
			return []string{p.id}
		}, 0},
		{"surge after notice", []string{KindNotice, KindPurpose, KindSlow}, func(s *sim, people []staff) []string {
			p := people[12]
			s.evs = append(s.evs, s.ev(p, t0.AddDate(0, 0, warm).Add(8*time.Hour), event.ActionNotice, "", "", ""))
			at := t0.AddDate(0, 0, warm).Add(10 * time.Hour)
			for i := range 30 {
				s.visit(p, at.Add(time.Duration(i)*15*time.Minute), "GD", p.site, s.rng.IntN(3) == 0)
			}
			return []string{p.id}
		}, 0},
		{"ring at one store", []string{KindRing, KindPurpose, KindSlow}, func(s *sim, people []staff) []string {
			var ids []string
			for _, p := range people[16:20] { // all of store-GD04
				ids = append(ids, p.id)
				for d := warm; d < warm+3; d++ {
					at := t0.AddDate(0, 0, d).Add(10 * time.Hour)
					for i := range 12 {
						s.visit(p, at.Add(time.Duration(i)*31*time.Minute), "GD", p.site, false)
					}
				}
			}
			return ids
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, people := world(t, warm)
			ids := tt.act(s, people)
			for d := warm; d < warm+3; d++ {
				s.normal(d, people, 25, 9, 18)
			}
			s.flush()
			for _, id := range ids {
				as := s.alertsFor(id)
				if len(as) == 0 {
					t.Fatalf("%s: no alert; risk %+v", id, mustRisk(s.e, id))
				}
				a := as[0]
				ok := false
				for _, k := range tt.kinds {
					ok = ok || a.Kind == k
				}
				if !ok {
					t.Errorf("%s: first alert kind %q, want one of %v (%v)", id, a.Kind, tt.kinds, a.Reasons)
				}
				if a.Score < 0.7 || a.Score > 1 || len(a.Reasons) == 0 || a.Actor != id {
					t.Errorf("%s: malformed alert %+v", id, a)
				}
				if n := s.readsBetween(id, t0.AddDate(0, 0, warm), a.Time); tt.maxAt > 0 && n > tt.maxAt {
					t.Errorf("%s: alerted after %d reads that day, want at most %d", id, n, tt.maxAt)
				}
			}
			// Nobody else.
			for _, a := range s.alerts {
				if !contains(ids, a.Actor) {
					t.Errorf("bystander alerted: %+v", a)
				}
			}
		})
	}
}

func TestCanaryIsImmediateAndSuspends(t *testing.T) {
	e := New(DefaultConfig())
	p := staff{"emp-1", "dist-1", "store_clerk", "store-1", "GD"}
	s := &sim{t: t, e: e}
	ev := s.ev(p, t0.Add(10*time.Hour), event.ActionRead, "c-9000001", "GD", "store-1")
	ev.Canary = true
	as := e.Observe(ev)
	if len(as) != 1 || as[0].Score != 1 || as[0].Kind != KindCanary || as[0].Action != ActionSuspend {
		t.Fatalf("canary read gave %+v, want one suspend alert with score 1", as)
	}
	if !as[0].Time.Equal(ev.Time) {
		t.Errorf("alert time %v, want the event's %v", as[0].Time, ev.Time)
	}
}

func TestTrapsStayQuiet(t *testing.T) {
	const days = 21
	tests := []struct {
		name string
		run  func(s *sim)
	}{
		{"launch day: every store triples", func(s *sim) {
			people := clerks("emp", "GD", 40, 4)
			for d := range days {
				n := 25
				if d == 15 {
					n = 75
				}
				s.normal(d, people, n, 9, 18)
				s.flush()
			}
		}},
		{"new hire without history", func(s *sim) {
			people := clerks("emp", "GD", 40, 4)
			hire := staff{"emp-new", "dist-001", "store_clerk", "store-GD01", "GD"}
			for d := range days {
				s.normal(d, people, 25, 9, 18)
				if d >= 14 {
					s.normal(d, []staff{hire}, 30, 9, 18)
				}
				s.flush()
			}
		}},
		{"night-shift call-centre agents serving every region", func(s *sim) {
			var agents []staff
			for i := range 20 {
				agents = append(agents, staff{fmt.Sprintf("cc-%02d", i), "cc-001", "callcenter_agent", "cc-floor", "SH"})
			}
			regions := []string{"GD", "SH", "BJ", "ZJ", "JS", "SC"}
			for d := range days {
				for i, a := range agents {
					from := 9.0
					if i%3 == 0 {
						from = 22 // nights, across midnight
					}
					for range 30 {
						h := from + 8*s.rng.Float64()
						at := t0.AddDate(0, 0, d).Add(time.Duration(h * float64(time.Hour)))
						r := regions[s.rng.IntN(len(regions))]
						s.visit(a, at, r, "store-"+r, s.rng.IntN(10) != 0)
					}
				}
				s.flush()
			}
		}},
		{"new night-shift agent", func(s *sim) {
			var agents []staff
			for i := range 20 {
				agents = append(agents, staff{fmt.Sprintf("cc-%02d", i), "cc-001", "callcenter_agent", "cc-floor", "SH"})
			}
			for d := range days {
				for i, a := range agents {
					if i == 0 && d < 14 {
						continue // joins on day 14, on nights
					}
					from := 9.0
					if i%4 == 0 {
						from = 22
					}
					for range 30 {
						h := from + 8*s.rng.Float64()
						at := t0.AddDate(0, 0, d).Add(time.Duration(h * float64(time.Hour)))
						s.visit(a, at, "GD", "store-GD01", s.rng.IntN(10) != 0)
					}
				}
				s.flush()
			}
		}},
		{"month-end batch by store managers", func(s *sim) {
			people := clerks("emp", "GD", 40, 4)
			var mgrs []staff
			for i := range 10 {
				mgrs = append(mgrs, staff{fmt.Sprintf("mgr-%02d", i), "dist-001", "store_manager", fmt.Sprintf("store-GD%02d", i), "GD"})
			}
			for d := range days {
				s.normal(d, people, 25, 9, 18)
				s.normal(d, mgrs, 4, 9, 18)
				if t0.AddDate(0, 0, d+1).Day() == 1 {
					// March 31st: each manager reviews 150 home customers
					// under tickets the CRM opened.
					for i, m := range mgrs {
						at := t0.AddDate(0, 0, d).Add(time.Duration(9+i%4) * time.Hour)
						for j := range 150 {
							c := s.cust()
							r := s.ev(m, at.Add(time.Duration(j)*50*time.Second), event.ActionRead, c, "GD", m.site)
							r.Purpose, r.PurposeValid = "ticket:CRM-"+c, true
							s.evs = append(s.evs, r)
						}
					}
				}
				s.flush()
			}
		}},
		{"leaver behaving as before", func(s *sim) {
			people := clerks("emp", "GD", 40, 4)
			for d := range days {
				if d == 10 {
					s.evs = append(s.evs, s.ev(people[3], t0.AddDate(0, 0, d).Add(8*time.Hour), event.ActionNotice, "", "", ""))
				}
				s.normal(d, people, 25, 9, 18)
				s.flush()
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSim(t)
			s.e = New(DefaultConfig())
			tt.run(s)
			for _, a := range s.alerts {
				t.Errorf("false alert: %s %s %.2f %s %v", a.Actor, a.Time.Format(time.RFC3339), a.Score, a.Kind, a.Reasons)
			}
		})
	}
}

func TestOutOfOrderWithinAMinute(t *testing.T) {
	// Shuffling events by up to a minute must not change who is caught.
	s, people := world(t, 8)
	p := people[2]
	at := t0.AddDate(0, 0, 8).Add(14 * time.Hour)
	s.pull(p, at, 300, 10*time.Second)
	s.normal(8, people, 25, 9, 18)
	sort.SliceStable(s.evs, func(i, j int) bool { return s.evs[i].Time.Before(s.evs[j].Time) })
	for i := range s.evs { // jitter
		s.evs[i].Time = s.evs[i].Time.Add(time.Duration(s.rng.IntN(60)) * time.Second)
	}
	for _, e := range s.evs {
		s.alerts = append(s.alerts, s.e.Observe(e)...)
	}
	if len(s.alertsFor(p.id)) == 0 {
		t.Fatalf("bulk pull with jittered times not caught")
	}
	for _, a := range s.alerts {
		if a.Actor != p.id {
			t.Errorf("bystander alerted: %+v", a)
		}
	}
}

func TestRiskSnapshotProfile(t *testing.T) {
	s, people := world(t, 6)
	p := people[1]
	at := t0.AddDate(0, 0, 6).Add(10 * time.Hour)
	s.pull(p, at, 200, 9*time.Second)
	s.flush()
	r, ok := s.e.Risk(p.id)
	if !ok || r.Score < 0.7 || len(r.Reasons) == 0 || r.Role != "store_clerk" {
		t.Fatalf("Risk = %+v, %v", r, ok)
	}
	snap := s.e.Snapshot()
	if len(snap) == 0 || snap[0].Actor != p.id {
		t.Fatalf("Snapshot top = %+v, want %s first", snap, p.id)
	}
	pp, ok := s.e.Profile(p.id)
	if !ok || len(pp.Days) != 7 {
		t.Fatalf("Profile days = %d, want 7 (6 past + today)", len(pp.Days))
	}
	last := pp.Days[len(pp.Days)-1]
	if last.Reads < 200 || last.Unexplained < 200 || pp.Days[0].PeerMedian == 0 {
		t.Errorf("Profile = %+v", pp.Days)
	}
	if _, ok := s.e.Risk("nobody"); ok {
		t.Errorf("Risk of unknown actor reported ok")
	}
	if s.e.People() != 40 {
		t.Errorf("People() = %d, want 40", s.e.People())
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*Config)
		field string
	}{
		{"default", func(*Config) {}, ""},
		{"alert zero", func(c *Config) { c.AlertScore = 0 }, "AlertScore"},
		{"stepup below alert", func(c *Config) { c.StepUpScore = 0.5 }, "StepUpScore"},
		{"suspend below stepup", func(c *Config) { c.SuspendScore = 0.8 }, "SuspendScore"},
		{"history", func(c *Config) { c.MinHistoryDays = 0 }, "MinHistoryDays"},
		{"sensitivity", func(c *Config) { c.Sensitivity = 0 }, "Sensitivity"},
		{"distinct cap", func(c *Config) { c.MaxDistinctPerDay = 10 }, "MaxDistinctPerDay"},
		{"offset", func(c *Config) { c.UTCOffset = 25 * time.Hour }, "UTCOffset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
		})
	}
}

func TestReinstateClearsFindings(t *testing.T) {
	e := New(DefaultConfig())
	s := &sim{t: t, e: e}
	p := staff{"emp-1", "dist-1", "store_clerk", "store-1", "GD"}
	ev := s.ev(p, t0.Add(10*time.Hour), event.ActionRead, "c-9000001", "GD", "store-1")
	ev.Canary = true
	e.Observe(ev)
	analyst := staff{"sec-1", "hq", "security_analyst", "hq", "SH"}
	re := s.ev(analyst, t0.Add(11*time.Hour), event.ActionReinstate, "", "", "")
	re.Target = p.id
	e.Observe(re)
	if r, _ := e.Risk(p.id); len(r.Reasons) != 0 || r.Score != 0 {
		t.Fatalf("after reinstate, risk = %+v", r)
	}
	// Another canary read alerts again, even the same day.
	ev2 := s.ev(p, t0.Add(12*time.Hour), event.ActionRead, "c-9000002", "GD", "store-1")
	ev2.Canary = true
	if as := e.Observe(ev2); len(as) != 1 || as[0].Kind != KindCanary {
		t.Fatalf("second canary read after reinstate: %+v", as)
	}
}

func mustRisk(e *Engine, actor string) Risk {
	r, _ := e.Risk(actor)
	return r
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestContainmentIsNotEvidence checks the detectors do not feed on their own
// containment: once a person is stepped up, the refusals that follow
// (reads under tickets now need a consent) do not escalate them; and quota
// refusals on a busy day are judged on their purpose like allowed reads.
func TestContainmentIsNotEvidence(t *testing.T) {
	s, people := world(t, 8)
	p := people[4]
	det := staff{"custos:detect", "", "", "", ""}
	su := s.ev(det, t0.AddDate(0, 0, 8).Add(9*time.Hour), event.ActionStepUp, "", "", "")
	su.Target = p.id
	s.evs = append(s.evs, su)
	at := t0.AddDate(0, 0, 8).Add(10 * time.Hour)
	for i := range 120 {
		c := s.cust()
		r := s.ev(p, at.Add(time.Duration(i)*time.Minute), event.ActionRead, c, "GD", p.site)
		r.Purpose, r.Decision, r.Reason = "ticket:T-"+c, event.Deny, "purpose_invalid"
		s.evs = append(s.evs, r)
	}
	// Everyone else has a busy day and hits quota on explained reads.
	for _, q := range people[10:20] {
		for i := range 60 {
			c := s.visit(q, at.Add(time.Duration(i)*3*time.Minute), "GD", q.site, true)
			_ = c
		}
	}
	for i := range s.evs {
		if s.evs[i].Action == event.ActionRead && s.evs[i].Actor != p.id && i%3 == 0 {
			s.evs[i].Decision, s.evs[i].Reason, s.evs[i].PurposeValid = event.Deny, "quota_exceeded", false
		}
	}
	s.normal(8, people, 25, 9, 18)
	s.flush()
	for _, a := range s.alerts {
		t.Errorf("alert: %s %s %v", a.Actor, a.Kind, a.Reasons)
	}
}

// TestBenignOutcomeDamps checks an analyst's benign outcome: the same
// pattern on the next days weighs half as much for that person (so a
// cleared night shift stops alerting), other people are not touched, and a
// canary still alerts at once.
func TestBenignOutcomeDamps(t *testing.T) {
	run := func(feedback bool) (second float64, s *sim, p staff) {
		s = newSim(t)
		people := clerks("emp", "GD", 12, 4)
		p = people[2]
		for day := range 10 {
			s.normal(day, people, 12, 9, 18)
		}
		night := func(day int) {
			at := t0.AddDate(0, 0, day).Add(26 * time.Hour) // 02:00 the night after
			for i := range 40 {
				s.visit(p, at.Add(time.Duration(i)*2*time.Minute), "GD", p.site, false)
			}
		}
		night(10)
		s.flush()
		first := s.alertsFor(p.id)
		if len(first) == 0 {
			t.Fatal("the night's work raised no alert to clear")
		}
		if feedback {
			analyst := staff{"sec-1", "hq", "security_analyst", "hq", "SH"}
			c := s.ev(analyst, t0.AddDate(0, 0, 11).Add(12*time.Hour), event.ActionCaseUpdate, "", "", "")
			c.Target, c.Reason = p.id, "status=closed outcome=benign kind="+first[0].Kind
			s.evs = append(s.evs, c)
		}
		for day := 11; day < 13; day++ {
			s.normal(day, people, 12, 9, 18)
		}
		night(12)
		n := len(s.alerts)
		s.flush()
		for _, a := range s.alerts[n:] {
			if a.Actor == p.id {
				second = max(second, a.Score)
			}
		}
		r, _ := s.e.Risk(p.id)
		return max(second, r.Score), s, p
	}
	without, _, _ := run(false)
	with, s, p := run(true)
	if with >= without || with > without*0.75 {
		t.Errorf("after a benign outcome the same pattern scores %.3f; without it %.3f", with, without)
	}
	ev := s.ev(p, t0.AddDate(0, 0, 13).Add(10*time.Hour), event.ActionRead, "c-9000001", "GD", p.site)
	ev.Canary = true
	if as := s.e.Observe(ev); len(as) != 1 || as[0].Kind != KindCanary {
		t.Errorf("a canary read after a benign outcome: %+v", as)
	}
}
