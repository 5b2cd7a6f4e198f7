package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/custos-dev/custos/internal/cpuprof"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/demo"
)

// cmdDemo builds a synthetic world, replays its work through the real
// gateway handlers (in process, with a simulated clock), then serves.
func cmdDemo(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "demo", "demo [--data DIR] [--addr HOST:PORT] [--customers N] [--days D] [--seed S] [--no-serve]")
	var f serveFlags
	fs.StringVar(&f.data, "data", "./custos-demo", "data `dir` for the demo world (wiped if it holds an earlier demo)")
	f.register(fs)
	customers := fs.Int("customers", 50000, "`number` of customers")
	days := fs.Int("days", 7, "`days` of work to replay")
	seed := fs.Uint64("seed", 1, "world `seed`")
	noServe := fs.Bool("no-serve", false, "build and replay, print the summary, then exit")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *customers < 100 || *customers > 5_000_000 {
		fmt.Fprintln(env.Stderr, "custos demo: --customers must be 100..5000000")
		return exitUsage
	}
	if *days < 1 || *days > 90 {
		fmt.Fprintln(env.Stderr, "custos demo: --days must be 1..90")
		return exitUsage
	}
	stopProf, err := cpuprof.Start(f.cpuProf)
	if err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	defer stopProf()
	if err := datadir.Dir(f.data).PrepareDemo(); err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	start := time.Now()
	fmt.Fprintf(env.Stderr, "custos demo: building a world of %d customers over %d days…\n", *customers, *days)
	w := demo.Build(demo.Options{Customers: *customers, Days: *days, Seed: *seed})
	if err := importDemo(ctx, env, f.storeFlags, w); err != nil {
		return fail(env, "demo", exitFail, err)
	}
	clock := &demo.Clock{}
	clock.Set(w.Events[0].Time)
	codes := &demo.Codes{}
	// The demo's world is synthetic: its store commits survive a crash of
	// the process but are not flushed to disk one by one (durability
	// "process"), which lets a week of work replay in seconds. Everything
	// else is the production path.
	a, err := startApp(ctx, env, f, appOptions{Now: clock.Now, Notifier: codes, Durability: "process"})
	if err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	defer a.close()

	sum, err := demo.Session{World: w, Handler: a.api.Handler(), Clock: clock, Codes: codes, WaitIdle: a.watch.WaitIdle,
		Store: a.store, Dir: f.data, Progress: env.Stderr}.Run(ctx)
	if err != nil {
		return fail(env, "demo", exitFail, err)
	}
	sum.Addr, sum.Took = a.ln.Addr().String(), time.Since(start)
	sum.Print(env.Stdout)
	if *noServe {
		return exitOK
	}
	return a.serve(ctx, env)
}

// importDemo imports the world into the data dir's store.
func importDemo(ctx context.Context, env *Env, sf storeFlags, w *demo.World) error {
	d := datadir.Dir(sf.data)
	if err := os.WriteFile(d.Demo(), nil, 0o600); err != nil {
		return err
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return err
	}
	return w.Load(ctx, d, st, v)
}
