package main

import (
	"context"
	"fmt"

	"github.com/custos-dev/custos/internal/canary"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
)

// cmdCanary manages canary records: synthetic customers planted per org or
// site, so that their appearance in a leak points at where it came from.
func cmdCanary(ctx context.Context, env *Env, args []string) int {
	const synopsis = "canary seed [--data DIR | --db URL] [--per-org N] [--per-site N] [--like ID] [--list]"
	return group{name: "canary", usage: "Usage: custos " + synopsis + "\n",
		help: "Usage: custos " + synopsis + "\n\nPlants synthetic customers, shaped like the real ones, in each partner org and store.\nRun \"custos canary seed --help\" for the flags.\n",
		want: "seed", subs: map[string]func(context.Context, *Env, []string) int{"seed": canarySeed}}.run(ctx, env, args)
}

// canarySeed plants canaries (see package canary) and loads them.
func canarySeed(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "canary seed", "canary seed [--data DIR | --db URL] [--per-org N] [--per-site N] [--like ID] [--list]")
	perOrg := fs.Int("per-org", 1, "canaries per partner org (`N`)")
	perSite := fs.Int("per-site", 1, "canaries per site (`N`)")
	list := fs.Bool("list", false, "print each canary's id and scope (keep that list with the security team)")
	like := fs.String("like", "", "an example real customer `id`, whose pattern canary ids follow (default: learned from the audit log, else c-0000001)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *perOrg < 0 || *perSite < 0 || *perOrg > 1000 || *perSite > 1000 {
		fmt.Fprintln(env.Stderr, "custos canary seed: --per-org and --per-site must be between 0 and 1000")
		return exitUsage
	}
	if *perOrg == 0 && *perSite == 0 {
		fmt.Fprintln(env.Stderr, "custos canary seed: nothing to seed: --per-org and --per-site are both 0")
		return exitUsage
	}
	st, v, err := openExisting(ctx, env, sf)
	if err != nil {
		return fail(env, "canary seed", exitUsage, err)
	}
	defer st.Close()
	cs, err := canary.Seed(ctx, st, v, canary.Options{PerOrg: *perOrg, PerSite: *perSite, Like: *like})
	if err != nil {
		return fail(env, "canary seed", exitFail, err)
	}
	if len(cs) == 0 {
		fmt.Fprintln(env.Stderr, "custos canary seed: no partner orgs or sites yet: import principals first")
		return exitUsage
	}
	if err := importer.Load(ctx, st, store.Batch{Customers: cs}); err != nil {
		return fail(env, "canary seed", exitFail, err)
	}
	orgs, sites := canary.Count(cs)
	fmt.Fprintf(env.Stdout, "seeded %d canary records: %d in partner orgs, %d at sites\n", len(cs), orgs, sites)
	if *list {
		for _, c := range cs {
			fmt.Fprintf(env.Stdout, "%s\t%s\n", c.ID, c.Scope)
		}
	}
	return exitOK
}
