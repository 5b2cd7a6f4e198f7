package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/custos-dev/custos/internal/demo"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
)

// demoMarker marks a data dir the demo made, so a rerun may wipe it.
const demoMarker = ".custos-demo"

// cmdDemo builds a synthetic world, replays its work through the real
// gateway handlers (in process, with a simulated clock), then serves.
func cmdDemo(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "demo", "demo [--data DIR] [--addr HOST:PORT] [--customers N] [--days D] [--seed S] [--no-serve]")
	var f serveFlags
	fs.StringVar(&f.data, "data", "./custos-demo", "data `dir` for the demo world (wiped if it holds an earlier demo)")
	f.register(fs)
	customers := fs.Int("customers", 50000, "`number` of customers")
	days := fs.Int("days", 7, "`days` of work to replay")
	seed := fs.Uint64("seed", 1, "world `seed`")
	noServe := fs.Bool("no-serve", false, "build and replay, print the summary, then exit")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *customers < 100 || *customers > 5_000_000 {
		fmt.Fprintln(env.Stderr, "custos demo: --customers must be 100..5000000")
		return exitUsage
	}
	if *days < 1 || *days > 90 {
		fmt.Fprintln(env.Stderr, "custos demo: --days must be 1..90")
		return exitUsage
	}
	stopProf, err := startCPUProfile(f.cpuProf)
	if err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	defer stopProf()
	if err := prepareDemoDir(f.data); err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	start := time.Now()
	fmt.Fprintf(env.Stderr, "custos demo: building a world of %d customers over %d days…\n", *customers, *days)
	w := demo.Build(demo.Options{Customers: *customers, Days: *days, Seed: *seed})
	if err := importDemo(ctx, env, f.storeFlags, w); err != nil {
		return fail(env, "demo", exitFail, err)
	}
	clock := &demo.Clock{}
	clock.Set(w.Events[0].Time)
	codes := &demo.Codes{}
	// The demo's world is synthetic: its store commits survive a crash of
	// the process but are not flushed to disk one by one (durability
	// "process"), which lets a week of work replay in seconds. Everything
	// else is the production path.
	a, err := startApp(ctx, env, f, appOptions{Now: clock.Now, Notifier: codes, Durability: "process"})
	if err != nil {
		return fail(env, "demo", exitUsage, err)
	}
	defer a.close()

	bar := progressbar.NewOptions(len(w.Events), progressbar.OptionSetWriter(env.Stderr),
		progressbar.OptionSetDescription("replaying work through the gateway"), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionClearOnFinish())
	rp := &demo.Replayer{World: w, Handler: a.api.Handler(), Clock: clock, Codes: codes,
		Progress: func(done, total int) { bar.Set(done) }}
	stats, err := rp.Run(ctx)
	bar.Finish()
	clock.Release()
	if err != nil {
		return fail(env, "demo", exitFail, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = a.watch.WaitIdle(wctx)
	cancel()
	if err != nil {
		return fail(env, "demo", exitFail, fmt.Errorf("detectors did not catch up: %w", err))
	}
	leak, err := writeDemoLeak(ctx, a.store, w, f.data)
	if err != nil {
		return fail(env, "demo", exitFail, err)
	}
	alerts, _ := a.store.Alerts(ctx, 10000)
	contained := map[string]string{}
	for _, al := range alerts {
		if al.Action != "" {
			contained[al.Actor] = al.Action
		}
	}
	printDemoSummary(env.Stdout, w, stats, len(alerts), contained, leak, a.ln.Addr().String(), time.Since(start))
	if *noServe {
		return exitOK
	}
	return a.serve(ctx, env)
}

func prepareDemoDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		return os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o600)
	}
	if _, err := os.Stat(filepath.Join(dir, demoMarker)); err != nil {
		return fmt.Errorf("%s is not empty and not an earlier demo: pass --data with a new directory", dir)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, demoMarker), nil, 0o600)
}

// importDemo writes the world as the contract's CSV files (so a newcomer
// can see them) and imports them as "custos import" would, canaries marked.
func importDemo(ctx context.Context, env *Env, sf storeFlags, w *demo.World) error {
	if err := os.WriteFile(filepath.Join(sf.data, demoMarker), nil, 0o600); err != nil {
		return err
	}
	var cb, pb bytes.Buffer
	if err := w.WriteCustomersCSV(&cb); err != nil {
		return err
	}
	if err := w.WritePrincipalsCSV(&pb); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sf.data, "customers.csv"), cb.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(sf.data, "principals.csv"), pb.Bytes(), 0o600); err != nil {
		return err
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return err
	}
	var b store.Batch
	if b.Customers, err = importer.Customers(bytes.NewReader(cb.Bytes()), v); err != nil {
		return err
	}
	for i := range b.Customers {
		if c, ok := w.Customer(b.Customers[i].ID); ok && c.Canary {
			b.Customers[i].Canary, b.Customers[i].Scope = true, "site:"+c.Site
		}
	}
	if b.Principals, err = importer.Principals(bytes.NewReader(pb.Bytes()), v); err != nil {
		return err
	}
	return importer.Load(ctx, st, b)
}

