package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/postgres"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// DefaultDataDir is where the embedded store, keys and log live by default.
const DefaultDataDir = datadir.Default

// DefaultAddr is serve's default listen address.
const DefaultAddr = "127.0.0.1:8470"

// storeFlags are the flags every command that opens the store shares.
type storeFlags struct {
	data string
	db   string
}

func (f *storeFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.data, "data", DefaultDataDir, "data `dir`: embedded store, master key, audit log")
	fs.StringVar(&f.db, "db", "", "PostgreSQL `url` (postgres://…); the data dir still holds the master key and the tiled log")
}

// flagSet is newFlagSet with the store flags registered into f.
func (f *storeFlags) flagSet(env *Env, name, synopsis string) *flag.FlagSet {
	fs := newFlagSet(env, name, synopsis)
	f.register(fs)
	return fs
}

// newFlagSet returns a FlagSet that reports errors on env.Stderr and whose
// usage prints the command's synopsis first.
func newFlagSet(env *Env, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: custos %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args; it returns (code, true) when the command must
// stop: 0 after --help, 2 after a bad flag (one line on stderr).
func parseFlags(fs *flag.FlagSet, env *Env, args []string) (int, bool) {
	out := fs.Output()
	var buf strings.Builder
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(out)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(env.Stdout)
		fs.Usage()
		return exitOK, true
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "custos %s: %v (see custos %s --help)\n", fs.Name(), err, fs.Name())
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "custos %s: unexpected argument %q (see custos %s --help)\n", fs.Name(), fs.Arg(0), fs.Name())
		return exitUsage, true
	}
	return 0, false
}

// openStore opens the configured store. The caller closes it.
func openStore(ctx context.Context, f storeFlags, opt ...sqlite.Option) (store.Store, error) {
	if f.db != "" {
		return postgres.Open(ctx, f.db)
	}
	if err := os.MkdirAll(f.data, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", f.data, err)
	}
	return sqlite.Open(ctx, datadir.Dir(f.data).DB(), opt...)
}

// openVault loads the master key (CUSTOS_MASTER_KEY or <data>/master.key)
// and unwraps the store's keys.
func openVault(ctx context.Context, env *Env, f storeFlags, st store.Store) (*vault.Vault, error) {
	mk, err := vault.LoadOrCreateMasterKey(f.data, env.Getenv)
	if err != nil {
		return nil, err
	}
	return vault.Open(ctx, st, mk)
}

// openExisting opens an existing store and its vault; a --data dir that
// holds no store is refused rather than created empty.
func openExisting(ctx context.Context, env *Env, sf storeFlags) (store.Store, *vault.Vault, error) {
	if sf.db == "" {
		if err := datadir.Dir(sf.data).HasStore(); err != nil {
			return nil, nil, err
		}
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return nil, nil, err
	}
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, v, nil
}

// fail prints one line for a command error and returns code.
func fail(env *Env, cmd string, code int, err error) int {
	fmt.Fprintf(env.Stderr, "custos %s: %v\n", cmd, err)
	return code
}
