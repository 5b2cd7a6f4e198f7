// Fault tests (issue 22): a database outage or a full disk gets honest
// 503s and a health check that says so, and custos recovers by itself.
//
// Each test runs the built binary under load from 8 clients, breaks the
// store from outside, and checks what a client and a load balancer see:
// only 200 or 503 "unavailable" (JSON, with Retry-After) — a 500 fails the
// test —, /healthz 503 during the fault and 200 after, reads served again
// without a restart, every acknowledged read in the audit store, and
// "custos audit verify" passing afterwards.
//
// They need root (a tmpfs mount; a PostgreSQL cluster of their own made
// with pg_createcluster): CI runs as root and there they must not skip;
// elsewhere they skip with a message.
package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// requireRoot skips the test unless it runs as root; under CI=true (where
// the tests run as root) it fails instead, so a fault test never silently
// stops running.
func requireRoot(t *testing.T, what string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s needs root, and CI runs the fault tests as root", what)
	}
	t.Skipf("skipping: %s needs root (run the fault tests as root, as CI does)", what)
}

// faultLoad is steady read traffic from several clients, recording what
// each answer was.
type faultLoad struct {
	base      string
	tickets   map[string]string
	customers []string

	mu       sync.Mutex
	acks     []ack
	statuses map[int]int
	bad      []string // answers a client must never get
	n503     int

	stop chan struct{}
	wg   sync.WaitGroup
}

// startLoad starts clients reading customers under their tickets.
func startLoad(t *testing.T, base string, tickets map[string]string, clients int) *faultLoad {
	l := &faultLoad{base: base, tickets: tickets, statuses: map[int]int{}, stop: make(chan struct{})}
	for c := range tickets {
		l.customers = append(l.customers, c)
	}
	sort.Strings(l.customers)
	for g := range clients {
		l.wg.Add(1)
		go l.client(g)
	}
	t.Cleanup(func() {
		if t.Failed() {
			l.mu.Lock()
			t.Logf("load at failure: answers by status %v; first problems %q", l.statuses, l.bad)
			l.mu.Unlock()
		}
	})
	return l
}

func (l *faultLoad) client(g int) {
	defer l.wg.Done()
	hc := &http.Client{Timeout: 20 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-l.stop:
			return
		default:
		}
		c := l.customers[(g+i)%len(l.customers)]
		req, _ := http.NewRequest("GET", l.base+"/v1/customers/"+c, nil)
		req.Header.Set("Authorization", "Bearer "+et.TokClerk1)
		req.Header.Set("Custos-Purpose", "ticket:"+l.tickets[c])
		resp, err := hc.Do(req)
		if err != nil {
			l.record(0, fmt.Sprintf("request failed: %v", err), ack{})
			time.Sleep(50 * time.Millisecond)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			idx, err := strconv.ParseUint(resp.Header.Get("Custos-Audit-Index"), 10, 64)
			if err != nil {
				l.record(200, "200 without a valid Custos-Audit-Index", ack{})
				continue
			}
			l.record(200, "", ack{idx, c})
		case http.StatusServiceUnavailable:
			l.record(503, check503(resp.Header, body), ack{})
			time.Sleep(20 * time.Millisecond) // a polite client backs off a little
		default:
			l.record(resp.StatusCode, fmt.Sprintf("status %d: %s", resp.StatusCode, truncateBody(body)), ack{})
		}
	}
}

// check503 returns what is wrong with a 503 answer, or "".
func check503(h http.Header, body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		return fmt.Sprintf("503 body is not JSON: %s", truncateBody(body))
	}
	if e.Error.Code != "unavailable" || e.Error.Message == "" {
		return fmt.Sprintf("503 with error %+v, want code unavailable and a message", e.Error)
	}
	if n, err := strconv.Atoi(h.Get("Retry-After")); err != nil || n <= 0 {
		return fmt.Sprintf("503 with Retry-After %q, want a positive number of seconds", h.Get("Retry-After"))
	}
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Sprintf("503 with Content-Type %q", ct)
	}
	return ""
}

