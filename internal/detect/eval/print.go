package eval

import (
	"fmt"
	"io"
	"sort"
)

// Print writes r as the text table "custos eval" shows: each method's
// figures, the goals, detection by insider kind, false alerts by person
// type and detector, and the insiders missed.
func (r Result) Print(w io.Writer) {
	fmt.Fprintf(w, "scenarios: seeds %v, %d people, %d employee-days, %d events\n\n", r.Seeds, r.People, r.EmployeeDays, r.Events)
	fmt.Fprintf(w, "%-22s %8s %10s %22s %16s %14s\n", "method", "recall", "detected", "false/1000 emp-days", "median records", "median hours")
	row := func(name string, s Scores) {
		fmt.Fprintf(w, "%-22s %8.3f %5d/%-4d %15.2f (%3d) %16.0f %14.1f\n", name, s.Recall, s.Detected, s.Insiders,
			s.FalsePer1000, s.FalseAlerts, s.MedianRecords, s.MedianHours)
	}
	row("custos detectors", r.Detectors)
	row("SIEM threshold rule", r.Baseline)
	fmt.Fprintf(w, "  (SIEM rule: %s)\n\n", r.BaselineRule)
	fmt.Fprintf(w, "goals: recall >= 0.95, <= 0.5 false alerts per 1,000 employee-days, median records <= 100\n\n")
	kinds := make([]string, 0, len(r.Kinds))
	for k := range r.Kinds {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "%-14s %10s %16s %14s\n", "insider kind", "detected", "median records", "median hours")
	for _, k := range kinds {
		s := r.Kinds[k]
		fmt.Fprintf(w, "%-14s %5d/%-4d %16.0f %14.1f\n", k, s.Detected, s.Insiders, s.MedianRecords, s.MedianHours)
	}
	if len(r.FalseByTrap) > 0 {
		fmt.Fprintf(w, "\nfalse alerts by person type: %v\nfalse alerts by detector:    %v\n", r.FalseByTrap, r.FalseByKind)
	}
	for _, m := range r.Missed {
		fmt.Fprintf(w, "missed: %s (%s from %s)\n", m.Actor, m.Kind, m.From.Format("2006-01-02 15:04"))
	}
}
