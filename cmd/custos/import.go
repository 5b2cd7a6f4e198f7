package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/custos-dev/custos/internal/cpuprof"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/progress"
	"github.com/custos-dev/custos/internal/store"
)

// cmdImport loads customers, principals and tickets: all or nothing. The
// customers file is streamed (package importer), so memory stays bounded
// whatever its size.
func cmdImport(ctx context.Context, env *Env, args []string) int {
	var sf storeFlags
	fs := sf.flagSet(env, "import", "import [--data DIR | --db URL] [--upsert] [--customers F.csv] [--principals F.csv] [--tickets F.csv]")
	customers := fs.String("customers", "", "customers `file` (CSV: id,name,phone,account,region,site)")
	principals := fs.String("principals", "", "principals `file` (CSV: id,name,org,org_kind,role,site,region,token)")
	tickets := fs.String("tickets", "", "tickets `file` (CSV: id,customer,site,opened_by,opened_at)")
	upsert := fs.Bool("upsert", false, "apply the customers file as changes (new and changed customers) to a live deployment, keeping its indexes")
	cpuProf := fs.String("cpuprofile", "", "write a CPU profile of the import to `file` (for performance work)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *customers == "" && *principals == "" && *tickets == "" {
		return fail(env, "import", exitUsage, errors.New("nothing to import: give --customers, --principals and/or --tickets"))
	}
	if *upsert && *customers == "" {
		return fail(env, "import", exitUsage, errors.New("--upsert applies a customers file: give --customers"))
	}
	// Read the small files, and open the customers file, before touching
	// the store, so an unreadable file changes nothing.
	files := map[string][]byte{}
	for name, path := range map[string]string{"principals": *principals, "tickets": *tickets} {
		if path == "" {
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return fail(env, "import", exitUsage, fmt.Errorf("cannot read %s file: %w", name, err))
		}
		files[name] = b
	}
	var cf *os.File
	if *customers != "" {
		var err error
		if cf, err = os.Open(*customers); err != nil {
			return fail(env, "import", exitUsage, fmt.Errorf("cannot read customers file: %w", err))
		}
		defer cf.Close()
	}
	stopProf, err := cpuprof.Start(*cpuProf)
	if err != nil {
		return fail(env, "import", exitUsage, err)
	}
	defer stopProf() // after the store's Close: the profile includes the final checkpoint
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
	res := importer.Result{Principals: len(b.Principals), Tickets: len(b.Tickets)}
	if cf != nil {
		// The pipeline's live heap is small and constant (about 30 MB),
		// but it allocates at a great rate (3 GB for 1M rows): collect
		// less often, within a bound well under the import's 512 MB.
		defer debug.SetGCPercent(debug.SetGCPercent(400))
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(192 << 20))
		r, switching, done := progress.File(env.Stderr, cf, "customers")
		res, err = importer.LoadCustomers(ctx, st, v, r, b, importer.Options{Upsert: *upsert, Switching: switching})
		done()
		if le := (*importer.LineError)(nil); errors.As(err, &le) {
			return importFailed(env, *customers, err)
		}
	} else {
		err = importer.Load(ctx, st, b)
	}
	if err != nil {
		if errors.Is(err, store.ErrExists) || errors.Is(err, importer.ErrBadRow) {
			return fail(env, "import", exitUsage, err)
		}
		return fail(env, "import", exitFail, err)
	}
	fmt.Fprintln(env.Stdout, res.Summary(*upsert))
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