func truncateBody(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

func (l *faultLoad) record(status int, problem string, a ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.statuses[status]++
	if status == 503 {
		l.n503++
	}
	if problem != "" && len(l.bad) < 20 {
		l.bad = append(l.bad, problem)
	}
	if a.customer != "" {
		l.acks = append(l.acks, a)
	}
}

// counts returns the acknowledged reads and the 503s so far.
func (l *faultLoad) counts() (acks, unavailable int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks), l.n503
}

// finish stops the clients and fails the test on any answer other than
// 200 or a well-formed 503 (a 500 above all). It returns the
// acknowledged reads.
func (l *faultLoad) finish(t *testing.T) []ack {
	t.Helper()
	close(l.stop)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("answers by status: %v", l.statuses)
	for _, b := range l.bad {
		t.Errorf("client got: %s", b)
	}
	seen := map[uint64]bool{}
	for _, a := range l.acks {
		if seen[a.index] {
			t.Errorf("audit index %d acknowledged twice", a.index)
		}
		seen[a.index] = true
	}
	return l.acks
}

// waitHealthy waits until /healthz answers 200 (when: after what).
func waitHealthy(t *testing.T, s *et.Server, when string) {
	t.Helper()
	waitUntil(t, 30*time.Second, "/healthz 200 "+when, func() bool {
		code, _ := health(s.URL)
		return code == http.StatusOK
	})
}

// waitAcks waits until more reads than now are acknowledged, and returns
// how many were before.
func (l *faultLoad) waitAcks(t *testing.T, more int, what string) (before int) {
	t.Helper()
	before, _ = l.counts()
	waitUntil(t, 30*time.Second, what, func() bool {
		n, _ := l.counts()
		return n >= before+more
	})
	return before
}

// finishAlive is finish, failing the test if custos exited during what.
func (l *faultLoad) finishAlive(t *testing.T, s *et.Server, what string) []ack {
	t.Helper()
	acks := l.finish(t)
	if exited, code := s.Exited(); exited {
		t.Fatalf("custos exited (code %d) during %s:\n%s", code, what, s.Stderr())
	}
	return acks
}

// waitUntil polls cond every 50 ms until it holds, failing the test after
// limit with what was awaited.
func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, limit)
		}
	}
}

// health returns /healthz's status and body.
func health(base string) (int, string) {
	hc := &http.Client{Timeout: 10 * time.Second}
	resp, err := hc.Get(base + "/healthz")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// checkUnhealthy checks a 503 /healthz body: it says why.
func checkUnhealthy(t *testing.T, body string) {
	t.Helper()
	var h struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
		Error  struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("/healthz 503 body is not JSON: %s", body)
	}
	if h.Status != "unavailable" || h.Reason == "" || h.Error.Code != "unavailable" {
		t.Errorf("/healthz 503 body %s: want status unavailable, a reason and error code unavailable", body)
	}
}

// openTickets opens one ticket per customer for clerk 1.
func openTickets(t *testing.T, s *et.Server, customers ...string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, c := range customers {
		m[c] = openTicket(t, s, et.TokClerk1, c)
	}
	return m
}

// checkAcks checks that every acknowledged read is the allowed read of
// that customer by emp-1 at that index; events returns the store's events
// by index.
func checkAcks(t *testing.T, acks []ack, events map[uint64][]byte) {
	t.Helper()
	missing := 0
	for _, a := range acks {
		b, ok := events[a.index]
		if !ok {
			missing++
			if missing <= 5 {
				t.Errorf("acknowledged read (audit index %d) is not in the audit store", a.index)
			}
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatalf("audit record %d: %v", a.index, err)
		}
		if ev["action"] != "customer.read" || ev["decision"] != "allow" || ev["customer"] != a.customer || ev["actor"] != "emp-1" {
			t.Errorf("audit entry %d is %v, want the allowed read of %s by emp-1", a.index, ev, a.customer)
		}
	}
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged reads not in the log", missing, len(acks))
	}
}

