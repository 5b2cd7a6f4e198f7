package detect

import (
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// These tests cover the signals from the whole workflow (issue 18): tickets
// handed to a colleague, wrong one-time codes, whole records taken, and a
// colleague covering another region's store, which must stay quiet.

// read adds a read of customer c (region cr, site cs) under purpose with
// basis and fields.
func (s *sim) read(p staff, at time.Time, c, cr, cs, purpose, basis string, fields []string) {
	found := true
	r := s.ev(p, at, event.ActionRead, c, cr, cs)
	r.Purpose, r.PurposeValid, r.Basis, r.Fields, r.Found = purpose, true, basis, fields, &found
	s.evs = append(s.evs, r)
}

// partVisits adds n visits a day for people between 9 and 18: a search by
// phone, a CRM ticket, and a read of name and phone only.
func (s *sim) partVisits(day int, people []staff, n int) {
	for _, p := range people {
		for range n {
			at := t0.AddDate(0, 0, day).Add(time.Duration((9 + 9*s.rng.Float64()) * float64(time.Hour)))
			c := s.cust()
			found := true
			e := s.ev(p, at, event.ActionSearch, c, p.region, p.site)
			e.Found = &found
			s.evs = append(s.evs, e)
			s.read(p, at.Add(time.Minute), c, p.region, p.site, "ticket:T-"+c, event.BasisCRMTicket, []string{"name", "phone"})
		}
	}
}

func partWorld(t *testing.T, days int) (*sim, []staff) {
	s := newSim(t)
	people := clerks("emp", "GD", 40, 4)
	for d := range days {
		s.partVisits(d, people, 25)
		s.flush()
	}
	if len(s.alerts) != 0 {
		t.Fatalf("alerts during normal weeks: %+v", s.alerts)
	}
	return s, people
}

// TestRelay checks that a pair at one site, one opening tickets for
// customers who never came and handing them over, the other reading them,
// are both alerted on with the link named, while a colleague who hands
// over visits they looked up stays quiet.
func TestRelay(t *testing.T) {
	s, people := partWorld(t, 10)
	opener, reader := people[0], people[1] // same site
	honest, helper := people[4], people[5]
	for d := 10; d < 12; d++ {
		s.partVisits(d, people, 25)
		at := t0.AddDate(0, 0, d).Add(10 * time.Hour)
		for i := range 15 {
			at := at.Add(time.Duration(i) * 12 * time.Minute)
			for _, x := range []struct {
				from, to staff
				looked   bool
			}{{opener, reader, false}, {honest, helper, true}} {
				c := s.cust()
				if x.looked {
					found := true
					e := s.ev(x.from, at.Add(-time.Minute), event.ActionSearch, c, "GD", x.from.site)
					e.Found = &found
					s.evs = append(s.evs, e)
				}
				tk := s.ev(x.from, at, event.ActionTicketCreate, c, "GD", x.from.site)
				tk.Purpose, tk.PurposeValid = "ticket:R-"+c, true
				as := s.ev(x.from, at.Add(30*time.Second), event.ActionTicketAssign, c, "", "")
				as.Purpose, as.Target = "ticket:R-"+c, x.to.id
				s.evs = append(s.evs, tk, as)
				s.read(x.to, at.Add(3*time.Minute), c, "GD", x.from.site, "ticket:R-"+c, event.BasisAssignedTicket, []string{"name", "phone"})
			}
		}
		s.flush()
	}
	for _, p := range []staff{opener, reader} {
		as := s.alertsFor(p.id)
		if len(as) == 0 {
			r, _ := s.e.Risk(p.id)
			t.Errorf("%s: no alert; risk %+v", p.id, r)
			continue
		}
		if as[0].Kind != KindRelay {
			t.Errorf("%s: first alert kind %s, want relay: %+v", p.id, as[0].Kind, as[0])
		}
		other := opener.id
		if p == opener {
			other = reader.id
		}
		named := false
		for _, r := range as[0].Reasons {
			named = named || strings.Contains(r, other)
		}
		if !named {
			t.Errorf("%s: reasons %q do not name %s", p.id, as[0].Reasons, other)
		}
	}
	for _, p := range []staff{honest, helper} {
		if as := s.alertsFor(p.id); len(as) != 0 {
			t.Errorf("%s handed over looked-up visits and was alerted on: %+v", p.id, as)
		}
	}
}

// TestWrongCodes checks that a burst of wrong one-time codes on consents
// that never complete raises an alert, and that a customer's occasional
// typo does not.
func TestWrongCodes(t *testing.T) {
	s, people := partWorld(t, 10)
	guesser, clerk := people[2], people[6]
	s.partVisits(10, people, 25)
	at := t0.AddDate(0, 0, 10).Add(11 * time.Hour)
	consent := func(p staff, at time.Time, wrong int, confirm bool) {
		c := s.cust()
		st := s.ev(p, at, event.ActionConsentStart, c, "", "")
		st.Purpose = "consent:K-" + c
		s.evs = append(s.evs, st)
		for i := range wrong {
			w := s.ev(p, at.Add(time.Duration(20*(i+1))*time.Second), event.ActionConsentConfirm, c, "GD", p.site)
			w.Purpose, w.Decision, w.Reason = "consent:K-"+c, event.Deny, "wrong_code"
			s.evs = append(s.evs, w)
		}
		if confirm {
			ok := s.ev(p, at.Add(2*time.Minute), event.ActionConsentConfirm, c, "GD", p.site)
			ok.Purpose, ok.PurposeValid, ok.Basis = "consent:K-"+c, true, event.BasisConsent
			s.evs = append(s.evs, ok)
			s.read(p, at.Add(3*time.Minute), c, "GD", p.site, "consent:K-"+c, event.BasisConsent, []string{"name", "phone", "account"})
		}
	}
	for i := range 10 {
		consent(guesser, at.Add(time.Duration(i)*3*time.Minute), 3, false)
	}
	for i := range 6 {
		consent(clerk, at.Add(time.Duration(i)*20*time.Minute), i%3/2, true)
	}
	s.flush()
	if as := s.alertsFor(guesser.id); len(as) == 0 || as[0].Kind != KindCodes {
		r, _ := s.e.Risk(guesser.id)
		t.Errorf("code guesser: alerts %+v; risk %+v", as, r)
	}
	if as := s.alertsFor(clerk.id); len(as) != 0 {
		t.Errorf("a clerk with a typo was alerted on: %+v", as)
	}
}

// TestWholeRecords checks that a person who keeps their usual volume but
// takes most customers' whole record, where peers take name and phone, is
// alerted on, with the share in words; but not under tickets the CRM
// opened (a month-end review batch), which are not counted.
func TestWholeRecords(t *testing.T) {
	s, p := wholeRecords(t, "ticket:T-", event.BasisCRMTicket)
	if len(s.alerts) != 0 {
		t.Errorf("whole records under the CRM's tickets: alerts %+v", s.alerts)
	}
	s, p = wholeRecords(t, "consent:K-", event.BasisConsent)
	as := s.alertsFor(p.id)
	if len(as) == 0 || as[0].Kind != KindRecords {
		r, _ := s.e.Risk(p.id)
		t.Fatalf("whole records: alerts %+v; risk %+v", as, r)
	}
	if !strings.Contains(as[0].Reasons[0], "whole record") {
		t.Errorf("reason %q does not say what was taken", as[0].Reasons[0])
	}
}

// wholeRecords replays four days in which one of ten people looks up 25
// customers a day and reads the whole record of 15 of them, under the
// purpose prefix (then the customer) and basis given; the others take name
// and phone. It returns the world and that person.
func wholeRecords(t *testing.T, purpose, basis string) (*sim, staff) {
	s, people := partWorld(t, 10)
	p := people[7]
	for d := 10; d < 14; d++ {
		s.partVisits(d, people[:7], 25)
		s.partVisits(d, people[8:], 25)
		for i := range 25 {
			at := t0.AddDate(0, 0, d).Add(9*time.Hour + time.Duration(i)*20*time.Minute)
			c := s.cust()
			found := true
			e := s.ev(p, at, event.ActionSearch, c, "GD", p.site)
			e.Found = &found
			s.evs = append(s.evs, e)
			fields := []string{"name", "phone"}
			if i < 15 {
				fields = []string{"name", "phone", "account"}
			}
			s.read(p, at.Add(time.Minute), c, "GD", p.site, purpose+c, basis, fields)
		}
		s.flush()
	}
	return s, p
}

// TestCoveringAnotherStoreIsQuiet checks that a clerk who covers a store in
// another region for a few days, serving the customers who come in (looked
// up, name and phone), is not taken for a harvest of foreign customers.
func TestCoveringAnotherStoreIsQuiet(t *testing.T) {
	t.Run("name and phone", func(t *testing.T) { testCovering(t, []string{"name", "phone"}) })
	t.Run("fields unknown", func(t *testing.T) { testCovering(t, nil) })
}

func testCovering(t *testing.T, fields []string) {
	var s *sim
	var people []staff
	visits := func(d int, ps []staff) { s.partVisits(d, ps, 25) }
	if fields == nil {
		// Everyone's fields unknown: whole records for all.
		s, people = world(t, 10)
		visits = func(d int, ps []staff) { s.normal(d, ps, 25, 9, 18) }
	} else {
		s, people = partWorld(t, 10)
	}
	p := people[9]
	for d := 10; d < 15; d++ {
		visits(d, people[:9])
		visits(d, people[10:])
		for i := range 35 {
			at := t0.AddDate(0, 0, d).Add(9*time.Hour + time.Duration(i)*15*time.Minute)
			c := s.cust()
			found := true
			e := s.ev(p, at, event.ActionSearch, c, "SH", "store-SH07")
			e.Found = &found
			s.evs = append(s.evs, e)
			tk := s.ev(p, at.Add(20*time.Second), event.ActionTicketCreate, c, "SH", "store-SH07")
			s.evs = append(s.evs, tk)
			s.read(p, at.Add(time.Minute), c, "SH", "store-SH07", "ticket:T-"+c, event.BasisOwnTicket, fields)
		}
		s.flush()
	}
	if as := s.alertsFor(p.id); len(as) != 0 {
		t.Errorf("covering clerk alerted on: %+v", as)
	}
}
