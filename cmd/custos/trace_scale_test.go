package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
)

// TestTraceScaleCLI measures "custos trace" end to end on a real SQLite
// store: resolving every leaked row through the blind indexes, rebuilding
// the access sets from the audit records (cold) and loading their snapshot
// (warm). It takes minutes, so it runs only when asked:
//
//	CUSTOS_TRACE_CLI_SCALE=customers,accesses,leakrows go test ./cmd/custos -run TestTraceScaleCLI -v -timeout 60m
//
// e.g. CUSTOS_TRACE_CLI_SCALE=1000000,5000000,1000000.
func TestTraceScaleCLI(t *testing.T) {
	spec := os.Getenv("CUSTOS_TRACE_CLI_SCALE")
	if spec == "" {
		t.Skip("set CUSTOS_TRACE_CLI_SCALE=customers,accesses,leakrows to run")
	}
	var n [3]int
	for i, f := range strings.Split(spec, ",") {
		if i < 3 {
			n[i], _ = strconv.Atoi(f)
		}
	}
	customers, accesses, leakRows := n[0], n[1], n[2]
	if customers <= 0 || accesses <= 0 || leakRows <= 0 {
		t.Fatalf("CUSTOS_TRACE_CLI_SCALE=%q: want three positive counts", spec)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, v := openData(t, dir)
	start := time.Now()
	const batch = 50000
	for lo := 0; lo < customers; lo += batch {
		var b store.Batch
		for i := lo; i < min(lo+batch, customers); i++ {
			id, phone, account, name := traceCustomer(i), fmt.Sprintf("+86139%08d", i), fmt.Sprintf("u%d@example.com", i), fmt.Sprintf("Name %d", i)
			b.Customers = append(b.Customers, store.Customer{ID: id, Region: fmt.Sprintf("R%d", i%31), Site: "s",
				Name: v.Seal(id, "name", name), Phone: v.Seal(id, "phone", phone), Account: v.Seal(id, "account", account),
				PhoneIndex: v.BlindIndex(vault.IndexPhone, phone), AccountIndex: v.BlindIndex(vault.IndexAccount, account),
				NameIndex: v.BlindIndex(vault.IndexName, vault.NormalizeName(name))})
		}
		if err := st.Import(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("imported %d customers in %v", customers, time.Since(start).Round(time.Second))
	start = time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	principals := max(accesses/1000, 1)
	recs := make([]store.AuditRecord, 0, batch)
	for i := 0; i < accesses; i++ {
		p := rng.IntN(principals)
		c := (p*7919 + rng.IntN(customers/31+1)*31 + p%31) % customers // mostly the principal's region
		ev := event.Event{Time: time.Unix(1772400000+int64(i), 0).UTC(), Actor: fmt.Sprintf("emp-%05d", p), Org: fmt.Sprintf("org-%03d", p/50),
			Role: "store_clerk", Action: event.ActionRead, Customer: traceCustomer(c), CustomerRegion: fmt.Sprintf("R%d", c%31),
			Fields: []string{"name", "phone"}, Purpose: "ticket:T-1", PurposeValid: true, Decision: event.Allow}
		recs = append(recs, store.AuditRecord{Time: ev.Time, Actor: ev.Actor, Customer: ev.Customer, Event: ev.Canonical(), Salt: []byte("0123456789abcdef")})
		if len(recs) == batch || i == accesses-1 {
			if _, err := st.AppendAudit(ctx, recs); err != nil {
				t.Fatal(err)
			}
			recs = recs[:0]
		}
	}
	st.Close()
	t.Logf("appended %d audit records (%d principals) in %v", accesses, principals, time.Since(start).Round(time.Second))

	var b strings.Builder
	b.WriteString("phone\n")
	for r := 0; r < leakRows; r++ {
		p := fmt.Sprintf("139%08d", rng.IntN(customers))
		if r%2 == 0 {
			p = "+86 " + p
		}
		b.WriteString(p + "\n")
	}
	leak := filepath.Join(dir, "leak.csv")
	if err := os.WriteFile(leak, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"cold (rebuild from audit)", "warm (snapshot)"} {
		cpu0, t0 := cpuSeconds(), time.Now()
		code, out, errS := runCmd(t, "trace", "--data", dir, "--leak", leak)
		if code != 0 {
			t.Fatalf("trace: %s", errS)
		}
		t.Logf("%s: %v wall, %.1fs CPU\n%s", run, time.Since(t0).Round(10*time.Millisecond), cpuSeconds()-cpu0, firstLines(out, 3))
	}
	if fi, err := os.Stat(datadir.Dir(dir).AccessSets()); err == nil {
		t.Logf("snapshot %d MB", fi.Size()>>20)
	}

	// The same in process (the store's batched LookupCustomers).
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cpu0, t0 := cpuSeconds(), time.Now()
	lt := trace.NewTracer(st, v, datadir.Dir(dir).AccessSets())
	if err := lt.CatchUp(ctx, true); err != nil {
		t.Fatal(err)
	}
	lf, _ := os.Open(leak)
	parsed, err := trace.ParseLeak(lf)
	lf.Close()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := lt.Trace(ctx, parsed)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warm, batched lookups: %v wall, %.1fs CPU; matched %d never %d", time.Since(t0).Round(10*time.Millisecond), cpuSeconds()-cpu0, rep.Matched, rep.NeverAccessed)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// cpuSeconds is the process's user and system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
