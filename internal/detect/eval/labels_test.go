package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// TestLabelled scores a generated world twice: from the generator's ground
// truth (Run), and as a user would, from its events written out as JSON
// lines and a labels file naming the insiders. Both must find the same
// insiders and the same false alerts.
func TestLabelled(t *testing.T) {
	p := scenario.Params{Seed: 3, People: 100, Days: 14}
	var buf bytes.Buffer
	w := scenario.Generate(p, func(ev event.Event) {
		buf.Write(ev.Canonical())
		buf.WriteByte('\n')
	})
	var lb strings.Builder
	lb.WriteString("actor,kind,from\n# insiders from the generator\n")
	for _, in := range w.Insiders {
		fmt.Fprintf(&lb, "%s,%s,%s\n", in.Actor, in.Kind, in.From.Format(time.RFC3339Nano))
	}
	labels, err := ParseLabels(strings.NewReader(lb.String()))
	if err != nil {
		t.Fatal(err)
	}
	if len(labels) != len(w.Insiders) || len(labels) < 5 {
		t.Fatalf("%d labels for %d insiders", len(labels), len(w.Insiders))
	}
	got, err := Labelled(context.Background(), &buf, labels, detect.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := Run(p, []uint64{p.Seed}, detect.DefaultConfig(), nil)
	if got.Detectors.Detected != want.Detectors.Detected || got.Detectors.Insiders != want.Detectors.Insiders {
		t.Errorf("labelled: %d/%d detected; ground truth: %d/%d", got.Detectors.Detected, got.Detectors.Insiders,
			want.Detectors.Detected, want.Detectors.Insiders)
	}
	if got.Detectors.FalseAlerts != want.Detectors.FalseAlerts {
		t.Errorf("labelled: %d false alerts; ground truth: %d", got.Detectors.FalseAlerts, want.Detectors.FalseAlerts)
	}
	if got.Events != want.Events || got.EmployeeDays == 0 {
		t.Errorf("labelled: %d events, %d employee-days; generated %d events", got.Events, got.EmployeeDays, want.Events)
	}
}

// TestParseLabels checks the labels format: a header naming actor (kind and
// from optional, in any order), RFC 3339 or date-only times, comments; and
// that bad files are refused naming the line.
func TestParseLabels(t *testing.T) {
	ok := "from,actor\n2026-03-02,emp-1\n,emp-2\n2026-03-02T09:00:00+08:00,emp-3\n"
	ls, err := ParseLabels(strings.NewReader(ok))
	if err != nil {
		t.Fatal(err)
	}
	want := []Label{
		{Actor: "emp-1", From: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)},
		{Actor: "emp-2"},
		{Actor: "emp-3", From: time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)},
	}
	for i := range want {
		if i >= len(ls) || ls[i].Actor != want[i].Actor || !ls[i].From.Equal(want[i].From) {
			t.Fatalf("ParseLabels = %+v, want %+v", ls, want)
		}
	}
	for _, tc := range []struct{ name, in, msg string }{
		{"no actor column", "who,kind\nemp-1,bulk\n", "actor column"},
		{"empty actor", "actor,kind\n,bulk\n", "line 2"},
		{"twice", "actor\nemp-1\nemp-1\n", "line 3: actor emp-1 listed twice"},
		{"bad time", "actor,from\nemp-1,yesterday\n", "line 2: from"},
		{"empty", "", "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseLabels(strings.NewReader(tc.in))
			if !errors.Is(err, ErrLabels) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want ErrLabels mentioning %q", err, tc.msg)
			}
		})
	}
}

// TestSplits checks that the tuning and held-out splits never share a seed
// and that their worlds are drawn from the documented ranges.
func TestSplits(t *testing.T) {
	tune, err := SplitSeeds(SplitTune, 1000)
	if err != nil {
		t.Fatal(err)
	}
	held, _ := SplitSeeds(SplitHeldOut, 1000)
	if tune[len(tune)-1] >= held[0] {
		t.Fatalf("tuning seeds reach %d, held-out starts at %d", tune[len(tune)-1], held[0])
	}
	if _, err := SplitSeeds("test", 3); !errors.Is(err, ErrSplit) {
		t.Errorf("unknown split: err = %v", err)
	}
	sparse := 0
	for _, s := range held {
		p := scenario.Draw(s)
		if p.People < 150 || p.People > 700 || p.Days < 14 || p.Days > 35 || !p.Wide {
			t.Fatalf("Draw(%d) = %+v, outside the ranges", s, p)
		}
		sparse += p.Variant
	}
	if sparse < 150 || sparse > 350 {
		t.Errorf("%d of 1000 drawn worlds are sparse, want about a quarter", sparse)
	}
}
