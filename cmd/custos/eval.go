package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/eval"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

const evalUsage = `Usage: custos eval [--seed N | --seeds N,M,...] [--people N] [--days D] [--variant V] [--json] [--write-events F]

Generates synthetic partner networks with hidden insiders and legitimate
traps (deterministic from the seed), runs the detectors and a naive SIEM
threshold rule on the same events, and reports recall, false alerts per
1,000 employee-days, median records read before the first alert and median
hours to detect. --write-events writes the first seed's events as JSON lines,
for "custos detect --events F".

Flags:
`

// cmdEval evaluates the detectors on generated scenarios.
func cmdEval(ctx context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), evalUsage)
		fs.PrintDefaults()
	}
	seed := fs.Uint64("seed", 1, "scenario seed")
	seedList := fs.String("seeds", "", "comma-separated seeds (overrides --seed), e.g. 1,2,3,4,5")
	people := fs.Int("people", 300, "about this many employees per scenario")
	days := fs.Int("days", 28, "days per scenario")
	asJSON := fs.Bool("json", false, "write the result as JSON")
	writeEvents := fs.String("write-events", "", "write the (first) scenario's events to this JSON-lines file")
	sens := fs.Float64("sensitivity", 1, "detector threshold multiplier")
	variant := fs.Int("variant", 0, "scenario generator variant: 0 normal, 1 sparse traces (few searches, no found/customer_site fields)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "custos eval: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if *people < 20 || *people > 100000 || *days < 7 || *days > 366 {
		fmt.Fprintf(env.Stderr, "custos eval: --people must be in [20,100000] and --days in [7,366]\n")
		return exitUsage
	}
	seeds := []uint64{*seed}
	if *seedList != "" {
		seeds = seeds[:0]
		for _, s := range strings.Split(*seedList, ",") {
			v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
			if err != nil {
				fmt.Fprintf(env.Stderr, "custos eval: bad seed %q in --seeds (want numbers like 1,2,3)\n", s)
				return exitUsage
			}
			seeds = append(seeds, v)
		}
	}
	cfg := detect.DefaultConfig()
	cfg.Sensitivity = *sens
	if err := cfg.Validate(); err != nil {
		fmt.Fprintf(env.Stderr, "custos eval: %v\n", err)
		return exitUsage
	}
	if *variant < 0 || *variant > 1 {
		fmt.Fprintf(env.Stderr, "custos eval: --variant must be 0 or 1\n")
		return exitUsage
	}
	p := scenario.Params{People: *people, Days: *days, Variant: *variant}
	if *writeEvents != "" {
		if err := writeScenario(*writeEvents, scenario.Params{Seed: seeds[0], People: *people, Days: *days, Variant: *variant}); err != nil {
			fmt.Fprintf(env.Stderr, "custos eval: %v\n", err)
			return exitUsage
		}
	}
	if err := ctx.Err(); err != nil {
		return exitFail
	}
	res := eval.Run(p, seeds, cfg, nil)
	if *asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			fmt.Fprintf(env.Stderr, "custos eval: %v\n", err)
			return exitFail
		}
		return exitOK
	}
	printEval(env.Stdout, res)
	return exitOK
}

// writeScenario writes a scenario's events to path atomically (a temporary
// file renamed into place), so a failure leaves nothing half-written.
func writeScenario(path string, p scenario.Params) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".events-*.jsonl")
	if err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	defer os.Remove(f.Name())
	w := bufio.NewWriterSize(f, 1<<20)
	var werr error
	scenario.Generate(p, func(ev event.Event) {
		if werr != nil {
			return
		}
		b := ev.Canonical()
		b = append(b, '\n')
		_, werr = w.Write(b)
	})
	if werr == nil {
		werr = w.Flush()
	}
	if werr == nil {
		werr = f.Close()
	} else {
		f.Close()
	}
	if werr != nil {
		return fmt.Errorf("write events: %w", werr)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

func printEval(w io.Writer, r eval.Result) {
	fmt.Fprintf(w, "scenarios: seeds %v, %d people, %d employee-days, %d events\n\n", r.Seeds, r.People, r.EmployeeDays, r.Events)
	fmt.Fprintf(w, "%-22s %8s %10s %22s %16s %14s\n", "method", "recall", "detected", "false/1000 emp-days", "median records", "median hours")
	row := func(name string, s eval.Scores) {
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
