// End-to-end tests of data coming in at the brand's scale (issue 21): the
// CRM's PUT /v1/customers/{id}, a streaming import that is all or nothing,
// and incremental files (custos import --upsert) applied to a live
// deployment. Each runs the real binary. Sizes stay small: the large
// imports live in bench/import.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/internal/pgtest"
)

// The CRM's new values for c-0001, and a new customer. None of them may
// reach the database file in the clear.
const (
	newName    = "Ouyang Xiaoming"
	newPhone   = "+8613512345678"
	newAccount = "ouyang.xiaoming@crm.example"
	oldPhone   = "+8613800138000" // c-0001's phone in the fixture
)

// TestImportCustomerPut drives PUT /v1/customers/{id} as the CRM would:
// it creates and replaces records that a clerk then reads and finds by the
// new phone, the write is audited without personal data, bad bodies and
// other roles change nothing, and a leak of the replaced phone still traces
// to the customer.
func TestImportCustomerPut(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	put := func(token, id string, body any) et.Response {
		return s.Do(t, et.Req{Method: "PUT", Path: "/v1/customers/" + id, Token: token, Body: body})
	}
	body := map[string]string{"name": newName, "phone": newPhone, "account": newAccount, "region": "GD", "site": "store-1"}

	// Created: 201.
	r := put(et.TokIntegrator, "c-0100", map[string]string{"name": "Qian Yi", "phone": "+8613611112222",
		"account": "qianyi@crm.example", "region": "sh", "site": "store-2"})
	if r.Status != 201 || r.JSON(t)["created"] != true || r.JSON(t)["id"] != "c-0100" {
		t.Fatalf("PUT new customer: %d %s; want 201 created", r.Status, r.Body)
	}
	// Replaced: 200, audited as customer.write with no personal data.
	r = put(et.TokIntegrator, "c-0001", body)
	if r.Status != 200 || r.JSON(t)["created"] != false {
		t.Fatalf("PUT existing customer: %d %s; want 200 replaced", r.Status, r.Body)
	}
	ev := auditEvent(t, f.Data, auditIndex(t, r))
	if ev["action"] != "customer.write" || ev["decision"] != "allow" || ev["customer"] != "c-0001" || ev["actor"] != "crm-1" {
		t.Errorf("audit event of the write: %v", ev)
	}
	raw, _ := json.Marshal(ev)
	for _, v := range []string{newName, newPhone, "13512345678", newAccount} {
		if bytes.Contains(raw, []byte(v)) {
			t.Errorf("audit event holds personal value %q: %s", v, raw)
		}
	}

	// A clerk reads the new record under a ticket and finds it by the
	// new phone; the old phone finds nothing.
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	r = s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != newName || !strings.HasSuffix(fmt.Sprint(r.JSON(t)["phone"]), "5678") {
		t.Errorf("clerk reads the replaced record: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + tk, Body: map[string]string{"phone": "135 1234 5678"}})
	if r.Status != 200 || r.JSON(t)["id"] != "c-0001" {
		t.Errorf("clerk searches by the new phone: %d %s; want c-0001", r.Status, r.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + tk, Body: map[string]string{"phone": oldPhone}})
	if r.Status == 200 {
		t.Errorf("search by the replaced phone still finds a record: %s", r.Body)
	}

	// Bad bodies: the contract's JSON 400, and nothing changes.
	for name, b := range map[string]any{
		"not JSON":      "{name:",
		"unknown field": `{"name":"A","phone":"+8613512345678","account":"a@b.c","region":"GD","ssn":"1"}`,
		"no name":       map[string]string{"phone": "+8613700000000", "account": "x@y.z", "region": "GD"},
		"bad phone":     map[string]string{"name": "X", "phone": "call me", "account": "x@y.z", "region": "GD"},
		"no account":    map[string]string{"name": "X", "phone": "+8613700000000", "region": "GD"},
		"bad site":      map[string]string{"name": "X", "phone": "+8613700000000", "account": "x@y.z", "region": "GD", "site": "a b"},
	} {
		r := put(et.TokIntegrator, "c-0001", b)
		if r.Status != 400 || r.ErrorCode() != "invalid_request" {
			t.Errorf("%s: %d %s; want 400 invalid_request", name, r.Status, r.Body)
		}
	}
	if r := put(et.TokIntegrator, "c%2A", body); r.Status != 400 {
		t.Errorf("PUT to a wildcard id: %d; want 400", r.Status)
	}
	// Other roles: 403, audited, nothing changes.
	for _, tok := range []string{et.TokClerk1, et.TokManager1, et.TokSecurity, et.TokPrivacy} {
		r := put(tok, "c-0001", map[string]string{"name": "Mallory", "phone": "+8613999999999", "account": "m@evil.example", "region": "GD"})
		if r.Status != 403 || r.ErrorCode() != "forbidden" {
			t.Errorf("PUT by a non-integration role: %d %s; want 403 forbidden", r.Status, r.Body)
		}
		if ev := auditEvent(t, f.Data, auditIndex(t, r)); ev["action"] != "customer.write" || ev["decision"] != "deny" {
			t.Errorf("refused write audited as %v", ev)
		}
	}
	r = s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != newName {
		t.Errorf("after refused writes the record is %d %s; want it unchanged", r.Status, r.Body)
	}

	// A leak of the replaced phone still traces to c-0001.
	r = s.Do(t, et.Req{Path: "/v1/trace", Token: et.TokSecurity, Body: "phone\n" + oldPhone + "\n", Header: map[string]string{"Content-Type": "text/csv"}})
	if r.Status != 200 || r.JSON(t)["matched"] != float64(1) {
		t.Errorf("trace of the replaced phone: %d %s; want 1 matched", r.Status, r.Body)
	}

	// The database holds none of the new values in the clear (the
	// server is stopped so that everything is in the files).
	s.Stop(t)
	noPlaintext(t, f.Data, newName, newPhone, "13512345678", newAccount, "Qian Yi", "qianyi@crm.example", "13611112222")
}

// noPlaintext fails if any file of the store in data holds one of values.
func noPlaintext(t *testing.T, data string, values ...string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(data, "custos.db*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range values {
			if bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds %q in plain text", filepath.Base(p), v)
			}
		}
	}
}