// writeDemoLeak writes a leaked list as a criminal would sell it: what the
// worst insider pulled through custos, a canary from their store, and rows
// that never left through custos at all — messy, as such lists are.
func writeDemoLeak(ctx context.Context, st store.Store, w *demo.World, dir string) (string, error) {
	// The insider with the most allowed reads; their distinct customers,
	// in the order first read, are the leak. One read of each log.
	best := 0
	seen := map[string]bool{}
	var rows []demo.Customer
	for _, in := range w.Insiders {
		recs, err := st.AuditByActor(ctx, in.Actor, 0)
		if err != nil {
			return "", err
		}
		n := 0
		mine, mineSeen := []demo.Customer(nil), map[string]bool{}
		for _, r := range recs {
			ev, err := event.Parse(r.Event)
			if err != nil || ev.Decision != event.Allow || ev.Action != event.ActionRead {
				continue
			}
			n++
			if c, ok := w.Customer(ev.Customer); ok && !mineSeen[c.ID] {
				mineSeen[c.ID] = true
				mine = append(mine, c)
			}
		}
		if n > best {
			best, rows, seen = n, mine, mineSeen
		}
	}
	// Records from elsewhere: customers nobody read through custos.
	extra := 0
	for i := len(w.Customers) - 1; i >= 0 && extra < 25; i-- {
		c := w.Customers[i]
		if c.Canary || seen[c.ID] {
			continue
		}
		if recs, err := st.AuditByCustomer(ctx, c.ID); err == nil && len(recs) == 0 {
			rows = append(rows, c)
			seen[c.ID] = true
			extra++
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	path := filepath.Join(dir, "leak-demo.csv")
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	cw := csv.NewWriter(&buf)
	cw.UseCRLF = true
	cw.Write([]string{"Name", " Phone ", "account"})
	for i, c := range rows {
		phone := c.Phone
		switch i % 3 {
		case 0:
			phone = strings.TrimPrefix(phone, "+")
		case 1:
			phone = strings.TrimPrefix(phone, "+86")
			phone = phone[:3] + " " + phone[3:7] + " " + phone[7:]
		}
		cw.Write([]string{" " + c.Name, phone, strings.ToUpper(c.Account[:1]) + c.Account[1:]})
		if i%17 == 0 {
			cw.Write([]string{c.Name, phone, c.Account}) // duplicates happen
		}
	}
	cw.Flush()
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		return "", err
	}
	return path, nil
}

func printDemoSummary(out io.Writer, w *demo.World, s demo.Stats, alerts int, contained map[string]string, leak, addr string, took time.Duration) {
	fmt.Fprintf(out, "\ncustos demo is ready (%s)\n\n", took.Round(time.Second))
	fmt.Fprintf(out, "  world      %d customers, %d principals, %d events of work replayed as %d API requests\n",
		len(w.Customers), len(w.Principals), s.Events, s.Requests)
	fmt.Fprintf(out, "  answers   ")
	codes := make([]int, 0, len(s.ByStatus))
	for c := range s.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		fmt.Fprintf(out, " %d×%d", c, s.ByStatus[c])
	}
	fmt.Fprintf(out, "\n  detectors  %d alerts, %d people contained (hidden insiders: %d)\n\n", alerts, len(contained), len(w.Insiders))
	fmt.Fprintf(out, "Dashboard:  http://%s/      (sign in with a token below)\n", addr)
	sample := ""
	for _, ev := range w.Events {
		if c, ok := w.Customer(ev.Customer); ok && ev.Action == event.ActionRead && !c.Canary {
			sample = c.Phone
			break
		}
	}
	fmt.Fprintf(out, "Customers:  http://%s/my    (sign in with a customer's phone, e.g. %s; the code lands in outbox.jsonl in the data dir)\n\n", addr, sample)
	fmt.Fprintf(out, "Tokens, one per role:\n")
	seen := map[string]bool{}
	for _, p := range w.Principals {
		if seen[p.Role] {
			continue
		}
		seen[p.Role] = true
		fmt.Fprintf(out, "  %-18s %-14s %s\n", p.Role, p.ID, p.Token)
	}
	sec, _ := w.ByRole("security_analyst")
	aud, _ := w.ByRole("auditor")
	fmt.Fprintf(out, "\nTry:\n")
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/alerts\n", sec.Token, addr)
	fmt.Fprintf(out, "  curl -s -H 'Authorization: Bearer %s' http://%s/v1/audit/checkpoint\n", aud.Token, addr)
	fmt.Fprintf(out, "  curl -s http://%s/log/checkpoint\n", addr)
	if leak != "" {
		fmt.Fprintf(out, "  custos trace --data %s --leak %s\n", filepath.Dir(leak), leak)
	}
	fmt.Fprintf(out, "  custos audit verify --data %s\n\n", filepath.Dir(leak))
}
