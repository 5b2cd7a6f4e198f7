// Command soak drives custos with a steady load for a long time and reports,
// every interval, what should stay flat: the server's resident memory,
// goroutines and open files, the latency of the reads (p50, p99) and the
// store's size on disk. A leak of memory, goroutines or file descriptors, or
// latency that creeps up as the store grows, shows as a trend in its table.
//
// It builds a world (customers, one ticket each, one clerk per client),
// imports it into a fresh data directory, starts "custos serve" (the real
// binary) and sends reads of random customers at a fixed rate (open loop:
// a slow server does not slow the offered load), each one by the clerk
// the customer's ticket is assigned to, the full guarded
// path with its durable audit append.
//
//	nice go run ./bench/soak                      # 30 minutes, a line a minute
//	nice go run ./bench/soak -duration 5m
//	nice go run ./bench/soak -duration 2m -interval 10s -rate 100
//
// Not for CI: it runs for as long as it is told.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	token        = "soak-token-0123456789abcdef"
	metricsToken = "soak-metrics-0123456789abcdef"
)

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 30*time.Minute, "how long to drive the load")
	flag.DurationVar(&o.interval, "interval", time.Minute, "how often to report")
	flag.IntVar(&o.rate, "rate", 200, "reads per second offered (open loop)")
	flag.IntVar(&o.clients, "clients", 8, "clerks sending the reads (one token each)")
	flag.IntVar(&o.customers, "customers", 5000, "customers in the world")
	flag.StringVar(&o.bin, "custos", "", "custos `binary` (default: build ./cmd/custos)")
	flag.StringVar(&o.db, "db", "", "PostgreSQL `url` of an empty database to run custos on instead of the embedded store")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type options struct {
	duration, interval       time.Duration
	rate, clients, customers int
	bin, db                  string
	keep                     bool
}

func run(ctx context.Context, o options) error {
	dir, err := os.MkdirTemp("", "custos-soak-")
	if err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(dir)
	}
	if o.bin == "" {
		o.bin = filepath.Join(dir, "custos")
		if out, err := exec.Command("go", "build", "-o", o.bin, "./cmd/custos").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	var cb, tb, pb strings.Builder
	cb.WriteString("id,name,phone,account,region,site\n")
	tb.WriteString("id,customer,site,opened_by,opened_at,assignee,closed_at,expires_at\n")
	pb.WriteString("id,name,org,org_kind,role,site,region,token\n")
	for i := range o.customers {
		fmt.Fprintf(&cb, "c-%07d,Customer %d,+86138%08d,user%d@example.com,GD,store-1\n", i, i, i, i)
		// Each ticket is assigned to the clerk who reads its customer.
		fmt.Fprintf(&tb, "T-%07d,c-%07d,store-1,crm,2026-01-01T00:00:00Z,emp-%d,,2099-01-01T00:00:00Z\n", i, i, i%o.clients)
	}
	for w := range o.clients {
		fmt.Fprintf(&pb, "emp-%d,Soak %d,dist-1,distributor,store_clerk,store-1,GD,%s-%04d\n", w, w, token, w)
	}
	cf, tf, pf := write("customers.csv", cb.String()), write("tickets.csv", tb.String()), write("principals.csv", pb.String())
	cfg := write("custos.toml", "[quotas.store_clerk]\ncustomers_per_hour = 100000000\ncustomers_per_day = 100000000\n[detect]\ncontainment_disabled = true\n")
	data := filepath.Join(dir, "data")
	iargs := []string{"import", "--data", data, "--customers", cf, "--principals", pf, "--tickets", tf}
	if o.db != "" {
		iargs = append(iargs, "--db", o.db)
	}
	if out, err := exec.Command(o.bin, iargs...).CombinedOutput(); err != nil {
		return fmt.Errorf("import: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return err
	}
	sargs := []string{"serve", "--data", data, "--addr", addr, "--config", cfg, "--log-level", "error"}
	if o.db != "" {
		sargs = append(sargs, "--db", o.db)
	}
	srv := exec.Command(o.bin, sargs...)
	srv.Env = append(os.Environ(), "CUSTOS_METRICS_TOKEN="+metricsToken)
	srv.Stderr = os.Stderr
	if err := srv.Start(); err != nil {
		return err
	}
	defer func() { srv.Process.Signal(syscall.SIGTERM); srv.Wait() }()
	base := "http://" + addr
	if err := waitReady(base + "/healthz"); err != nil {
		return err
	}
	fmt.Printf("soak: custos pid %d on %s; %d customers; %d reads/s offered by %d clients for %s; %d cores, %s; store %s\n",
		srv.Process.Pid, addr, o.customers, o.rate, o.clients, o.duration, runtime.NumCPU(),
		time.Now().UTC().Format("2006-01-02 15:04 MST"), storeName(o.db))
	fmt.Printf("%8s %8s %6s %9s %9s %8s %8s %6s %6s %10s %10s\n",
		"elapsed", "reads", "errors", "p50", "p99", "rss_MiB", "heap_MiB", "gorout", "fds", "store_MiB", "audit_recs")

	s := &sampler{}
	ctx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	var wg sync.WaitGroup
	tick := time.NewTicker(time.Second / time.Duration(max(o.rate, 1)))
	defer tick.Stop()
	work := make(chan int, o.rate) // a backlog of at most a second
	tr := &http.Transport{MaxIdleConnsPerHost: o.clients * 4, MaxConnsPerHost: o.clients * 4}
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	for range o.clients * 4 { // enough senders that a slow answer does not hold the rate back
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				s.do(hc, base, fmt.Sprintf("%s-%04d", token, c%o.clients), c)
			}
		}()
	}
	start := time.Now()
	// Reports come from their own goroutine, so that sampling the server
	// (a walk of the data directory, /metrics) never delays the load.
	reported := make(chan struct{})
	go func() {
		defer close(reported)
		report := time.NewTicker(o.interval)
		defer report.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-report.C:
				s.report(base, srv.Process.Pid, data, time.Since(start))
			}
		}
	}()
	// Each tick offers every read due by now: a tick the runtime skipped
	// (a starved machine) does not lower the offered rate.
	dropped, offered := 0, 0
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case now := <-tick.C:
			for due := int(now.Sub(start).Seconds() * float64(o.rate)); offered < due; offered++ {
				select {
				case work <- rand.IntN(o.customers):
				default:
					dropped++ // the server is more than a second behind
				}
			}
		}
	}
	close(work)
	wg.Wait()
	<-reported
	s.report(base, srv.Process.Pid, data, time.Since(start))
	fmt.Printf("soak: done after %s; %d reads, %d errors, %d not sent (backlog full)\n",
		time.Since(start).Round(time.Second), s.total, s.totalErr, dropped)
	return nil
}

