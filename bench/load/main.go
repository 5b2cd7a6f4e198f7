// Command load measures custos's guarded read against an unguarded one.
//
// It builds a world of customers, imports it into a fresh custos data dir,
// starts "custos serve" (the real binary) and a bare baseline server — the
// same rows served over HTTP from the same kind of embedded store
// (modernc.org/sqlite), with no security at all — and drives each with the
// same closed-loop load: C concurrent clients for D seconds, each request a
// read of one customer by id. Every custos request runs the full path:
// token, purpose (ticket) check, Cedar policy with every field, decryption,
// masking, quota, the durable audit append and the detectors. The D seconds
// are taken in R slices, the targets in turn (bare, custos, bare, custos,
// …), so that a ratio compares targets measured within seconds of each
// other: on a shared machine whose speed drifts, one slice each could move
// the ratio by a third.
//
//	go run ./bench/load -customers 20000 -clients 16 -duration 20s [-rounds 3]
package main

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		baseline(os.Args[2], os.Args[3])
		return
	}
	customers := flag.Int("customers", 20000, "customers in the world")
	clients := flag.Int("clients", 16, "concurrent clients")
	duration := flag.Duration("duration", 20*time.Second, "load duration per target")
	bin := flag.String("custos", "", "custos binary (default: build ./cmd/custos)")
	keep := flag.Bool("keep", false, "keep the work dir")
	flag.StringVar(&dbURL, "db", "", "PostgreSQL `url` of an empty database: custos runs on it instead of the embedded store")
	flag.IntVar(&gateways, "gateways", 1, "custos gateways (with -db); clients spread over them")
	durability := flag.String("durability", "full", "custos durability: full (flush every group commit) or process")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "have custos serve write a CPU profile to `file`")
	flag.IntVar(&rounds, "rounds", 3, "measure each target in this many slices of the duration, interleaved (bare, custos, bare, …), so that a ratio compares targets measured within seconds of each other even when the machine's speed drifts")
	flag.Parse()
	if rounds < 1 || *duration/time.Duration(rounds) < time.Second {
		fmt.Fprintln(os.Stderr, "load: -rounds must be at least 1, with at least 1s of load per round")
		os.Exit(2)
	}
	durabilityLine = "durability = \"" + *durability + "\"\n"
	if err := run(*customers, *clients, *duration, *bin, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

var (
	cpuProfile string
	rounds     int
	dbURL      string
	gateways   int
	// durabilityLine goes into the custos config (top-level key).
	durabilityLine string
)

const token = "bench-token-0123456789abcdef"

func run(customers, clients int, duration time.Duration, bin string, keep bool) error {
	dir, err := os.MkdirTemp("", "custos-load-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	if bin == "" {
		bin = filepath.Join(dir, "custos")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/custos").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	// The world: customers at store-1, one ticket each, one clerk.
	var cb, tb strings.Builder
	cb.WriteString("id,name,phone,account,region,site\n")
	// Tickets at the clerks' store, each held by one clerk (tickets belong
	// to their holder) and open for the whole run (they expire: ticket_ttl).
	tb.WriteString("id,customer,site,opened_by,opened_at,expires_at\n")
	opened, expires := time.Now().UTC().Format(time.RFC3339), time.Now().Add(24*time.Hour).UTC().Format(time.RFC3339)
	for i := 0; i < customers; i++ {
		fmt.Fprintf(&cb, "c-%07d,Customer %d,+86138%08d,user%d@example.com,GD,store-1\n", i, i, i, i)
		fmt.Fprintf(&tb, "T-%07d,c-%07d,store-1,emp-%d,%s,%s\n", i, i, i%clients, opened, expires)
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	cf, tf := write("customers.csv", cb.String()), write("tickets.csv", tb.String())
	// One clerk per client, as at a real counter.
	var pb strings.Builder
	pb.WriteString("id,name,org,org_kind,role,site,region,token\n")
	for w := 0; w < clients; w++ {
		fmt.Fprintf(&pb, "emp-%d,Bench %d,dist-1,distributor,store_clerk,store-1,GD,%s-%04d\n", w, w, token, w)
	}
	pf := write("principals.csv", pb.String())
	// A benchmark reads like a harvester: keep the detectors running (their
	// cost is part of the path) but let them alert without containing.
	const cfgTail = "[quotas.store_clerk]\ncustomers_per_hour = 100000000\ncustomers_per_day = 100000000\n[detect]\ncontainment_disabled = true\n"
	files := []string{"--customers", cf, "--principals", pf, "--tickets", tf}

	// Baseline store: the same rows, plain.
	bdb := filepath.Join(dir, "bare.db")
	if err := makeBare(bdb, customers); err != nil {
		return err
	}
	baddr := freeAddr()
	self, _ := os.Executable()
	bare := exec.Command(self, "baseline", bdb, baddr)
	bare.Stderr = os.Stderr
	if err := bare.Start(); err != nil {
		return err
	}
	defer func() { bare.Process.Kill(); bare.Wait() }()
	if err := waitReady("http://" + baddr + "/healthz"); err != nil {
		return err
	}

	// The embedded gateway always; with -db, the gateways on PostgreSQL too,
	// so that both ratios come from one run.
	var targets []*target
	emb, err := startCustos(bin, dir, "embedded", "", 1, cfgTail, files)
	if emb != nil {
		defer emb.stop() // also the gateways started before an error
	}
	if err != nil {
		return err
	}
	targets = append(targets, emb)
	if dbURL != "" {
		pg, err := startCustos(bin, dir, "postgres", dbURL, gateways, cfgTail, files)
		if pg != nil {
			defer pg.stop()
		}
		if err != nil {
			return err
		}
		targets = append(targets, pg)
	}
	fmt.Printf("machine: %d cores (GOMAXPROCS %d), %s; %d customers (import %.0f rows/s), %d clients, %s per target in %d interleaved rounds\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), time.Now().UTC().Format("2006-01-02"), customers, float64(customers)/emb.importTook.Seconds(), clients, duration, rounds)
	// Each target is loaded for duration in all, in rounds slices taken
	// in turn, so that every target sees the machine as it is at the time.
	bareT := &target{name: "bare", bases: []string{"http://" + baddr}, pid: bare.Process.Pid}
	all := append([]*target{bareT}, targets...)
	runs := make([][]sample, len(all))
	for range rounds {
		for i, t := range all {
			var m0 map[string]float64
			if t.metrics != "" {
				m0 = scrape(t.metrics)
			}
			cpu0 := cpuSeconds(t.pid)
			r := load(t.bases, customers, clients, duration/time.Duration(rounds), t != bareT)
			r.cpu = cpuSeconds(t.pid) - cpu0
			if t.metrics != "" {
				t.m = add(t.m, diff(m0, scrape(t.metrics)))
			}
			runs[i] = append(runs[i], r)
		}
	}
	results := make([]result, len(all))
	for i, t := range all {
		results[i] = summarize(t.name, runs[i])
	}
	bareRes := results[0]
	fmt.Printf("%-9s %10s %10s %10s %8s %14s\n", "target", "reads/s", "p50", "p99", "errors", "server CPU/read")
	for _, r := range results {
		perRead := time.Duration(r.cpu / float64(r.reads) * 1e9)
		fmt.Printf("%-9s %10.0f %10s %10s %8d %14s\n", r.name, r.rps, r.p50, r.p99, r.errors, perRead.Round(time.Microsecond))
	}
	// Where a guarded read waits: the group commit that makes it durable.
	for _, t := range targets {
		if n := t.m["custos_audit_commit_batch_records_count"]; n > 0 {
			fmt.Printf("audit (%s, gateway 1): %.0f group commits, %.1f records each, commit %.2f ms (p99 <= %s), append wait %.2f ms (p99 <= %s) (means)\n",
				t.name, n, t.m["custos_audit_commit_batch_records_sum"]/n, t.m["custos_audit_commit_seconds_sum"]/n*1e3, bucketQuantile(t.m, "custos_audit_commit_seconds", 0.99),
				t.m["custos_audit_append_seconds_sum"]/t.m["custos_audit_append_seconds_count"]*1e3, bucketQuantile(t.m, "custos_audit_append_seconds", 0.99))
		}
	}
	fmt.Printf("ratio: custos at %.2fx the bare baseline's throughput; p99 %s (goal: >= 0.5x, p99 <= 5ms)\n", results[1].rps/bareRes.rps, results[1].p99)
	if len(results) > 2 {
		fmt.Printf("ratio: custos on PostgreSQL (%d gateway(s)) at %.2fx the embedded gateway; p99 %s (goal: >= 0.5x, p99 <= 20ms)\n",
			gateways, results[2].rps/results[1].rps, results[2].p99)
	}
	return nil
}

// target is one custos deployment under test: its gateways' addresses.
type target struct {
	name       string
	bases      []string
	pid        int    // the first gateway's process
	metrics    string // the first gateway's /metrics address
	importTook time.Duration
	m          map[string]float64 // metrics' change over the run
	stops      []func()
}

func (t *target) stop() {
	for _, f := range t.stops {
		f()
	}
}

// startCustos imports the world into a data dir of its own (and dbURL's
// database when set) and starts n gateways on it.
func startCustos(bin, dir, name, dbURL string, n int, cfgTail string, files []string) (*target, error) {
	t := &target{name: name, metrics: freeAddr()}
	// The first gateway serves /metrics on an address of its own.
	cfg, cfgN := filepath.Join(dir, name+".toml"), filepath.Join(dir, name+"-n.toml")
	if err := os.WriteFile(cfg, []byte(durabilityLine+"metrics_addr = \""+t.metrics+"\"\n"+cfgTail), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgN, []byte(durabilityLine+cfgTail), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, name)
	t0 := time.Now()
	iargs := append([]string{"import", "--data", data}, files...)
	if dbURL != "" {
		iargs = append(iargs, "--db", dbURL)
	}
	if out, err := exec.Command(bin, iargs...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("import (%s): %v\n%s", name, err, out)
	}
	t.importTook = time.Since(t0)
	for g := 0; g < n; g++ {
		gdata := data
		if g > 0 {
			// Another gateway: the same master key (the log's signing key
			// is in the database, wrapped by it), its own log materialised
			// from the shared sequence.
			gdata = fmt.Sprintf("%s-%d", data, g)
			os.MkdirAll(gdata, 0o700)
			b, err := os.ReadFile(filepath.Join(data, "master.key"))
			if err != nil {
				return t, fmt.Errorf("gateway %d: %w", g, err)
			}
			os.WriteFile(filepath.Join(gdata, "master.key"), b, 0o600)
		}
		caddr := freeAddr()
		sargs := []string{"serve", "--data", gdata, "--addr", caddr, "--log-level", "error", "--config", cfgN}
		if g == 0 {
			sargs[len(sargs)-1] = cfg
		}
		if dbURL != "" {
			sargs = append(sargs, "--db", dbURL)
		}
		if cpuProfile != "" && g == 0 {
			sargs = append(sargs, "--cpuprofile", cpuProfile+"."+name)
		}
		srv := exec.Command(bin, sargs...)
		srv.Stderr = os.Stderr
		if err := srv.Start(); err != nil {
			return t, err
		}
		t.stops = append(t.stops, func() { srv.Process.Signal(os.Interrupt); srv.Wait() })
		if g == 0 {
			t.pid = srv.Process.Pid
		}
		if err := waitReady("http://" + caddr + "/healthz"); err != nil {
			return t, err
		}
		t.bases = append(t.bases, "http://"+caddr)
	}
	return t, nil
}

func diff(m0, m1 map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range m1 {
		d[k] = v - m0[k]
	}
	return d
}

// add returns the sum of two metric changes.
func add(a, b map[string]float64) map[string]float64 {
	if a == nil {
		a = map[string]float64{}
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

// sample is one slice of load on one target.
type sample struct {
	lat     []time.Duration // of the successful reads
	elapsed time.Duration
	errors  int64
	cpu     float64 // server CPU seconds during the slice
}

type result struct {
	name     string
	reads    int
	rps      float64
	cpu      float64 // server CPU seconds during the run
	p50, p99 time.Duration
	errors   int64
}

// summarize joins a target's samples: reads/s over their time together,
// percentiles over all their reads.
func summarize(name string, ss []sample) result {
	r := result{name: name}
	var lat []time.Duration
	var el time.Duration
	for _, s := range ss {
		lat = append(lat, s.lat...)
		el += s.elapsed
		r.errors += s.errors
		r.cpu += s.cpu
	}
	slices.Sort(lat)
	r.reads = len(lat)
	r.rps = float64(len(lat)) / el.Seconds()
	if len(lat) > 0 {
		r.p50, r.p99 = lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond)
	}
	return r
}

func load(bases []string, customers, clients int, d time.Duration, guarded bool) sample {
	tr := &http.Transport{MaxIdleConnsPerHost: clients * 2, MaxConnsPerHost: clients * 2}
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			i := w * 7919
			base := bases[w%len(bases)]
			for time.Now().Before(deadline) {
				i = (i + 104729) % customers
				if guarded { // a customer whose ticket this clerk holds
					i = min(i-i%clients+w, customers-1-(customers-1-w)%clients)
				}
				id := fmt.Sprintf("c-%07d", i)
				var req *http.Request
				if guarded {
					req, _ = http.NewRequest("GET", base+"/v1/customers/"+id, nil)
					req.Header.Set("Authorization", fmt.Sprintf("Bearer %s-%04d", token, w))
					req.Header.Set("Custos-Purpose", fmt.Sprintf("ticket:T-%07d", i))
				} else {
					req, _ = http.NewRequest("GET", base+"/customers/"+id, nil)
				}
				t0 := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 && errs.Load() == 0 {
					fmt.Fprintf(os.Stderr, "body: %s\n", body)
				}
				if resp.StatusCode != 200 {
					if errs.Add(1) == 1 {
						fmt.Fprintf(os.Stderr, "first error: %s %s\n", resp.Status, id)
					}
					continue
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, local...)
			mu.Unlock()
		}(w)
	}
	wg.Wait()
	return sample{lat: lat, elapsed: time.Since(start), errors: errs.Load()}
}

// cpuSeconds is the CPU time (user and system) process pid has used.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis; utime and stime are
	// the 14th and 15th fields, in clock ticks (100 a second on Linux).
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100
}

// bucketQuantile returns the upper bound of the histogram bucket of metric
// (in seconds, as scraped and diffed) that holds its q-quantile.
func bucketQuantile(m map[string]float64, metric string, q float64) string {
	type bucket struct{ le, n float64 }
	var bs []bucket
	for k, v := range m {
		le, ok := strings.CutPrefix(k, metric+`_bucket{le="`)
		if !ok {
			continue
		}
		var b bucket
		if _, err := fmt.Sscan(strings.TrimSuffix(le, `"}`), &b.le); err == nil {
			b.n = v
			bs = append(bs, b)
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	total := m[metric+"_count"]
	for _, b := range bs {
		if total > 0 && b.n >= q*total {
			return time.Duration(b.le * float64(time.Second)).String()
		}
	}
	return "?"
}

// scrape reads the unlabelled samples of custos's /metrics at addr, and
// the buckets of its audit histograms (for bucketQuantile).
func scrape(addr string) map[string]float64 {
	m := map[string]float64{}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return m
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") || (strings.Contains(name, "{") && !strings.HasPrefix(name, "custos_audit_")) {
			continue
		}
		var v float64
		fmt.Sscan(val, &v)
		m[name] = v
	}
	return m
}

func makeBare(path string, customers int) error {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE customers (id TEXT PRIMARY KEY, name TEXT, phone TEXT, account TEXT, region TEXT, site TEXT)`); err != nil {
		return err
	}
	tx, _ := db.Begin()
	st, _ := tx.Prepare(`INSERT INTO customers VALUES (?,?,?,?,?,?)`)
	for i := 0; i < customers; i++ {
		st.Exec(fmt.Sprintf("c-%07d", i), fmt.Sprintf("Customer %d", i), fmt.Sprintf("+86138%08d", i), fmt.Sprintf("user%d@example.com", i), "GD", "store-1")
	}
	st.Close()
	return tx.Commit()
}

// baseline serves the same rows with no security at all.
func baseline(path, addr string) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=query_only(1)")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	db.SetMaxOpenConns(4)
	st, err := db.Prepare(`SELECT id, name, phone, account, region, site FROM customers WHERE id = ?`)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	mux.HandleFunc("GET /customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		var c struct{ ID, Name, Phone, Account, Region, Site string }
		if err := st.QueryRowContext(r.Context(), r.PathValue("id")).Scan(&c.ID, &c.Name, &c.Phone, &c.Account, &c.Region, &c.Site); err != nil {
			http.Error(w, "not found", 404)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(c)
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	http.Serve(ln, mux)
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitReady(url string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready", url)
}
