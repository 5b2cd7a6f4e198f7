package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/auditlog"
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
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, usageText)
		return exitOK
	case "rotate-master":
		return cmdRotateMaster(ctx, env, args[1:])
	case "rotate-log":
		return cmdRotateLog(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "custos keys: unknown subcommand %q (want rotate-master or rotate-log)\n", args[0])
	return exitUsage
}

// cmdRotateMaster replaces the master key. Order, so that a crash at any
// point leaves a store that one of the two key files opens:
//
//  1. write the new key to master.key.new (0600, synced);
//  2. re-wrap the key set in the store under the new key (one write);
//  3. rename master.key.new over master.key and sync the directory.
//
// If the command is interrupted between 2 and 3, running it again finds
// master.key.new, sees that it (not master.key) opens the store, and
// finishes step 3.
func cmdRotateMaster(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "keys rotate-master", "keys rotate-master [--data DIR | --db URL]")
	var sf storeFlags
	sf.register(fs)
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if env.Getenv(vault.EnvMasterKey) != "" {
		return fail(env, "keys rotate-master", exitUsage, fmt.Errorf("the master key comes from %s: rotate-master replaces %s; unset %s, or rotate it where it is kept",
			vault.EnvMasterKey, filepath.Join(sf.data, vault.MasterKeyFile), vault.EnvMasterKey))
	}
	path := filepath.Join(sf.data, vault.MasterKeyFile)
	newPath := path + ".new"
	if _, err := os.Stat(path); err != nil {
		return fail(env, "keys rotate-master", exitUsage, fmt.Errorf("no master key to rotate: %w", err))
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "keys rotate-master", exitUsage, err)
	}
	defer st.Close()
	old, err := vault.ReadKeyFile(path)
	if err != nil {
		return fail(env, "keys rotate-master", exitUsage, err)
	}
	if _, err := os.Stat(newPath); err == nil {
		// A previous rotation stopped half-way: finish it or start over.
		pending, err := vault.ReadKeyFile(newPath)
		if err != nil {
			return fail(env, "keys rotate-master", exitFail, err)
		}
		if _, err := vault.Open(ctx, st, pending); err == nil {
			if err := replaceFile(newPath, path); err != nil {
				return fail(env, "keys rotate-master", exitFail, err)
			}
			fmt.Fprintf(env.Stdout, "finished an interrupted rotation: %s replaced\n", path)
			return exitOK
		}
		os.Remove(newPath)
	}
	if _, err := vault.Open(ctx, st, old); err != nil {
		return fail(env, "keys rotate-master", exitFail, fmt.Errorf("current master key: %w", err))
	}
	next := vault.NewKey()
	if err := vault.WriteKeyFile(newPath, next); err != nil {
		return fail(env, "keys rotate-master", exitFail, err)
	}
	if err := vault.Rewrap(ctx, st, old, next); err != nil {
		os.Remove(newPath)
		return fail(env, "keys rotate-master", exitFail, fmt.Errorf("re-wrap: %w; the old master key still applies", err))
	}
	if err := replaceFile(newPath, path); err != nil {
		return fail(env, "keys rotate-master", exitFail, fmt.Errorf("%w; the store now opens only with %s: run custos keys rotate-master again to finish", err, newPath))
	}
	// Check the result end to end.
	if _, err := vault.Open(ctx, st, next); err != nil {
		return fail(env, "keys rotate-master", exitFail, fmt.Errorf("after rotation: %w", err))
	}
	fmt.Fprintf(env.Stdout, "master key rotated: %s replaced (mode 0600); the store's keys are re-wrapped, records unchanged.\n"+
		"Backups taken before now need the old master key; running servers keep working and pick up the new key file at their next start.\n", path)
	return exitOK
}

// replaceFile renames src over dst and syncs the directory.
func replaceFile(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("replace %s: %w", dst, err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
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
		old, nv, filepath.Join(sf.data, auditlog.KeyHistoryFile))
	return exitOK
}
