// Crash tests (issue 10): kill -9 under load loses no acknowledged access,
// and a crash in the middle of an import leaves the old data as it was.
package e2e

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// ack is one 200 answer a client received: the audit index it named.
type ack struct {
	index    uint64
	customer string
}

// TestCrashUnderLoadLosesNoAcknowledgedAccess runs 8 clients reading
// customers under tickets, kills the server with SIGKILL in the middle, and
// restarts it on the same data directory. Every 200 a client got names its
// audit entry (Custos-Audit-Index); each of those entries must be in the
// store after the restart, record exactly that allowed read, be served to
// the auditor with its inclusion proof, and "custos audit verify" must pass.
func TestCrashUnderLoadLosesNoAcknowledgedAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 under load: not in -short")
	}
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tickets := map[string]string{
		"c-0001": openTicket(t, s, et.TokClerk1, "c-0001"),
		"c-0003": openTicket(t, s, et.TokClerk1, "c-0003"),
	}
	customers := []string{"c-0001", "c-0003"}

	var (
		mu   sync.Mutex
		acks []ack
		errs int
	)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			hc := &http.Client{Timeout: 5 * time.Second}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := customers[(g+i)%len(customers)]
				req, _ := http.NewRequest("GET", s.URL+"/v1/customers/"+c, nil)
				req.Header.Set("Authorization", "Bearer "+et.TokClerk1)
				req.Header.Set("Custos-Purpose", "ticket:"+tickets[c])
				resp, err := hc.Do(req)
				if err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
					return // the server is gone
				}
				resp.Body.Close()
				if resp.StatusCode != 200 {
					continue
				}
				idx, err := strconv.ParseUint(resp.Header.Get("Custos-Audit-Index"), 10, 64)
				if err != nil {
					t.Errorf("200 without a valid Custos-Audit-Index: %q", resp.Header.Get("Custos-Audit-Index"))
					continue
				}
				mu.Lock()
				acks = append(acks, ack{idx, c})
				mu.Unlock()
			}
		}(g)
	}
	time.Sleep(3 * time.Second)
	s.Kill() // SIGKILL mid-load: clients are still sending
	close(stop)
	wg.Wait()
	if len(acks) < 50 {
		t.Fatalf("only %d acknowledged reads before the kill; the load did not run", len(acks))
	}
	t.Logf("%d reads acknowledged before SIGKILL, %d requests cut", len(acks), errs)

	// Straight after the crash, before any restart: every acknowledged
	// access is already committed in the store.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.Data, "custos.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	for _, a := range acks {
		var ev []byte
		if err := db.QueryRow(`SELECT event FROM audit WHERE idx = ?`, int64(a.index)).Scan(&ev); err != nil {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged read (audit index %d) not in the store after kill -9: %v", a.index, err)
			}
		}
	}
	db.Close()
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged reads lost", missing, len(acks))
	}

	// Restart on the same data: the log integrates what was committed.
	s2 := et.Start(t, f.Data)
	seen := map[uint64]bool{}
	for _, a := range acks {
		if seen[a.index] {
			t.Errorf("audit index %d acknowledged twice", a.index)
		}
		seen[a.index] = true
		ev := auditEvent(t, f.Data, a.index)
		if ev["action"] != "customer.read" || ev["decision"] != "allow" || ev["customer"] != a.customer || ev["actor"] != "emp-1" {
			t.Fatalf("audit entry %d is %v, want the allowed read of %s by emp-1", a.index, ev, a.customer)
		}
	}
	// The auditor gets the last acknowledged entry with its proof once a
	// checkpoint covers it.
	last := acks[0].index
	for _, a := range acks {
		last = max(last, a.index)
	}
	var r et.Response
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		r = s2.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries/%d", last), Token: et.TokAuditor})
		if r.Status == 200 {
			break
		}
	}
	if r.Status != 200 {
		t.Fatalf("auditor reading entry %d after restart: %d %s", last, r.Status, r.Body)
	}
	m := r.JSON(t)
	if ev, _ := m["event"].(map[string]any); ev == nil || ev["decision"] != "allow" {
		t.Errorf("entry %d: %v", last, m)
	}
	if proof, _ := m["proof"].([]any); len(proof) == 0 && last > 0 {
		t.Errorf("entry %d has no inclusion proof: %v", last, m)
	}
	s2.Stop(t)
	out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data)
	if code != 0 {
		t.Fatalf("audit verify after kill -9 and restart: exit %d\n%s%s", code, out, errOut)
	}
}

