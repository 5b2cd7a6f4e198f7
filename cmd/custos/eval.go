package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/eval"
	"github.com/custos-dev/custos/internal/detect/scenario"
)

// cmdEval evaluates the detectors on generated scenarios, drawn worlds or
// the user's own labelled history (package eval).
func cmdEval(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "eval", `eval [--seed N | --seeds N,M,...] [--people N] [--days D] [--variant V] [--json] [--write-events F]
       eval --split tune|heldout [--worlds N] [--json] [--write-events F]
       eval --events F.jsonl --labels L.csv [--json]

Generates synthetic partner networks with hidden insiders and legitimate
traps (deterministic from the seed), runs the detectors and a naive SIEM
threshold rule on the same events, and reports recall, false alerts per
1,000 employee-days, median records read before the first alert and median
hours to detect. --write-events writes the first seed's events as JSON lines,
for "custos detect --events F".

--split draws each world's size, length, rates, habits and insider mix from
its seed and reports the spread over the worlds (min, median, max). The
tuning split is seeds 1, 2, ...; the held-out split, seeds 1000001, ..., is
never used for tuning (docs/DETECTION.md).

--events with --labels scores the detectors on your own history: access
events as JSON lines and a CSV of known insiders with header actor,kind,from
(kind and from optional; from in RFC 3339).`)
	seed := fs.Uint64("seed", 1, "scenario seed")
	seedList := fs.String("seeds", "", "comma-separated seeds (overrides --seed), e.g. 1,2,3,4,5")
	people := fs.Int("people", 300, "about this many employees per scenario")
	days := fs.Int("days", 28, "days per scenario")
	asJSON := fs.Bool("json", false, "write the result as JSON")
	writeEvents := fs.String("write-events", "", "write the (first) scenario's events to this JSON-lines file")
	sens := fs.Float64("sensitivity", 1, "detector threshold multiplier")
	variant := fs.Int("variant", 0, "scenario generator variant: 0 normal, 1 sparse traces (few searches, no found/customer_site fields)")
	split := fs.String("split", "", `drawn worlds: "tune" (seeds 1, 2, ...) or "heldout" (seeds 1000001, ...)`)
	worlds := fs.Int("worlds", 8, "with --split: how many worlds")
	events := fs.String("events", "", "your own access events (JSON lines), scored against --labels")
	labels := fs.String("labels", "", "CSV of known insiders in --events: actor,kind,from")
	feedback := fs.Bool("feedback", false, "analysts in the loop: each false alert's case is closed as benign 4h later and fed back")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	cfg := detect.DefaultConfig()
	cfg.Sensitivity = *sens
	var usage error
	switch {
	case (*events == "") != (*labels == ""):
		usage = fmt.Errorf("--events and --labels go together")
	case *split != "" && (*worlds < 1 || *worlds > 1000):
		usage = fmt.Errorf("--worlds must be in [1,1000]")
	case *people < 20 || *people > 100000 || *days < 7 || *days > 366:
		usage = fmt.Errorf("--people must be in [20,100000] and --days in [7,366]")
	case *variant < 0 || *variant > 1:
		usage = fmt.Errorf("--variant must be 0 or 1")
	default:
		usage = cfg.Validate()
	}
	if usage != nil {
		return fail(env, "eval", exitUsage, usage)
	}
	var out interface{ Print(w io.Writer) }
	switch {
	case *events != "":
		res, err := eval.LabelledFiles(ctx, *events, *labels, cfg)
		if err != nil {
			return fail(env, "eval", exitUsage, err)
		}
		out = res
	case *split != "":
		seeds, err := eval.SplitSeeds(*split, *worlds)
		if err == nil && *writeEvents != "" {
			err = eval.WriteEvents(*writeEvents, scenario.Draw(seeds[0]))
		}
		if err != nil {
			return fail(env, "eval", exitUsage, err)
		}
		var progress func(eval.WorldResult)
		if !*asJSON {
			fmt.Fprintf(env.Stdout, "split %s: %d drawn worlds\n", *split, *worlds)
			eval.PrintWorldHeader(env.Stdout)
			progress = func(w eval.WorldResult) { eval.PrintWorld(env.Stdout, w) }
		}
		sp := eval.RunSpread(seeds, cfg, progress, *feedback)
		sp.Split = *split
		out = sp
	default:
		seeds := []uint64{*seed}
		var err error
		if *seedList != "" {
			seeds, err = eval.ParseSeeds(*seedList)
		}
		p := scenario.Params{People: *people, Days: *days, Variant: *variant}
		if first := p; err == nil && *writeEvents != "" {
			first.Seed = seeds[0]
			err = eval.WriteEvents(*writeEvents, first)
		}
		if err != nil {
			return fail(env, "eval", exitUsage, err)
		}
		if ctx.Err() != nil {
			return exitFail
		}
		if *feedback {
			out = eval.RunFeedback(p, seeds, cfg)
		} else {
			out = eval.Run(p, seeds, cfg, nil)
		}
	}
	if !*asJSON {
		out.Print(env.Stdout)
		return exitOK
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fail(env, "eval", exitFail, err)
	}
	return exitOK
}