// TestFaultDiskFull puts the embedded store's data directory on a small
// tmpfs, fills it under load, and frees it again. While the disk is full a
// read cannot be audited, so it must be refused with 503 (never answered,
// never a 500), and /healthz must say so; once there is room again custos
// must serve without a restart, and the log must hold every read it
// acknowledged and verify.
func TestFaultDiskFull(t *testing.T) {
	requireRoot(t, "filling a tmpfs")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v: %s", err, out)
	}
	// Registered first, so it runs last: after the server has stopped.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	f := et.NewFixture(t)
	data := filepath.Join(mnt, "data")
	if out, err := exec.Command("cp", "-a", f.Data, data).CombinedOutput(); err != nil {
		t.Fatalf("copy data dir: %v: %s", err, out)
	}
	s := et.Start(t, data)
	tickets := openTickets(t, s, "c-0001", "c-0003")

	load := startLoad(t, s.URL, tickets, 8)
	waitUntil(t, 30*time.Second, "reads acknowledged before the fault", func() bool { n, _ := load.counts(); return n >= 50 })

	// Fill the disk: big writes, then small ones for the last pages.
	filler := filepath.Join(mnt, "filler")
	fill := func() {
		fh, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			t.Fatalf("filler: %v", err)
		}
		defer fh.Close()
		for _, size := range []int{1 << 20, 4096, 512} {
			buf := make([]byte, size)
			for {
				if _, err := fh.Write(buf); err != nil {
					if !errors.Is(err, syscall.ENOSPC) {
						t.Fatalf("filler: %v", err)
					}
					break
				}
			}
		}
	}
	fill()
	ackedAtFill, _ := load.counts()
	// The store needs room for every commit it makes: keep the disk full
	// (space the server frees, e.g. by a WAL checkpoint, is taken again)
	// until clients are refused and the health check fails.
	var body string
	waitUntil(t, 40*time.Second, "503s to clients and /healthz 503 on a full disk", func() bool {
		fill()
		_, n503 := load.counts()
		var code int
		code, body = health(s.URL)
		return n503 >= 10 && code == http.StatusServiceUnavailable
	})
	checkUnhealthy(t, body)
	ackedFull, n503 := load.counts()
	t.Logf("disk full: %d reads acknowledged before filling, %d by the time of 503s; %d refused with 503; /healthz: %s",
		ackedAtFill, ackedFull, n503, strings.TrimSpace(body))

	// Free the disk: custos recovers by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitHealthy(t, s, "after freeing the disk")
	load.waitAcks(t, 50, "reads acknowledged again after freeing the disk")
	acks := load.finishAlive(t, s, "the fault")

	s.Stop(t)
	events := sqliteEvents(t, data)
	checkAcks(t, acks, events)
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", data); code != 0 {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
	t.Logf("%d acknowledged reads, all in the log; audit verify passes", len(acks))
}

// sqliteEvents reads every audit record's event from the embedded store.
func sqliteEvents(t *testing.T, data string) map[uint64][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "custos.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT idx, event FROM audit ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return scanEvents(t, rows)
}

type eventRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanEvents collects (idx, event) rows, checking the indexes run 0..n-1
// without a gap.
func scanEvents(t *testing.T, rows eventRows) map[uint64][]byte {
	t.Helper()
	out := map[uint64][]byte{}
	var want int64
	for rows.Next() {
		var idx int64
		var ev []byte
		if err := rows.Scan(&idx, &ev); err != nil {
			t.Fatal(err)
		}
		if idx != want {
			t.Fatalf("audit indexes not gap-free: %d follows %d", idx, want-1)
		}
		want++
		out[uint64(idx)] = ev
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pgCluster is a PostgreSQL cluster of the test's own, on a free port,
// made with pg_createcluster and dropped at cleanup: the shared server on
// 5432, which other tests use at the same time, is never touched.
type pgCluster struct {
	version, name string
	port          int
}

func (c pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func (c pgCluster) ctl(t *testing.T, action string, args ...string) {
	t.Helper()
	out, err := exec.Command("pg_ctlcluster", append([]string{c.version, c.name, action}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_ctlcluster %s %s %s: %v: %s", c.version, c.name, action, err, out)
	}
}

// newPGCluster creates and starts a cluster with trust authentication on
// a free loopback port.
func newPGCluster(t *testing.T) pgCluster {
	t.Helper()
	if _, err := exec.LookPath("pg_createcluster"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pg_createcluster not found (postgresql-common), and CI must run this test")
		}
		t.Skip("skipping: pg_createcluster not found (install postgresql-common and a server)")
	}
	vs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/postgres")
	if len(vs) == 0 {
		t.Fatal("no PostgreSQL server under /usr/lib/postgresql")
	}
	sort.Strings(vs)
	version := filepath.Base(filepath.Dir(filepath.Dir(vs[len(vs)-1])))
	return createCluster(t, version, "custos-fault", "--start")
}

// createCluster runs pg_createcluster (with opts, such as --start) for a
// cluster named prefix-<port> on a free loopback port, with trust
// authentication; the cluster is stopped and dropped at cleanup.
func createCluster(t *testing.T, version, prefix string, opts ...string) pgCluster {
	t.Helper()
	_, p, _ := net.SplitHostPort(et.FreeAddr(t))
	port, _ := strconv.Atoi(p)
	c := pgCluster{version: version, name: fmt.Sprintf("%s-%d", prefix, port), port: port}
	args := append([]string{version, c.name, "-p", p}, opts...)
	out, err := exec.Command("pg_createcluster", append(args, "--", "--auth-local=trust", "--auth-host=trust")...).CombinedOutput()
	t.Cleanup(func() {
		if out, err := exec.Command("pg_dropcluster", "--stop", c.version, c.name).CombinedOutput(); err != nil {
			t.Errorf("pg_dropcluster %s: %v: %s", c.name, err, out)
		}
	})
	if err != nil {
		t.Fatalf("pg_createcluster %s: %v: %s", c.name, err, out)
	}
	return c
}

// TestFaultPostgresRestart runs custos on a PostgreSQL cluster of its own
// and, under load, restarts it (pg_ctlcluster restart -m fast), then stops
// it for a while and starts it again. Clients must get only 200s and 503s,
// /healthz must be 503 while the database is down and 200 once it is back,
// custos must serve again without a restart, every acknowledged read must
// be in the audit table, and audit verify must pass.
func TestFaultPostgresRestart(t *testing.T) {
	requireRoot(t, "a PostgreSQL cluster of the test's own")
	pg := newPGCluster(t)
	db := pg.url()

	data := filepath.Join(t.TempDir(), "pgdata")
	importPostgres(t, db, data)
	s := et.Start(t, data, "--db", db)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("custos stderr:\n%s", tail(s.Stderr(), 4000))
		}
	})
	tickets := openTickets(t, s, "c-0001", "c-0003")
	load := startLoad(t, s.URL, tickets, 8)
	waitUntil(t, 30*time.Second, "reads acknowledged before the restart", func() bool { n, _ := load.counts(); return n >= 50 })

	// 1. A fast restart under load, as an operator would do it.
	pg.ctl(t, "restart", "-m", "fast")
	before := load.waitAcks(t, 50, "reads acknowledged after the restart")
	_, n503 := load.counts()
	t.Logf("restart: %d reads acknowledged before, %d refused with 503 so far", before, n503)

	// 2. Down for a while: refused honestly, and the health check says so.
	pg.ctl(t, "stop", "-m", "fast")
	_, n503 = load.counts()
	var body string
	waitUntil(t, 30*time.Second, "503s to clients and /healthz 503 with the database down", func() bool {
		_, n := load.counts()
		var code int
		code, body = health(s.URL)
		return n >= n503+10 && code == http.StatusServiceUnavailable
	})
	checkUnhealthy(t, body)
	t.Logf("database down: /healthz %s", strings.TrimSpace(body))

	pg.ctl(t, "start")
	waitHealthy(t, s, "after the database is back")
	load.waitAcks(t, 50, "reads acknowledged again after the database is back")
	acks := load.finishAlive(t, s, "the fault")
	s.Stop(t)

	checkPostgresLog(t, db, db, data, acks)
	t.Logf("%d acknowledged reads, all in the log; audit verify passes", len(acks))
}

// checkPostgresLog checks that every acknowledged read is in the audit
// table read from readURL, and that audit verify passes on db.
func checkPostgresLog(t *testing.T, readURL, db, data string, acks []ack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, readURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT idx, event FROM audit ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	events := scanEvents(t, rows)
	rows.Close()
	checkAcks(t, acks, events)
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--db", db, "--data", data); code != 0 {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
}

// psql runs one SQL command on the cluster as the postgres superuser.
func (c pgCluster) psql(t *testing.T, sql string) string {
	t.Helper()
	out, err := exec.Command("psql", "-X", "-At", "-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", "postgres", "-c", sql).CombinedOutput()
	if err != nil {
		t.Fatalf("psql -p %d %q: %v: %s", c.port, sql, err, out)
	}
	return strings.TrimSpace(string(out))
}