// TestCrashDuringImportKeepsOldData: an import is one transaction. A
// SIGKILL while it writes leaves the store exactly as before: the same
// customer count, and an existing customer's row (which the big file would
// replace) byte for byte unchanged. The server then starts on it.
func TestCrashDuringImportKeepsOldData(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 during a large import: not in -short")
	}
	f := et.NewFixture(t)
	dbPath := filepath.Join(f.Data, "custos.db")
	before := customerSnapshot(t, dbPath)
	if before.count != 3 {
		t.Fatalf("fixture has %d customers", before.count)
	}

	// A large customers file; its first row replaces c-0001.
	big := filepath.Join(f.Dir, "big.csv")
	fh, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	fmt.Fprintln(w, "id,name,phone,account,region,site")
	fmt.Fprintln(w, "c-0001,Replaced Name,+8613800138999,replaced@example.com,GD,store-1")
	const n = 400000
	for i := 0; i < n; i++ {
		fmt.Fprintf(w, "b-%07d,Bulk Customer %d,+86139%08d,bulk%d@example.com,GD,store-1\n", i, i, i, i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	fh.Close()

	cmd := exec.Command(et.Binary(t), "import", "--data", f.Data, "--customers", big)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	// Kill once the transaction is writing: the write-ahead log grows
	// past its size before the import started.
	wal := dbPath + "-wal"
	base := fileSize(wal)
	killed := false
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
poll:
	for {
		select {
		case err := <-done:
			t.Fatalf("import finished (%v) before it could be killed; make the file larger", err)
		case <-ctx.Done():
			cmd.Process.Kill()
			t.Fatal("import did not start writing within 60s")
		case <-time.After(2 * time.Millisecond):
		}
		if fileSize(wal) > base+(1<<20) {
			cmd.Process.Kill()
			killed = true
			break poll
		}
	}
	<-done
	if !killed {
		t.Fatal("not killed")
	}
	t.Logf("killed the import with the WAL at %d bytes (was %d)", fileSize(wal), base)

	after := customerSnapshot(t, dbPath)
	if after.count != before.count {
		t.Fatalf("after a crashed import the store has %d customers, want the old %d", after.count, before.count)
	}
	if after.c1 != before.c1 {
		t.Fatalf("customer c-0001's row changed by a crashed import")
	}
	// The store is usable: the server starts and serves the old data.
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != "Li Wei" {
		t.Fatalf("read after crashed import: %d %s", r.Status, r.Body)
	}
}

type snapshot struct {
	count int
	c1    string
}

// customerSnapshot opens the store read-only (running recovery as SQLite
// does) and returns the customer count and c-0001's raw row.
func customerSnapshot(t *testing.T, path string) snapshot {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s snapshot
	if err := db.QueryRow(`SELECT count(*) FROM customers`).Scan(&s.count); err != nil {
		t.Fatal(err)
	}
	var name, phone, account, pidx []byte
	if err := db.QueryRow(`SELECT name, phone, account, phone_idx FROM customers WHERE id = 'c-0001'`).Scan(&name, &phone, &account, &pidx); err != nil {
		t.Fatal(err)
	}
	s.c1 = fmt.Sprintf("%x|%x|%x|%x", name, phone, account, pidx)
	return s
}

func fileSize(p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		return 0
	}
	return st.Size()
}
