package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/evidence"
	"github.com/custos-dev/custos/internal/monitor"
)

// cmdAudit runs the audit log tools: "key" prints the verifier key,
// "verify" checks the whole log against the store.
func cmdAudit(ctx context.Context, env *Env, args []string) int {
	const usageText = `Usage: custos audit <subcommand> [flags]

Subcommands:
  key      print the log's public verifier key (signed-note name+hash+base64)
  monitor URL [--state FILE] [--key K] [--once]
           follow a custos log from outside: signatures, cosignatures,
           consistency of every checkpoint seen; non-zero on a fork
  verify   recompute the Merkle tree from every stored event and check the
           tiles and every checkpoint the log has issued; exit 0 only if all holds
  verify-bundle FILE [--key K]
           check an evidence bundle (GET /v1/cases/{id}/evidence) offline:
           exit 0 if every byte holds, 1 naming what does not

Run "custos audit <subcommand> --help" for its flags.
`
	return group{name: "audit", usage: usageText, want: "key, verify, verify-bundle or monitor", subs: map[string]func(context.Context, *Env, []string) int{
		"key":           cmdAuditKey,
		"verify":        cmdAuditVerify,
		"verify-bundle": cmdAuditVerifyBundle,
		"monitor":       cmdAuditMonitor,
	}}.run(ctx, env, args)
}

func cmdAuditKey(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "audit key", "audit key [--data DIR] [--db URL]")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	k, err := auditlog.VerifierKey(sf.data)
	if sf.db != "" { // the key is in the database, wrapped by the master key
		st, w, oerr := openWithLogKey(ctx, env, sf)
		if err = oerr; err == nil {
			k, err = auditlog.StoredVerifierKey(ctx, st, w, sf.data)
			st.Close()
		}
	}
	if err != nil {
		return fail(env, "audit key", exitUsage, err)
	}
	fmt.Fprintln(env.Stdout, k)
	return exitOK
}

func cmdAuditVerify(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "audit verify", "audit verify [--data DIR] [--db URL] [--key VERIFIER] [--checkpoints FILE] [--quiet]")
	key := fs.String("key", "", "verifier `key` to check signatures with (default: derived from the data dir's signing key); pass the key published to auditors to detect a replaced key")
	quiet := fs.Bool("quiet", false, "print only problems")
	external := fs.String("checkpoints", "", "`file` of checkpoints kept outside custos (the audit log's export file, JSON lines) to hold the log to; catches a rollback of both store and log")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *key == "" && sf.db == "" { // on PostgreSQL: the key the database records
		k, err := auditlog.VerifierKey(sf.data)
		if err != nil {
			return fail(env, "audit verify", exitUsage, err)
		}
		*key = k
	}
	extra, err := auditlog.ReadExportFile(*external)
	if err != nil {
		return fail(env, "audit verify", exitUsage, fmt.Errorf("--checkpoints: %w", err))
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "audit verify", exitUsage, fmt.Errorf("open store: %w", err))
	}
	defer st.Close()
	start := time.Now()
	rep, err := auditlog.VerifyWith(ctx, st, sf.data, auditlog.VerifyOptions{Key: *key, Checkpoints: extra})
	elapsed := time.Since(start)
	var ve *auditlog.VerifyError
	switch {
	case errors.As(err, &ve):
		fmt.Fprint(env.Stderr, "custos audit verify: "+ve.Detail())
		return exitFail
	case err != nil:
		return fail(env, "audit verify", exitFail, err)
	}
	for _, w := range rep.Warnings {
		fmt.Fprintf(env.Stderr, "custos audit verify: warning: %s\n", w)
	}
	if !*quiet {
		fmt.Fprintf(env.Stdout, "%s (%.2fs)\n", rep.Summary(), elapsed.Seconds())
	}
	return exitOK
}

func cmdAuditVerifyBundle(_ context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "audit verify-bundle", "audit verify-bundle FILE [--key VERIFIER]")
	key := fs.String("key", "", "the log's verifier `key` you trust (default: the key in the bundle, with a warning)")
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	f, err := os.Open(file)
	if err != nil {
		return fail(env, "audit verify-bundle", exitUsage, err)
	}
	defer f.Close()
	rep, err := evidence.Verify(f, *key)
	if err != nil {
		return fail(env, "audit verify-bundle", exitUsage, fmt.Errorf("%s: %w", file, err))
	}
	if !rep.OK() {
		fmt.Fprintf(env.Stderr, "custos audit verify-bundle: FAILED: %s: %s\n", file, rep)
		return exitFail
	}
	fmt.Fprintln(env.Stdout, rep)
	return exitOK
}

// cmdAuditMonitor follows a custos log from outside (package monitor).
func cmdAuditMonitor(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "audit monitor", "audit monitor URL [--key K] [--state FILE] [--witness-policy FILE] [--once] [--interval D]")
	var o monitor.Options
	fs.StringVar(&o.Key, "key", "", "the log's verifier `key` you trust (custos audit key; then kept in the state)")
	fs.StringVar(&o.StateFile, "state", "custos-monitor.json", "`file` keeping the checkpoints seen")
	fs.StringVar(&o.WitnessPolicyFile, "witness-policy", "", "witness policy `file` whose quorum must cosign every checkpoint")
	once := fs.Bool("once", false, "check once and exit")
	every := fs.Duration("interval", time.Minute, "time between checks")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		o.URL, args = args[0], args[1:]
	}
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	m, err := monitor.New(o)
	if err != nil {
		return fail(env, "audit monitor", exitUsage, err)
	}
	if err := m.Follow(ctx, *every, *once, env.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		return fail(env, "audit monitor", exitFail, err)
	}
	return exitOK
}