// newStandby makes a streaming standby of primary: a cluster created with
// pg_createcluster whose data directory is replaced by a pg_basebackup of
// the primary (-R: standby.signal and primary_conninfo), then started.
// The primary is told to replicate to it synchronously, so that a commit
// is acknowledged only once the standby has it.
func newStandby(t *testing.T, primary pgCluster) pgCluster {
	t.Helper()
	sb := createCluster(t, primary.version, "custos-standby")
	// Replication connections from loopback, without a password.
	hba := fmt.Sprintf("/etc/postgresql/%s/%s/pg_hba.conf", primary.version, primary.name)
	fh, err := os.OpenFile(hba, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(fh, "host replication all 127.0.0.1/32 trust")
	fh.Close()
	primary.ctl(t, "reload")
	// pg_basebackup wants the directory empty (it stays the postgres
	// user's, mode 0700).
	data := fmt.Sprintf("/var/lib/postgresql/%s/%s", sb.version, sb.name)
	entries, err := os.ReadDir(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(data, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	conninfo := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres application_name=custos_standby", primary.port)
	out, err := exec.Command("runuser", "-u", "postgres", "--", "pg_basebackup", "-d", conninfo,
		"-D", data, "-R", "-X", "stream", "-c", "fast").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_basebackup: %v: %s", err, out)
	}
	sb.ctl(t, "start")
	primary.psql(t, "ALTER SYSTEM SET synchronous_standby_names = 'custos_standby'")
	primary.psql(t, "SELECT pg_reload_conf()")
	waitUntil(t, 30*time.Second, "the standby streaming synchronously", func() bool {
		return primary.psql(t, "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'custos_standby'") == "sync"
	})
	return sb
}

// TestFaultPostgresFailover runs custos on a primary with a synchronous
// streaming standby, given both in a multi-host URL with
// target_session_attrs=read-write. Under load the primary crashes (stop
// -m immediate) and the standby is promoted: clients get only 200s and
// 503s, /healthz is 503 until the promotion and 200 after, custos writes
// to the new primary without a restart, every read acknowledged before
// and after the promotion is in the new primary's audit table, and audit
// verify passes against it.
func TestFaultPostgresFailover(t *testing.T) {
	requireRoot(t, "PostgreSQL clusters of the test's own")
	primary := newPGCluster(t)
	standby := newStandby(t, primary)
	db := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&target_session_attrs=read-write",
		primary.port, standby.port)

	data := filepath.Join(t.TempDir(), "pgdata")
	importPostgres(t, db, data)
	s := et.Start(t, data, "--db", db)
	tickets := openTickets(t, s, "c-0001", "c-0003")
	load := startLoad(t, s.URL, tickets, 8)
	waitUntil(t, 30*time.Second, "reads acknowledged before the failover", func() bool { n, _ := load.counts(); return n >= 200 })

	// The primary crashes; until the standby is promoted nothing can be
	// audited.
	crash := time.Now()
	primary.ctl(t, "stop", "-m", "immediate")
	ackedAtCrash, n503 := load.counts()
	var body string
	waitUntil(t, 30*time.Second, "503s and /healthz 503 with the primary down", func() bool {
		_, n := load.counts()
		var code int
		code, body = health(s.URL)
		return n > n503 && code == http.StatusServiceUnavailable
	})
	checkUnhealthy(t, body)
	promote := time.Now()
	standby.ctl(t, "promote")
	waitHealthy(t, s, "on the promoted standby")
	healthy := time.Now()
	load.waitAcks(t, 200, "reads acknowledged on the new primary")
	acks := load.finishAlive(t, s, "the failover")
	t.Logf("failover: %d reads acknowledged before the crash; primary down %v before the promotion; /healthz 200 %v after it",
		ackedAtCrash, promote.Sub(crash).Round(time.Millisecond), healthy.Sub(promote).Round(time.Millisecond))
	s.Stop(t)

	checkPostgresLog(t, standby.url(), db, data, acks)
	t.Logf("%d acknowledged reads, all on the promoted standby; audit verify passes", len(acks))
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
