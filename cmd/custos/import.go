package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
)

// cmdImport loads customers, principals and tickets: all or nothing.
func cmdImport(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "import", "import [--data DIR | --db URL] [--customers F.csv] [--principals F.csv] [--tickets F.csv]")
	var sf storeFlags
	sf.register(fs)
	customers := fs.String("customers", "", "customers `file` (CSV: id,name,phone,account,region,site)")
	principals := fs.String("principals", "", "principals `file` (CSV: id,name,org,org_kind,role,site,region,token)")
	tickets := fs.String("tickets", "", "tickets `file` (CSV: id,customer,site,opened_by,opened_at)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *customers == "" && *principals == "" && *tickets == "" {
		fmt.Fprintln(env.Stderr, "custos import: nothing to import: give --customers, --principals and/or --tickets")
		return exitUsage
	}
	// Read every file before touching the store, so an unreadable file
	// changes nothing.
	files := map[string][]byte{}
	for name, path := range map[string]string{"customers": *customers, "principals": *principals, "tickets": *tickets} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fail(env, "import", exitUsage, fmt.Errorf("cannot read %s file: %w", name, err))
		}
		files[name] = b
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "import", exitUsage, err)
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return fail(env, "import", exitUsage, err)
	}
	var b store.Batch
	if data, ok := files["customers"]; ok {
		if b.Customers, err = importer.Customers(bytes.NewReader(data), v); err != nil {
			return importFailed(env, *customers, err)
		}
	}
	if data, ok := files["principals"]; ok {
		if b.Principals, err = importer.Principals(bytes.NewReader(data), v); err != nil {
			return importFailed(env, *principals, err)
		}
	}
	if data, ok := files["tickets"]; ok {
		if b.Tickets, err = importer.Tickets(bytes.NewReader(data)); err != nil {
			return importFailed(env, *tickets, err)
		}
	}
	if err := importer.Load(ctx, st, b); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fail(env, "import", exitUsage, err)
		}
		return fail(env, "import", exitFail, err)
	}
	fmt.Fprintf(env.Stdout, "imported %d customers, %d principals, %d tickets\n", len(b.Customers), len(b.Principals), len(b.Tickets))
	return exitOK
}

func importFailed(env *Env, path string, err error) int {
	var le *importer.LineError
	if errors.As(err, &le) {
		fmt.Fprintf(env.Stderr, "custos import: %s line %d: %v; nothing was loaded\n", path, le.Line, le.Err)
		return exitUsage
	}
	return fail(env, "import", exitUsage, fmt.Errorf("%s: %w; nothing was loaded", path, err))
}
