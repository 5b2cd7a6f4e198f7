package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdTrace attributes a leaked list: who could have leaked it.
func cmdTrace(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "trace", "trace [--data DIR | --db URL] --leak F.csv [--json] [--suspects N]")
	leakPath := fs.String("leak", "", "leaked list `file` (CSV with a header naming any of id, phone, account, name)")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	suspects := fs.Int("suspects", trace.DefaultMaxSuspects, "list at most `N` suspects")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *leakPath == "" {
		fmt.Fprintln(env.Stderr, "custos trace: give the leaked list with --leak FILE.csv")
		return exitUsage
	}
	if *suspects < 0 {
		fmt.Fprintln(env.Stderr, "custos trace: --suspects must be at least 0")
		return exitUsage
	}
	f, err := os.Open(*leakPath)
	if err != nil {
		return fail(env, "trace", exitUsage, fmt.Errorf("cannot read leak file: %w", err))
	}
	leak, err := trace.ParseLeak(f)
	f.Close()
	if err != nil {
		return fail(env, "trace", exitUsage, fmt.Errorf("%s: %w", *leakPath, err))
	}
	st, v, err := openExisting(ctx, env, sf)
	if err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	defer st.Close()
	// The access-sets snapshot is a cache: loaded if usable, caught up
	// with the audit records, saved again if it grew.
	lt := trace.NewTracer(st, v, datadir.Dir(sf.data).AccessSets())
	if err := lt.CatchUp(ctx, true); err != nil {
		return fail(env, "trace", exitFail, err)
	}
	rep, err := lt.Trace(ctx, leak, trace.WithMaxSuspects(*suspects))
	if err != nil {
		return fail(env, "trace", exitFail, err)
	}
	if *asJSON {
		err = writeReportJSON(env.Stdout, rep)
	} else {
		err = rep.WriteText(env.Stdout)
	}
	if err != nil {
		return fail(env, "trace", exitFail, err)
	}
	return exitOK
}

func writeReportJSON(w io.Writer, rep trace.Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// attachTrace serves POST /v1/trace: the tracer loads the access-sets
// snapshot from the data dir and keeps the sets current from the audit
// feed, so that a trace replays little.
func (a *app) attachTrace(ctx context.Context, v *vault.Vault) {
	t := trace.NewTracer(a.store, v, datadir.Dir(a.flags.data).AccessSets())
	a.api.Tracer, a.gw.Tracer = t, t
	a.spawn(ctx, func(ctx context.Context) { a.gw.RunNotices(ctx, a.cfg.IncidentNoticeRate) })
	a.spawn(ctx, func(ctx context.Context) {
		if err := t.Follow(ctx, a.log); err != nil && ctx.Err() == nil {
			a.logger.Error("trace access sets stopped following the audit log", "err", err)
		}
	})
}