// customersDump returns every row of the customers table, in id order, as
// stored (sealed).
func customersDump(t *testing.T, data string) string {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "custos.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT id, region, site, hex(name), hex(phone), hex(account),
		hex(phone_idx), hex(account_idx), hex(name_idx), canary, scope FROM customers ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var c [11]string
		if err := rows.Scan(&c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6], &c[7], &c[8], &c[9], &c[10]); err != nil {
			t.Fatal(err)
		}
		b.WriteString(strings.Join(c[:], "|") + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestImportBadFileChangesNothing: a bad row names the file and its line,
// and the customers already stored stay exactly as they were — whether the
// import would have replaced them (staged) or gone into an empty store.
func TestImportBadFileChangesNothing(t *testing.T) {
	f := et.NewFixture(t)
	before := customersDump(t, f.Data)
	header := "id,name,phone,account,region,site\n"
	good := "c-0001,Changed Name,+8613512345678,changed@example.com,GD,store-1\nc-0200,New One,+8613612345678,new1@example.com,GD,\n"
	for _, tc := range []struct {
		name, csv string
		line      int
		want      string
	}{
		{"bad phone", header + good + "c-0201,Bad Phone,12,bad@example.com,GD,\n", 4, "phone"},
		{"duplicate id", header + good + "c-0202,A,+8613712345678,a@example.com,GD,\nc-0200,B,+8613712345679,b@example.com,GD,\n", 5, "duplicate id (first on line 3)"},
		{"bad quote", header + good + "c-0203,\"Open,+8613712345678,a@example.com,GD,\n", 4, "bad row"},
		{"wrong header", "id,name,phone\n" + good, 1, "header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := et.WriteFile(t, f.Dir, "bad.csv", tc.csv)
			for _, data := range []string{f.Data, filepath.Join(t.TempDir(), "fresh")} {
				out, errOut, code := et.Run(t, "", "import", "--data", data, "--customers", p)
				want := fmt.Sprintf("%s line %d:", p, tc.line)
				if code != 2 || !strings.Contains(errOut, want) || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "nothing was loaded") {
					t.Errorf("import into %s: exit %d\n%s%s\nwant exit 2 naming %q and %q", filepath.Base(data), code, out, errOut, want, tc.want)
				}
			}
			if after := customersDump(t, f.Data); after != before {
				t.Errorf("a failed import changed the customers:\nbefore\n%safter\n%s", before, after)
			}
		})
	}
	// A good file then loads, and a fresh store gets exactly its rows.
	p := et.WriteFile(t, f.Dir, "good.csv", header+good)
	fresh := filepath.Join(t.TempDir(), "fresh")
	for _, data := range []string{f.Data, fresh} {
		if out, errOut, code := et.Run(t, "", "import", "--data", data, "--customers", p); code != 0 || !strings.Contains(out, "imported 2 customers") {
			t.Fatalf("good import: exit %d %s%s", code, out, errOut)
		}
	}
	if n := strings.Count(customersDump(t, f.Data), "\n"); n != 4 {
		t.Errorf("after the good import the fixture has %d customers, want 4", n)
	}
	if d := customersDump(t, fresh); strings.Count(d, "\n") != 2 || !strings.HasPrefix(d, "c-0001|GD|store-1|") {
		t.Errorf("fresh store after the good import:\n%s", d)
	}
	noPlaintext(t, f.Data, "Changed Name", "changed@example.com", "13512345678")
}

