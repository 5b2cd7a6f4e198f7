package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/masterkey"
	"github.com/custos-dev/custos/internal/store"
)

// cmdKeys runs the key tools.
func cmdKeys(ctx context.Context, env *Env, args []string) int {
	const usageText = `Usage: custos keys <subcommand> [flags]

Subcommands:
  rotate-master  new master key: re-wrap the store's key set and replace
                 <data>/master.key (0600); records are not re-encrypted
  rotate-log     new audit log signing key: the old key signs a hand-over to
                 the new one (<data>/log-keys, or the database with --db,
                 where gateways may run), so old checkpoints still verify

Run "custos keys <subcommand> --help" for its flags.
`
	return group{name: "keys", usage: usageText, want: "rotate-master or rotate-log", subs: map[string]func(context.Context, *Env, []string) int{
		"rotate-master": cmdRotateMaster,
		"rotate-log":    cmdRotateLog,
	}}.run(ctx, env, args)
}

// cmdRotateMaster replaces the master key (see package masterkey).
func cmdRotateMaster(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "keys rotate-master", "keys rotate-master [--data DIR | --db URL]")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	path := datadir.Dir(sf.data).MasterKey()
	if err := masterkey.CheckFile(path, env.Getenv); err != nil {
		return fail(env, "keys rotate-master", exitUsage, err)
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "keys rotate-master", exitUsage, err)
	}
	defer st.Close()
	finished, err := masterkey.Rotate(ctx, st, path)
	var kfe *masterkey.KeyFileError
	switch {
	case errors.As(err, &kfe):
		return fail(env, "keys rotate-master", exitUsage, err)
	case err != nil:
		return fail(env, "keys rotate-master", exitFail, err)
	case finished:
		fmt.Fprintf(env.Stdout, "finished an interrupted rotation: %s replaced\n", path)
		return exitOK
	}
	fmt.Fprintf(env.Stdout, "master key rotated: %s replaced (mode 0600); the store's keys are re-wrapped, records unchanged.\n"+
		"Backups taken before now need the old master key; running servers keep working and pick up the new key file at their next start.\n", path)
	return exitOK
}

// cmdRotateLog replaces the audit log's signing key: on PostgreSQL in the
// database, while gateways run (auditlog.RotateStoredKey); on the embedded
// store in the data dir, with the server stopped (auditlog.RotateKey).
func cmdRotateLog(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "keys rotate-log", "keys rotate-log [--data DIR (stop the server first) | --db URL (gateways may run)]")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	st, w, err := openWithLogKey(ctx, env, sf)
	if err != nil {
		return fail(env, "keys rotate-log", exitUsage, err)
	}
	defer st.Close()
	old, nv, where, err := auditlog.Rotate(ctx, st, w, sf.data)
	if err != nil {
		code := exitFail
		if errors.Is(err, auditlog.ErrRotation) {
			code = exitUsage
		}
		return fail(env, "keys rotate-log", code, err)
	}
	fmt.Fprintf(env.Stdout, "audit log signing key rotated.\nretired verifier key: %s\nnew verifier key:     %s\n"+
		"The hand-over, signed by both keys, is in %s; give it and the new key to your auditors and witnesses.\n", old, nv, where)
	return exitOK
}

// logKeyWrapper returns the master key's wrapper for the log signing key
// on PostgreSQL, where the key lives in the database; nil on the embedded
// store, which keeps <data>/log-signing.key.
func logKeyWrapper(env *Env, sf storeFlags) (auditlog.KeyWrapper, error) {
	if sf.db == "" {
		return nil, nil
	}
	mk, err := masterkey.Load(sf.data, env.Getenv)
	return masterkey.LogKeyWrapper{Master: mk}, err
}

// openWithLogKey opens the store and the log key's wrapper (logKeyWrapper).
func openWithLogKey(ctx context.Context, env *Env, sf storeFlags) (store.Store, auditlog.KeyWrapper, error) {
	w, err := logKeyWrapper(env, sf)
	if err != nil {
		return nil, nil, err
	}
	st, err := openStore(ctx, sf)
	return st, w, err
}
