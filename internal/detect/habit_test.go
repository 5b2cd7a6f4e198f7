package detect

import (
	"math"
	"testing"

	"github.com/custos-dev/custos/internal/event"
)

// TestMemberSpread checks that the lasting spread of members' shares is
// what remains after each member's own sampling noise, and that one
// outlier (a harvester among the members) does not widen it much.
func TestMemberSpread(t *testing.T) {
	for _, tc := range []struct {
		name     string
		shares   []float64
		reads    float64
		lo, hi   float64
		outliers int
	}{
		{"alike", []float64{0.20, 0.21, 0.19, 0.20, 0.22, 0.18}, 400, 0.01, 0.02, 0},
		{"habits differ", []float64{0.10, 0.30, 0.15, 0.25, 0.20, 0.35, 0.05}, 400, 0.07, 0.15, 0},
		{"one harvester", []float64{0.20, 0.21, 0.19, 0.20, 0.22, 0.18}, 400, 0.01, 0.04, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m memberSpread
			for i := range 60 {
				m.add(tc.shares[i%len(tc.shares)], tc.reads)
			}
			for range tc.outliers {
				m.add(0.9, tc.reads)
			}
			if got := m.tau(0.2, 0.05); got < tc.lo || got > tc.hi {
				t.Errorf("tau = %.3f, want in [%.2f, %.2f]", got, tc.lo, tc.hi)
			}
		})
	}
	var m memberSpread
	if got := m.tau(0.2, 0.05); got != 0.05 {
		t.Errorf("tau with no samples = %v, want the default", got)
	}
}

// TestShrink checks that a person's own share moves toward their peers'
// as the evidence thins and the group's habits agree, and never rises past
// two spreads above the peers' however long a harvest has run.
func TestShrink(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		own, reads, peer, tau float64
		want                  float64
	}{
		{"habits differ, much evidence", 0.30, 5000, 0.20, 0.10, 0.30},
		{"habits alike: capped", 0.45, 5000, 0.15, 0.02, 0.19},
		{"little evidence", 0.30, 20, 0.20, 0.02, 0.2005},
		{"below peers", 0.10, 5000, 0.20, 0.05, 0.1006},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := shrink(tc.own, tc.reads, tc.peer, tc.tau); math.Abs(got-tc.want) > 0.005 {
				t.Errorf("shrink = %.4f, want %.4f", got, tc.want)
			}
		})
	}
}

// TestCoverDay: a day spent serving one other region's customers is
// cover; a harvest spread over several regions beside the usual work is
// not.
func TestCoverDay(t *testing.T) {
	for _, tc := range []struct {
		name              string
		reads, fAll, fTop uint16
		want              bool
	}{
		{"covering a store", 40, 38, 36, true},
		{"own work and a few travellers", 40, 3, 2, false},
		{"harvest over several regions", 60, 25, 8, false},
		{"half the day elsewhere", 40, 20, 20, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dayStat{reads: tc.reads, fAll: tc.fAll, fTop: tc.fTop}
			if got := coverDay(&d); got != tc.want {
				t.Errorf("coverDay = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWholeRecordCountsOnlyWhatWasShownInClear checks that a read whose
// phone or account was masked (a read under a ticket) does not count as
// taking the whole record.
func TestWholeRecordCountsOnlyWhatWasShownInClear(t *testing.T) {
	for _, tc := range []struct {
		fields, masked []string
		want           bool
	}{
		{nil, nil, true}, // older events name no fields
		{[]string{"name", "phone", "account"}, nil, true},
		{[]string{"name", "phone", "account"}, []string{"phone", "account"}, false},
		{[]string{"name", "phone", "account"}, []string{"account"}, false},
		{[]string{"name", "phone"}, nil, false},
	} {
		ev := &event.Event{Fields: tc.fields, Masked: tc.masked}
		if got := wholeRecord(ev); got != tc.want {
			t.Errorf("wholeRecord(fields %v, masked %v) = %v, want %v", tc.fields, tc.masked, got, tc.want)
		}
	}
}
