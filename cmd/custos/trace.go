package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdTrace attributes a leaked list: who could have leaked it.
func cmdTrace(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "trace", "trace [--data DIR | --db URL] --leak F.csv [--json] [--suspects N]")
	var sf storeFlags
	sf.register(fs)
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
	if err := storeExists(sf); err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return fail(env, "trace", exitUsage, err)
	}
	lt, err := newLeakTracer(ctx, st, v, filepath.Join(sf.data, accessSetsFile))
	if err != nil {
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

// storeExists reports an error when --data names no existing embedded
// store, so that a mistyped directory is not silently created empty.
func storeExists(sf storeFlags) error {
	if sf.db != "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(sf.data, "custos.db")); err != nil {
		return fmt.Errorf("no custos store in %s (give --data DIR or --db URL; custos import or serve creates one)", sf.data)
	}
	return nil
}

func writeReportJSON(w io.Writer, rep trace.Report) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// accessSetsFile is the access-sets snapshot in the data dir: a cache,
// rebuilt from the audit records whenever it is missing, damaged or not of
// this store (format: trace.WriteSnapshot).
const accessSetsFile = "access-sets.bin"

// leakTracer adapts trace.Tracer to httpapi.Tracer.
type leakTracer struct{ *trace.Tracer }

// newLeakTracer loads the snapshot at cache (if usable; "" for none),
// catches up with the audit records and saves the snapshot if it grew.
func newLeakTracer(ctx context.Context, st store.Store, v *vault.Vault, cache string) (leakTracer, error) {
	t := leakTracer{trace.NewTracer(st, v, cache)}
	if err := t.CatchUp(ctx, true); err != nil {
		return leakTracer{}, err
	}
	return t, nil
}

// TraceCSV implements httpapi.Tracer.
func (t leakTracer) TraceCSV(ctx context.Context, csv []byte) (any, error) {
	return t.Tracer.TraceCSV(ctx, csv)
}

// attachTrace serves POST /v1/trace: the tracer loads the access-sets
// snapshot from the data dir and keeps the sets current from the audit
// feed, so that a trace replays little.
func (a *app) attachTrace(ctx context.Context, v *vault.Vault) {
	t := leakTracer{trace.NewTracer(a.store, v, filepath.Join(a.flags.data, accessSetsFile))}
	a.api.Tracer = t
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.Follow(ctx, a.log)
	}()
	a.closers = append(a.closers, func() { a.cancel(); <-done })
}
