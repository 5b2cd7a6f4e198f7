package scenario

import (
	"crypto/sha256"
	"testing"

	"github.com/custos-dev/custos/internal/event"
)

func digest(p Params) ([32]byte, *World, int) {
	h := sha256.New()
	n := 0
	var last event.Event
	ordered := true
	w := Generate(p, func(ev event.Event) {
		if n > 0 && ev.Time.Before(last.Time) {
			ordered = false
		}
		last = ev
		h.Write(ev.Canonical())
		n++
	})
	if !ordered {
		n = -1
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, w, n
}

// TestDeterministic checks a seed always gives the same events, in time
// order, and that different seeds differ.
func TestDeterministic(t *testing.T) {
	p := Params{Seed: 42, People: 60, Days: 10}
	a, wa, n := digest(p)
	b, _, _ := digest(p)
	if n <= 0 {
		t.Fatalf("events out of time order (n=%d)", n)
	}
	if a != b {
		t.Fatalf("same seed, different events")
	}
	p.Seed = 43
	if c, _, _ := digest(p); c == a {
		t.Fatalf("different seeds, same events")
	}
	if len(wa.People) < 50 || wa.EmployeeDays() < 400 {
		t.Errorf("world too small: %d people, %d employee-days", len(wa.People), wa.EmployeeDays())
	}
}

// TestInsidersAndTraps checks every insider kind and every trap is present
// and the ground truth marks illicit reads.
func TestInsidersAndTraps(t *testing.T) {
	illicit := 0
	var w *World
	w = Generate(Params{Seed: 7, People: 200, Days: 21}, func(ev event.Event) {
		if w != nil && w.IsIllicit(&ev) {
			illicit++
		}
	})
	kinds := map[string]bool{}
	for _, in := range w.Insiders {
		kinds[in.Kind] = true
		if in.From.Before(w.Params.Start) {
			t.Errorf("insider %s starts before the world", in.Actor)
		}
	}
	for _, k := range []string{Bulk, Slow, Enum, OffHours, Foreign, MadeUp, Notice, Ring, Canary} {
		if !kinds[k] {
			t.Errorf("no %s insider", k)
		}
	}
	traps := map[string]bool{}
	for _, k := range w.Traps {
		traps[k] = true
	}
	for _, k := range []string{TrapNewHire, TrapNight, TrapMonthEnd, TrapLeaver, TrapCallAllRg} {
		if !traps[k] {
			t.Errorf("no %s trap", k)
		}
	}
	n := 0
	Generate(Params{Seed: 7, People: 200, Days: 21}, func(ev event.Event) {
		if w.IsIllicit(&ev) {
			n++
		}
	})
	if n < 100 {
		t.Errorf("only %d illicit events marked", n)
	}
}

// TestWideWorld checks that a drawn world plants the kinds issue 18 added
// (both sides of a relay, each with the other at the same site), travellers
// among the traps, and the workflow events the detectors read: hand-overs,
// consent starts and wrong codes, reads that carry their basis.
func TestWideWorld(t *testing.T) {
	actions := map[string]int{}
	bases := map[string]int{}
	parts := 0
	w := Generate(Params{Seed: 11, People: 160, Days: 16, Wide: true}, func(ev event.Event) {
		actions[ev.Action]++
		if ev.Action == event.ActionRead {
			bases[ev.Basis]++
			if len(ev.Fields) < 3 {
				parts++
			}
		}
		if ev.Reason == "wrong_code" {
			actions["wrong_code"]++
		}
	})
	kinds := map[string]int{}
	for _, in := range w.Insiders {
		kinds[in.Kind]++
	}
	for _, k := range []string{Blend, FirstWeek, Ramp, Codes} {
		if kinds[k] == 0 {
			t.Errorf("no %s insider", k)
		}
	}
	if kinds[Relay] < 2 || kinds[Relay]%2 != 0 {
		t.Errorf("%d relay insiders, want pairs", kinds[Relay])
	}
	traps := map[string]bool{}
	for _, k := range w.Traps {
		traps[k] = true
	}
	if !traps[TrapTraveller] {
		t.Errorf("no traveller trap")
	}
	for _, a := range []string{event.ActionTicketAssign, event.ActionConsentStart, "wrong_code"} {
		if actions[a] == 0 {
			t.Errorf("no %s events", a)
		}
	}
	for _, b := range []string{event.BasisOwnTicket, event.BasisCRMTicket, event.BasisConsent, event.BasisAssignedTicket} {
		if bases[b] == 0 {
			t.Errorf("no reads with basis %s", b)
		}
	}
	if parts == 0 && w.Knobs.WholeRecord < 1 {
		t.Errorf("no read takes part of the record")
	}
}
