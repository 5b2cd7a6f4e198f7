package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/eval"
	"github.com/custos-dev/custos/internal/detect/scenario"
)

// cmdEval evaluates the detectors on generated scenarios.
func cmdEval(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "eval", `eval [--seed N | --seeds N,M,...] [--people N] [--days D] [--variant V] [--json] [--write-events F]

Generates synthetic partner networks with hidden insiders and legitimate
traps (deterministic from the seed), runs the detectors and a naive SIEM
threshold rule on the same events, and reports recall, false alerts per
1,000 employee-days, median records read before the first alert and median
hours to detect. --write-events writes the first seed's events as JSON lines,
for "custos detect --events F".`)
	seed := fs.Uint64("seed", 1, "scenario seed")
	seedList := fs.String("seeds", "", "comma-separated seeds (overrides --seed), e.g. 1,2,3,4,5")
	people := fs.Int("people", 300, "about this many employees per scenario")
	days := fs.Int("days", 28, "days per scenario")
	asJSON := fs.Bool("json", false, "write the result as JSON")
	writeEvents := fs.String("write-events", "", "write the (first) scenario's events to this JSON-lines file")
	sens := fs.Float64("sensitivity", 1, "detector threshold multiplier")
	variant := fs.Int("variant", 0, "scenario generator variant: 0 normal, 1 sparse traces (few searches, no found/customer_site fields)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
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
		return fail(env, "eval", exitUsage, err)
	}
	if *variant < 0 || *variant > 1 {
		fmt.Fprintf(env.Stderr, "custos eval: --variant must be 0 or 1\n")
		return exitUsage
	}
	p := scenario.Params{People: *people, Days: *days, Variant: *variant}
	if *writeEvents != "" {
		first := p
		first.Seed = seeds[0]
		if err := eval.WriteEvents(*writeEvents, first); err != nil {
			return fail(env, "eval", exitUsage, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return exitFail
	}
	res := eval.Run(p, seeds, cfg, nil)
	if !*asJSON {
		res.Print(env.Stdout)
		return exitOK
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return fail(env, "eval", exitFail, err)
	}
	return exitOK
}
