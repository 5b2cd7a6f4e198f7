// Many gateways on one PostgreSQL database acting as one (issue: scale
// out): two "custos serve" processes share the database; tickets, quotas,
// suspensions and the audit log behave as if there were one.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/internal/pgtest"
)

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTwoGatewaysOnPostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	var cb strings.Builder
	cb.WriteString("id,name,phone,account,region,site\n")
	for i := 0; i < 24; i++ {
		fmt.Fprintf(&cb, "c-%04d,Customer %d,+86139%08d,c%d@example.com,GD,store-1\n", i, i, i, i)
	}
	cf := et.WriteFile(t, dir, "customers.csv", cb.String())
	pf := et.WriteFile(t, dir, "principals.csv", et.PrincipalsCSV)
	cfg := et.WriteFile(t, dir, "custos.toml", "[quotas.store_clerk]\ncustomers_per_hour = 6\ncustomers_per_day = 100\n[detect]\ncontainment_disabled = true\n")
	dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	if out, errOut, code := et.Run(t, "", "import", "--db", db, "--data", dataA, "--customers", cf, "--principals", pf); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
	a := et.Start(t, dataA, "--db", db, "--config", cfg)
	// Every gateway holds the same master key (as deployment would put
	// it); the log key is in the database, wrapped by it: B materialises
	// the same log from the same sequence.
	copyFile(t, filepath.Join(dataA, "master.key"), filepath.Join(dataB, "master.key"))
	b := et.Start(t, dataB, "--db", db, "--config", cfg)

	// A ticket opened on A works on B.
	tid := openTicket(t, a, et.TokClerk1, "c-0000")
	if r := b.Do(t, et.Req{Path: "/v1/customers/c-0000", Token: et.TokClerk1, Purpose: "ticket:" + tid}); r.Status != 200 {
		t.Fatalf("read on B under A's ticket: %d %s", r.Status, r.Body)
	}

	// Quotas hold across both gateways under concurrency: 6 distinct
	// customers an hour, one already read. The CRM opens the tickets (a
	// clerk's own tickets would spend the quota themselves).
	tickets := make([]string, 24)
	for i := 1; i < 24; i++ {
		r := b.Do(t, et.Req{Path: "/v1/tickets", Token: et.TokIntegrator, Body: map[string]string{
			"customer": fmt.Sprintf("c-%04d", i), "site": "store-1", "assignee": "emp-1"}})
		if r.Status != 201 {
			t.Fatalf("CRM ticket %d: %d %s", i, r.Status, r.Body)
		}
		tickets[i] = r.JSON(t)["id"].(string)
	}
	var mu sync.Mutex
	allowed, refused := 0, 0
	var audited []uint64
	var wg sync.WaitGroup
	for i := 1; i < 24; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			s := a
			if i%2 == 0 {
				s = b
			}
			r := s.Do(t, et.Req{Path: fmt.Sprintf("/v1/customers/c-%04d", i), Token: et.TokClerk1, Purpose: "ticket:" + tickets[i]})
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case 200:
				allowed++
			case 429:
				refused++
			default:
				t.Errorf("read c-%04d: %d %s", i, r.Status, r.Body)
			}
			if n, err := strconv.ParseUint(r.Header.Get("Custos-Audit-Index"), 10, 64); err == nil {
				audited = append(audited, n)
			}
		}(i)
	}
	wg.Wait()
	if allowed != 5 || refused != 18 {
		t.Errorf("quota across gateways: %d allowed, %d refused; want 5 and 18", allowed, refused)
	}
	seen := map[uint64]bool{}
	for _, n := range audited {
		if seen[n] {
			t.Errorf("audit index %d given twice", n)
		}
		seen[n] = true
	}

	// A suspension on A is enforced on B within a second.
	if r := a.Do(t, et.Req{Path: "/v1/principals/emp-1/suspend", Token: et.TokSecurity, Body: `{"reason":"test"}`}); r.Status != 200 {
		t.Fatalf("suspend on A: %d %s", r.Status, r.Body)
	}
	start := time.Now()
	for {
		r := b.Do(t, et.Req{Path: "/v1/customers/c-0000", Token: et.TokClerk1, Purpose: "ticket:" + tid})
		if r.Status == 423 {
			break
		}
		if time.Since(start) > time.Second {
			t.Fatalf("suspension not enforced on B after %v: %d", time.Since(start), r.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("suspension enforced on B after %v", time.Since(start).Round(time.Millisecond))

	// One log: both gateways publish the same tree.
	size := func(s *et.Server) string {
		r := s.Do(t, et.Req{Path: "/log/checkpoint"})
		lines := strings.Split(string(r.Body), "\n")
		if len(lines) < 3 {
			return ""
		}
		return lines[1] + " " + lines[2]
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ca, cb := size(a), size(b)
		if ca != "" && ca == cb {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateways publish different trees: A %q, B %q", ca, cb)
		}
		time.Sleep(200 * time.Millisecond)
	}
	a.Stop(t)
	b.Stop(t)
	for _, d := range []string{dataA, dataB} {
		if out, errOut, code := et.Run(t, "", "audit", "verify", "--db", db, "--data", d); code != 0 {
			t.Errorf("audit verify (%s): exit %d\n%s%s", filepath.Base(d), code, out, errOut)
		}
	}
}