func storeName(db string) string {
	if db == "" {
		return "embedded"
	}
	return "postgres"
}

// sampler collects one interval's latencies and errors.
type sampler struct {
	mu              sync.Mutex
	lat             []time.Duration
	errs            int
	total, totalErr int
	firstErr        atomic.Bool
}

func (s *sampler) do(hc *http.Client, base, clerk string, c int) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/v1/customers/c-%07d", base, c), nil)
	req.Header.Set("Authorization", "Bearer "+clerk)
	req.Header.Set("Custos-Purpose", fmt.Sprintf("ticket:T-%07d", c))
	t0 := time.Now()
	resp, err := hc.Do(req)
	ok := err == nil && resp.StatusCode == http.StatusOK
	if err == nil {
		if !ok && s.firstErr.CompareAndSwap(false, true) {
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
			fmt.Fprintf(os.Stderr, "soak: first failed read: %d %s\n", resp.StatusCode, b)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	} else if s.firstErr.CompareAndSwap(false, true) {
		fmt.Fprintf(os.Stderr, "soak: first failed read: %v\n", err)
	}
	d := time.Since(t0)
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.total++
	if !ok {
		s.errs++
		s.totalErr++
	}
	s.mu.Unlock()
}

func (s *sampler) report(base string, pid int, data string, elapsed time.Duration) {
	s.mu.Lock()
	lat, errs := s.lat, s.errs
	s.lat, s.errs = nil, 0
	s.mu.Unlock()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	m := metrics(base)
	fmt.Printf("%8s %8d %6d %9s %9s %8.1f %8.1f %6.0f %6d %10.1f %10.0f\n",
		elapsed.Round(time.Second), len(lat), errs, pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond),
		float64(rss(pid))/(1<<20), m["go_memstats_heap_inuse_bytes"]/(1<<20), m["go_goroutines"], fds(pid),
		float64(dirSize(data))/(1<<20), m["custos_audit_store_size"])
}

// rss returns the process's resident set size in bytes (Linux).
func rss(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// fds returns how many files the process has open (Linux).
func fds(pid int) int {
	es, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es)
}

// dirSize returns the bytes of the files under dir (the store, its WAL,
// the tiled log).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// metrics reads the unlabelled samples of the server's /metrics.
func metrics(base string) map[string]float64 {
	out := map[string]float64{}
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.Contains(line, "{") {
			continue
		}
		name, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			out[name] = f
		}
	}
	return out
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func waitReady(url string) error {
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return fmt.Errorf("custos not ready at %s", url)
}
