package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// These tests cover customers whose record is opened once and never again
// (issue 18, third round): a visit opens the record several times, a
// harvest takes one look at each, however the customer was found and
// whatever the purpose given. Quiet harvesters (phones from the store's
// own list, looked up like visitors, at a few dozen a day on top of the
// usual work) leave no other trace; review batches under the CRM's
// tickets and busy clerks must stay quiet.

// serve adds a visit by p at at: a search by phone that finds the
// customer, a ticket p opens, and looks reads of the whole record.
func (s *sim) serve(p staff, at time.Time, looks int) {
	c := s.cust()
	found := true
	e := s.ev(p, at, event.ActionSearch, c, p.region, p.site)
	e.Found = &found
	tk := s.ev(p, at.Add(20*time.Second), event.ActionTicketCreate, c, p.region, p.site)
	tk.Purpose, tk.PurposeValid = "ticket:T-"+c, true
	s.evs = append(s.evs, e, tk)
	for i := range looks {
		s.read(p, at.Add(time.Duration(60+70*i)*time.Second), c, p.region, p.site, "ticket:T-"+c, event.BasisOwnTicket, nil)
	}
}

// serveDay adds n visits for each of people between 9 and 18, each
// reading the record one to three times.
func (s *sim) serveDay(day int, people []staff, n int) {
	for _, p := range people {
		for range n {
			at := t0.AddDate(0, 0, day).Add(time.Duration((9 + 9*s.rng.Float64()) * float64(time.Hour)))
			s.serve(p, at, 1+s.rng.IntN(3))
		}
	}
}

func TestOneLookPerCustomer(t *testing.T) {
	s := newSim(t)
	people := clerks("emp", "GD", 40, 4)
	for d := range 10 {
		s.serveDay(d, people, 25)
		s.flush()
	}
	if len(s.alerts) != 0 {
		t.Fatalf("alerts during normal weeks: %+v", s.alerts)
	}
	harvester, busy, manager := people[3], people[8], people[12]
	others := append(append([]staff{}, people[:3]...), people[4:8]...)
	others = append(others, people[9:12]...)
	others = append(others, people[13:]...)
	for d := 10; d < 15; d++ {
		s.serveDay(d, others, 25)
		// The busy clerk serves twice their usual, every visit as usual.
		s.serveDay(d, []staff{busy}, 50)
		// The manager also works through a month-end review batch: one
		// look at each record, under tickets the CRM opened.
		s.serveDay(d, []staff{manager}, 25)
		for i := range 80 {
			if d != 12 {
				break
			}
			at := t0.AddDate(0, 0, d).Add(14*time.Hour + time.Duration(i)*90*time.Second)
			c := s.cust()
			s.read(manager, at, c, "GD", manager.site, "ticket:R-"+c, event.BasisCRMTicket, nil)
		}
		// The harvester keeps their usual visits and adds 25 looked up
		// from a list, each read once.
		s.serveDay(d, []staff{harvester}, 25)
		for i := range 25 {
			at := t0.AddDate(0, 0, d).Add(9*time.Hour + time.Duration(i)*20*time.Minute)
			s.serve(harvester, at, 1)
		}
		s.flush()
	}
	as := s.alertsFor(harvester.id)
	if len(as) == 0 {
		r, _ := s.e.Risk(harvester.id)
		t.Fatalf("one look per customer: no alert; risk %+v", r)
	}
	if as[0].Kind != KindOnce || !strings.Contains(as[0].Reasons[0], "only once") {
		t.Errorf("first alert %+v, want kind %q saying the records were opened only once", as[0], KindOnce)
	}
	for _, p := range []staff{busy, manager} {
		if as := s.alertsFor(p.id); len(as) != 0 {
			t.Errorf("%s alerted on: %+v", p.id, as)
		}
	}
}

// TestDistinctSetTouch checks that the set keeps the caller's flags on
// an entry and leaves the flag bits out of its key.
func TestDistinctSetTouch(t *testing.T) {
	s := distinctSet{max: 64}
	e, isNew := s.touch(1)
	if !isNew || e == nil {
		t.Fatalf("touch(1) = %v, %v; want a new entry", e, isNew)
	}
	*e |= setMarked
	e, isNew = s.touch(1)
	if isNew || *e&setMarked == 0 || *e&setAgain != 0 {
		t.Fatalf("touch(1) again: new %v, entry %#x; want the marked entry", isNew, *e)
	}
	*e |= setAgain
	if _, isNew := s.touch(1 | setFlags); isNew {
		t.Errorf("flag bits taken for part of the key")
	}
	if s.n != 1 || !s.has(1) || !s.has(1|setAgain) || s.has(2) {
		t.Errorf("set after touches: n=%d has(1)=%v has(2)=%v", s.n, s.has(1), s.has(2))
	}
	s.full = true
	if e, isNew := s.touch(3); e != nil || !isNew {
		t.Errorf("saturated touch = %v, %v; want nil, new", e, isNew)
	}
}
