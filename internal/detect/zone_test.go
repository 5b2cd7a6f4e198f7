package detect

import (
	"testing"
	"time"
)

// TestSiteZones checks that a site's time zone decides a person's hours: a
// new clerk in Shanghai working 9 to 18 local time (1 to 10 UTC), among
// peers who work 9 to 18 UTC, is at work, not off-hours, once the site's
// zone is configured; without it the same reads look like night work.
func TestSiteZones(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	run := func(zones map[string]*time.Location) (*sim, staff) {
		s := newSim(t)
		cfg := DefaultConfig()
		cfg.SiteZones = zones
		s.e = New(cfg)
		people := clerks("emp", "GD", 40, 4)
		for d := range 14 {
			s.normal(d, people, 25, 9, 18)
			s.flush()
		}
		p := staff{id: "new-001", org: "dist-001", role: "store_clerk", site: "store-SH01", region: "GD"}
		for d := 14; d < 16; d++ {
			at := t0.AddDate(0, 0, d).Add(1 * time.Hour) // 09:00 in Shanghai
			for i := range 30 {
				s.visit(p, at.Add(time.Duration(i)*17*time.Minute), "GD", p.site, i%5 != 0)
			}
			s.flush()
		}
		return s, p
	}
	s, p := run(map[string]*time.Location{"store-SH01": sh})
	for _, a := range s.alertsFor(p.id) {
		t.Errorf("with the site's zone: alert %+v", a)
	}
	prof, _ := s.e.Profile(p.id)
	var day float64
	for h := 9; h < 18; h++ {
		day += prof.Hours[h]
	}
	if day < 0.99 {
		t.Errorf("with the site's zone, %.0f%% of reads fall in 9-18 local; want all (hours %v)", 100*day, prof.Hours)
	}
	s, p = run(nil)
	off := false
	for _, a := range s.alertsFor(p.id) {
		off = off || a.Kind == KindOffHours
	}
	if !off {
		t.Errorf("without the site's zone the reads at 1-10 UTC did not look off-hours; the test shows nothing")
	}
}

// TestLocalHourAcrossDST checks the cached zone offset follows a daylight
// saving change.
func TestLocalHourAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Skip("no time zone data:", err)
	}
	p := &person{loc: ny}
	for _, tc := range []struct {
		utc  string
		want int
	}{
		{"2026-03-07T15:00:00Z", 10}, // EST
		{"2026-03-09T15:00:00Z", 11}, // EDT
		{"2026-03-07T15:00:00Z", 10},
	} {
		at, _ := time.Parse(time.RFC3339, tc.utc)
		if got := p.localHour(at); got != tc.want {
			t.Errorf("localHour(%s) = %d, want %d", tc.utc, got, tc.want)
		}
	}
}
