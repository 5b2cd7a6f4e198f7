package detect

import (
	"testing"
	"time"
)

// TestRingNamesOnlyClearRises checks that a ring of three at a store of
// four is alerted on, and that the fourth clerk, whose unexplained reads
// rise a little the same days (counted towards the site's ring, under 3.5
// standard deviations of their own), is not named in it.
func TestRingNamesOnlyClearRises(t *testing.T) {
	const warm = 10
	s, people := world(t, warm)
	ring, bystander := people[16:19], people[19] // store-GD04
	counted := false
	for d := warm; d < warm+3; d++ {
		s.normal(d, people, 25, 9, 18)
		at := t0.AddDate(0, 0, d).Add(10 * time.Hour)
		for _, p := range ring {
			for i := range 12 {
				s.visit(p, at.Add(time.Duration(i)*31*time.Minute), "GD", p.site, false)
			}
		}
		for i := range 6 {
			s.visit(bystander, at.Add(time.Duration(i)*61*time.Minute), "GD", bystander.site, false)
		}
		s.flush()
		counted = counted || s.e.people[bystander.id].elevated
	}
	for _, p := range ring {
		if len(s.alertsFor(p.id)) == 0 {
			r, _ := s.e.Risk(p.id)
			t.Errorf("ring member %s: no alert; risk %+v", p.id, r)
		}
	}
	if !counted {
		t.Errorf("the bystander's rise never counted towards the site's ring: the test checks nothing")
	}
	for _, a := range s.alertsFor(bystander.id) {
		if a.Kind == KindRing {
			t.Errorf("bystander named in the ring: %+v", a)
		}
	}
}