// TestImportUpsert applies a file of new and changed customers to a live
// deployment with custos import --upsert while custos serve runs on the
// same data dir: the server serves the new values (its caches follow),
// a bad file changes nothing, and the replaced phone still traces.
func TestImportUpsert(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	read := func() et.Response {
		return s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	}
	if r := read(); r.Status != 200 || r.JSON(t)["name"] != "Li Wei" {
		t.Fatalf("read before: %d %s", r.Status, r.Body)
	}
	before := customersDump(t, f.Data)

	bad := et.WriteFile(t, f.Dir, "bad.csv", "id,name,phone,account,region,site\n"+
		"c-0001,"+newName+","+newPhone+","+newAccount+",GD,store-1\nc-0300,X,not-a-phone,x@example.com,GD,\n")
	if _, errOut, code := et.Run(t, "", "import", "--data", f.Data, "--upsert", "--customers", bad); code != 2 || !strings.Contains(errOut, "line 3") {
		t.Errorf("bad upsert: exit %d %s; want 2 naming line 3", code, errOut)
	}
	if customersDump(t, f.Data) != before {
		t.Error("a failed upsert changed the customers")
	}

	changes := et.WriteFile(t, f.Dir, "changes.csv", "id,name,phone,account,region,site\n"+
		"c-0001,"+newName+","+newPhone+","+newAccount+",GD,store-1\n"+
		"c-0300,Sun Li,+8613711223344,sunli@example.com,GD,store-1\n")
	out, errOut, code := et.Run(t, "", "import", "--data", f.Data, "--upsert", "--customers", changes)
	if code != 0 || !strings.Contains(out, "applied 2 customers (1 new, 1 replaced)") {
		t.Fatalf("upsert: exit %d\n%s%s", code, out, errOut)
	}
	// The server drops its cached rows when another process commits
	// (checked every 200 ms): wait for the new name, within reason.
	var r et.Response
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if r = read(); r.Status == 200 && r.JSON(t)["name"] == newName {
			break
		}
	}
	if r.Status != 200 || r.JSON(t)["name"] != newName {
		t.Errorf("server after the upsert: %d %s; want the new name", r.Status, r.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + tk, Body: map[string]string{"phone": newPhone}})
	if r.Status != 200 || r.JSON(t)["id"] != "c-0001" {
		t.Errorf("search by the new phone: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/trace", Token: et.TokSecurity, Body: "phone\n" + oldPhone + "\n", Header: map[string]string{"Content-Type": "text/csv"}})
	if r.Status != 200 || r.JSON(t)["matched"] != float64(1) {
		t.Errorf("trace of the replaced phone: %d %s; want 1 matched", r.Status, r.Body)
	}
	s.Stop(t)
	noPlaintext(t, f.Data, newName, newPhone, newAccount, "Sun Li", "sunli@example.com")
}

