package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/masterkey"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdKeys runs the key tools.
func cmdKeys(ctx context.Context, env *Env, args []string) int {
	const usageText = `Usage: custos keys <subcommand> [flags]

Subcommands:
  rotate-master  new master key: re-wrap the store's key set and replace
                 <data>/master.key (0600); records are not re-encrypted
  rotate-log     new audit log signing key: the old key signs a hand-over to
                 the new one, kept in <data>/log-keys, so old checkpoints
                 still verify and new ones are signed by the new key

Run "custos keys <subcommand> --help" for its flags.
`
	return group{name: "keys", usage: usageText, want: "rotate-master or rotate-log", subs: map[string]func(context.Context, *Env, []string) int{
		"rotate-master": cmdRotateMaster,
		"rotate-log":    cmdRotateLog,
	}}.run(ctx, env, args)
}

// cmdRotateMaster replaces the master key (see package masterkey).
func cmdRotateMaster(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "keys rotate-master", "keys rotate-master [--data DIR | --db URL]")
	var sf storeFlags
	sf.register(fs)
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	path := datadir.Dir(sf.data).MasterKey()
	if env.Getenv(vault.EnvMasterKey) != "" {
		return fail(env, "keys rotate-master", exitUsage, fmt.Errorf("the master key comes from %s: rotate-master replaces %s; unset %s, or rotate it where it is kept",
			vault.EnvMasterKey, path, vault.EnvMasterKey))
	}
	if _, err := os.Stat(path); err != nil {
		return fail(env, "keys rotate-master", exitUsage, fmt.Errorf("no master key to rotate: %w", err))
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

// cmdRotateLog replaces the audit log's signing key (see
// auditlog.RotateKey). The server must be stopped: only one process may
// write the log.
func cmdRotateLog(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "keys rotate-log", "keys rotate-log [--data DIR | --db URL]   (stop the server first)")
	var sf storeFlags
	sf.register(fs)
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	old, err := auditlog.VerifierKey(sf.data)
	if err != nil {
		return fail(env, "keys rotate-log", exitUsage, err)
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "keys rotate-log", exitUsage, err)
	}
	defer st.Close()
	nv, err := auditlog.RotateKey(ctx, st, sf.data)
	if err != nil {
		code := exitFail
		if errors.Is(err, auditlog.ErrRotation) {
			code = exitUsage
		}
		return fail(env, "keys rotate-log", code, err)
	}
	fmt.Fprintf(env.Stdout, "audit log signing key rotated.\nretired verifier key: %s\nnew verifier key:     %s\n"+
		"The hand-over, signed by both keys, is in %s; give it and the new key to your auditors and witnesses.\n",
		old, nv, datadir.Dir(sf.data).LogKeys())
	return exitOK
}
