package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/policy"
)

const policyUsage = `Usage:
  custos policy test FILE [--policies DIR | --data DIR]
  custos policy check [--policies DIR | --data DIR]
  custos policy init DIR

test   runs the policy test cases in FILE (JSON lines, see docs/POLICY.md)
       against the active policies; prints every mismatch naming the case;
       exit 0 when all pass, 1 on any mismatch, 2 when FILE or the
       policies cannot be read or are invalid.
check  loads and validates the active policies against their schema;
       exit 0 when valid, 2 otherwise.
init   writes the default policy pack into DIR unless DIR already holds
       *.cedar files.

The active policies are those in --policies DIR; otherwise those in
<data>/policies when that directory holds *.cedar files (--data, default
./custos-data); otherwise the built-in default pack.

Flags:
`

// cmdPolicy is "custos policy": policy tests, validation and seeding.
func cmdPolicy(_ context.Context, env *Env, args []string) int {
	fs := flag.NewFlagSet("custos policy", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	policiesDir := fs.String("policies", "", "policy directory (schema and *.cedar files)")
	dataDir := fs.String("data", DefaultDataDir, "data directory; its policies/ subdirectory is used when --policies is not given")
	// Usage is printed only for --help, on stdout; a bad flag gets the
	// flag package's one line on stderr.
	fs.Usage = func() {}
	// Flags may come before or after the positional arguments.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(env.Stdout, policyUsage)
				fs.SetOutput(env.Stdout)
				fs.PrintDefaults()
				return exitOK
			}
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) == 0 {
		fmt.Fprintln(env.Stderr, `custos policy: missing subcommand (test, check or init; see "custos policy --help")`)
		return exitUsage
	}
	switch pos[0] {
	case "test":
		if len(pos) != 2 {
			fmt.Fprintln(env.Stderr, "custos policy test: want exactly one case FILE")
			return exitUsage
		}
		return policyTest(env, pos[1], *policiesDir, *dataDir)
	case "check":
		if len(pos) != 1 {
			fmt.Fprintln(env.Stderr, "custos policy check: takes no arguments (use --policies DIR)")
			return exitUsage
		}
		eng, src, err := policy.Active(*policiesDir, datadir.Dir(*dataDir).Policies())
		if err != nil {
			fmt.Fprintf(env.Stderr, "custos policy check: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(env.Stdout, "ok: %d policies valid (%s, digest %s)\n", len(eng.PolicyIDs()), src, eng.Digest()[:12])
		return exitOK
	case "init":
		if len(pos) != 2 {
			fmt.Fprintln(env.Stderr, "custos policy init: want exactly one DIR")
			return exitUsage
		}
		wrote, err := policy.WriteDefaults(pos[1])
		if err != nil {
			fmt.Fprintf(env.Stderr, "custos policy init: %v\n", err)
			return exitUsage
		}
		if wrote {
			fmt.Fprintf(env.Stdout, "wrote the default policy pack to %s\n", pos[1])
		} else {
			fmt.Fprintf(env.Stdout, "%s already holds policies; left unchanged\n", pos[1])
		}
		return exitOK
	default:
		fmt.Fprintf(env.Stderr, "custos policy: unknown subcommand %q (test, check or init)\n", pos[0])
		return exitUsage
	}
}

func policyTest(env *Env, file, policiesDir, dataDir string) int {
	var r io.Reader
	if file == "-" {
		r = env.Stdin
	} else {
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintf(env.Stderr, "custos policy test: %v\n", err)
			return exitUsage
		}
		defer f.Close()
		r = f
	}
	eng, src, err := policy.Active(policiesDir, datadir.Dir(dataDir).Policies())
	if err != nil {
		fmt.Fprintf(env.Stderr, "custos policy test: %v\n", err)
		return exitUsage
	}
	results, err := policy.RunCases(eng, r)
	if err != nil {
		fmt.Fprintf(env.Stderr, "custos policy test: %s: %v\n", file, err)
		return exitUsage
	}
	failed := 0
	for _, res := range results {
		if !res.OK() {
			failed++
			fmt.Fprintf(env.Stdout, "FAIL %s:%d: %s: %s\n", file, res.Line, res.Name, strings.Join(res.Mismatches, "; "))
		}
	}
	if failed > 0 {
		fmt.Fprintf(env.Stdout, "%d of %d cases failed (policies: %s)\n", failed, len(results), src)
		return exitFail
	}
	fmt.Fprintf(env.Stdout, "ok: %d cases passed (policies: %s)\n", len(results), src)
	return exitOK
}