// TestImportOnPostgres runs the CRM's writes and the imports on
// PostgreSQL, with two gateways on one database: a PUT on one gateway is
// what a clerk reads and finds on the other, an --upsert reaches both, a
// bad file changes nothing, and the replaced phone still traces.
func TestImportOnPostgres(t *testing.T) {
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	importPostgres(t, db, dataA)
	a := et.Start(t, dataA, "--db", db)
	copyFile(t, filepath.Join(dataA, "master.key"), filepath.Join(dataB, "master.key"))
	b := et.Start(t, dataB, "--db", db)

	conn, err := pgx.Connect(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	dump := func() string {
		var s string
		if err := conn.QueryRow(t.Context(), `SELECT coalesce(string_agg(t::text, E'\n' ORDER BY id), '') FROM customers t`).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}

	r := a.Do(t, et.Req{Method: "PUT", Path: "/v1/customers/c-0001", Token: et.TokIntegrator,
		Body: map[string]string{"name": newName, "phone": newPhone, "account": newAccount, "region": "GD", "site": "store-1"}})
	if r.Status != 200 {
		t.Fatalf("PUT on A: %d %s", r.Status, r.Body)
	}
	if r := a.Do(t, et.Req{Method: "PUT", Path: "/v1/customers/c-0001", Token: et.TokIntegrator, Body: `{"name":""}`}); r.Status != 400 || r.ErrorCode() != "invalid_request" {
		t.Errorf("bad body: %d %s", r.Status, r.Body)
	}
	if r := b.Do(t, et.Req{Method: "PUT", Path: "/v1/customers/c-0001", Token: et.TokClerk1,
		Body: map[string]string{"name": "M", "phone": "+8613999999999", "account": "m@x.y", "region": "GD"}}); r.Status != 403 {
		t.Errorf("PUT by a clerk: %d %s", r.Status, r.Body)
	}
	tk := openTicket(t, b, et.TokClerk1, "c-0001")
	r = b.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != newName {
		t.Errorf("read on B after the PUT on A: %d %s", r.Status, r.Body)
	}
	r = b.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + tk, Body: map[string]string{"phone": newPhone}})
	if r.Status != 200 || r.JSON(t)["id"] != "c-0001" {
		t.Errorf("search on B by the new phone: %d %s", r.Status, r.Body)
	}

	before := dump()
	bad := et.WriteFile(t, dir, "bad.csv", "id,name,phone,account,region,site\nc-0003,X,+8613712345678,x@example.com,GD,\nc-0003,Y,+8613712345679,y@example.com,GD,\n")
	for _, upsert := range []string{"--customers", "--upsert"} {
		args := []string{"import", "--db", db, "--data", dataA, "--customers", bad}
		if upsert == "--upsert" {
			args = append(args, "--upsert")
		}
		if _, errOut, code := et.Run(t, "", args...); code != 2 || !strings.Contains(errOut, "line 3: bad row: duplicate id (first on line 2)") {
			t.Errorf("import %s of a bad file: exit %d %s", upsert, code, errOut)
		}
	}
	if dump() != before {
		t.Error("a failed import changed the customers")
	}

	changes := et.WriteFile(t, dir, "changes.csv", "id,name,phone,account,region,site\nc-0003,Wang Fang,+8613711112222,wangfang@example.org,GD,store-1\nc-0400,Zhou Yu,+8613722223333,zhouyu@example.org,GD,store-1\n")
	if out, errOut, code := et.Run(t, "", "import", "--db", db, "--data", dataA, "--upsert", "--customers", changes); code != 0 || !strings.Contains(out, "(1 new, 1 replaced)") {
		t.Fatalf("upsert: exit %d %s%s", code, out, errOut)
	}
	tk3 := openTicket(t, a, et.TokClerk1, "c-0003")
	r = a.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + tk3, Body: map[string]string{"phone": "+8613711112222"}})
	if r.Status != 200 || r.JSON(t)["id"] != "c-0003" {
		t.Errorf("search on A by the upserted phone: %d %s", r.Status, r.Body)
	}
	for _, old := range []string{oldPhone, "+8613700137000"} { // c-0001's and c-0003's replaced phones
		r = b.Do(t, et.Req{Path: "/v1/trace", Token: et.TokSecurity, Body: "phone\n" + old + "\n", Header: map[string]string{"Content-Type": "text/csv"}})
		if r.Status != 200 || r.JSON(t)["matched"] != float64(1) {
			t.Errorf("trace of replaced phone %s: %d %s; want 1 matched", old, r.Status, r.Body)
		}
	}
	var leaks int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM customers
		WHERE position(convert_to($1, 'UTF8') in coalesce(name, '') || coalesce(phone, '') || coalesce(account, '')) > 0
		OR position($1 in id || region || site) > 0`, newName).Scan(&leaks); err != nil || leaks != 0 {
		t.Errorf("%d rows hold the new name in the clear (%v)", leaks, err)
	}
}
