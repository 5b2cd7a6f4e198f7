package eval

import (
	"context"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
)

// TestGoals runs the detectors on three small generated worlds (different
// seeds draw different rates, sizes, habits and insider intensities) and
// asserts issue 5's goals: recall >= 0.95, at most 0.5 false alerts per
// 1,000 employee-days, median records before the first alert <= 100; and
// that the detectors beat the naive SIEM rule.
func TestGoals(t *testing.T) {
	res := Run(scenario.Params{People: 120, Days: 21}, []uint64{1, 2, 3}, detect.DefaultConfig(), nil)
	d := res.Detectors
	t.Logf("detectors: recall %.3f (%d/%d), false %.2f/1000 (%d over %d employee-days), median records %.0f, median hours %.1f",
		d.Recall, d.Detected, d.Insiders, d.FalsePer1000, d.FalseAlerts, res.EmployeeDays, d.MedianRecords, d.MedianHours)
	b := res.Baseline
	t.Logf("SIEM rule: recall %.3f, false %.2f/1000, median records %.0f", b.Recall, b.FalsePer1000, b.MedianRecords)
	if d.Insiders < 20 {
		t.Fatalf("only %d insiders in the worlds; the test would say little", d.Insiders)
	}
	if d.Recall < 0.95 {
		t.Errorf("recall %.3f < 0.95; missed %+v", d.Recall, res.Missed)
	}
	if d.FalsePer1000 > 0.5 {
		t.Errorf("%.2f false alerts per 1,000 employee-days > 0.5; samples %+v", d.FalsePer1000, res.FalseSamples)
	}
	if d.MedianRecords > 100 {
		t.Errorf("median records before alert %.0f > 100", d.MedianRecords)
	}
	if d.Recall <= b.Recall {
		t.Errorf("detectors' recall %.3f does not beat the SIEM rule's %.3f", d.Recall, b.Recall)
	}
	for kind, k := range res.Kinds {
		if k.Detected == 0 {
			t.Errorf("no %s insider detected", kind)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{4, 1, 3}, 3}, {[]float64{1, 2, 3, 10}, 2.5}} {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestSparseVariant runs the second generator variant, where staff rarely
// search or take consents and events lack found and customer_site: the
// traces that explain a read are mostly missing. False alerts and time to
// detect must still meet the goals; recall was lower here (rings and
// slow-and-low visible only as volume against the person's own history:
// 18 of 22 before the once detector, 21 of 22 with it, which sees the one
// look a harvest takes at each record), and the test pins a floor so it
// does not silently fall.
func TestSparseVariant(t *testing.T) {
	res := Run(scenario.Params{People: 120, Days: 21, Variant: 1}, []uint64{4, 5}, detect.DefaultConfig(), nil)
	d := res.Detectors
	t.Logf("sparse: recall %.3f (%d/%d), false %.2f/1000, median records %.0f; missed %d",
		d.Recall, d.Detected, d.Insiders, d.FalsePer1000, d.MedianRecords, len(res.Missed))
	if d.Recall < 0.9 {
		t.Errorf("sparse recall %.3f < 0.9", d.Recall)
	}
	if d.FalsePer1000 > 0.5 {
		t.Errorf("sparse: %.2f false alerts per 1,000 employee-days > 0.5; samples %+v", d.FalsePer1000, res.FalseSamples)
	}
	if d.MedianRecords > 100 {
		t.Errorf("sparse: median records %.0f > 100", d.MedianRecords)
	}
}

// TestObserve feeds lines to the detectors: blank lines are skipped, a bad
// line stops it naming the line, and the alerts before it are emitted.
func TestObserve(t *testing.T) {
	ev := `{"time":"2026-03-02T09:14:05Z","actor":"a","action":"customer.read","customer":"c-1","decision":"allow"}`
	for _, tc := range []struct {
		name, in string
		n        int
		err      string
	}{
		{"empty", "", 0, ""},
		{"blank lines", "\n  \n" + ev + "\r\n\n" + ev, 2, ""},
		{"bad line", ev + "\n\nnot json\n" + ev, 1, "line 3:"},
		{"too long", ev + "\n" + strings.Repeat("x", 3*MaxLine), 1, "line 2: line longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := Observe(context.Background(), strings.NewReader(tc.in), detect.New(detect.DefaultConfig()), func(detect.Alert) error { return nil })
			if n != tc.n || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Observe = %d, %v; want %d, %q", n, err, tc.n, tc.err)
			}
		})
	}
}

// TestDrawnWorld runs one small drawn world from the tuning split, with
// the kinds issue 18 added (blend, first week, relay pairs, ramp, code
// guessing) and travellers among the traps, and asserts the goals on it.
// The held-out split is never used in tests (it is for reporting).
func TestDrawnWorld(t *testing.T) {
	p := scenario.Draw(TuneFirst + 1)
	p.People, p.Days, p.Variant = 160, 18, 0
	res := Run(p, []uint64{p.Seed}, detect.DefaultConfig(), nil)
	d := res.Detectors
	t.Logf("drawn: recall %.3f (%d/%d), false %.2f/1000 (%d over %d), median records %.0f; missed %+v",
		d.Recall, d.Detected, d.Insiders, d.FalsePer1000, d.FalseAlerts, res.EmployeeDays, d.MedianRecords, res.Missed)
	for _, k := range []string{scenario.Relay, scenario.Codes, scenario.Blend} {
		if ks := res.Kinds[k]; ks == nil || ks.Insiders == 0 {
			t.Errorf("no %s insider in the world", k)
		} else if ks.Detected < ks.Insiders {
			t.Errorf("%s: %d of %d detected", k, ks.Detected, ks.Insiders)
		}
	}
	if d.Recall < 0.9 {
		t.Errorf("recall %.3f < 0.9", d.Recall)
	}
	if d.FalsePer1000 > 0.5 {
		t.Errorf("%.2f false alerts per 1,000 employee-days; by trap %v, samples %+v", d.FalsePer1000, res.FalseByTrap, res.FalseSamples)
	}
	if d.MedianRecords > 100 {
		t.Errorf("median records %.0f > 100", d.MedianRecords)
	}
}
