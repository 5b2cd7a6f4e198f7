package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
)

// openData opens the store and vault of data dir dir as the commands do;
// the store is closed when the test ends.
func openData(t *testing.T, dir string) (*sqlite.Store, *vault.Vault) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := openVault(ctx, &Env{Getenv: func(string) string { return "" }}, storeFlags{data: dir}, st)
	if err != nil {
		t.Fatal(err)
	}
	return st, v
}

// runCmd runs "custos ARGS" and returns exit code, stdout, stderr.
func runCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

// traceSecToken is the security analyst's API token in traceDataDir.
const traceSecToken = "sec-token-0123456789abcdef"

func traceCustomer(i int) string { return fmt.Sprintf("c-%07d", i) }
func tracePhone(i int) string    { return fmt.Sprintf("+86138%08d", i) }

// traceDataDir builds a data dir with 300 imported customers, principals,
// and an audit log of known accesses:
//   - emp-a (dist-1, store-1) read customers 1..100
//   - emp-b (dist-2, store-2) read 90..120
//   - emp-c was denied 150..160 (denials are not reads)
func traceDataDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var cb strings.Builder
	cb.WriteString("id,name,phone,account,region,site\n")
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&cb, "%s,Wang Wei%d,%s,wei.wang%d@example.com,GD,store-%d\n", traceCustomer(i), i%7, tracePhone(i), i, 1+i%2)
	}
	pb := "id,name,org,org_kind,role,site,region,token\n" +
		"emp-a,A,dist-1,distributor,store_clerk,store-1,GD,\n" +
		"emp-b,B,dist-2,distributor,store_clerk,store-2,GD,\n" +
		"emp-c,C,dist-2,distributor,store_clerk,store-2,GD,\n" +
		"sec,S,hq,company,security_analyst,,SH," + traceSecToken + "\n"
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if code, _, errS := runCmd(t, "import", "--data", dir, "--customers", write("customers.csv", cb.String()), "--principals", write("principals.csv", pb)); code != 0 {
		t.Fatalf("import: %s", errS)
	}
	var evs []event.Event
	for i := 1; i <= 100; i++ {
		evs = append(evs, traceRead("emp-a", "dist-1", i, event.Allow))
	}
	for i := 90; i <= 120; i++ {
		evs = append(evs, traceRead("emp-b", "dist-2", i, event.Allow))
	}
	for i := 150; i <= 160; i++ {
		evs = append(evs, traceRead("emp-c", "dist-2", i, event.Deny))
	}
	appendEvents(t, dir, evs)
	return dir
}

func traceRead(actor, org string, i int, decision string) event.Event {
	return event.Event{Time: time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC), Actor: actor, Org: org, Role: "store_clerk",
		Action: event.ActionRead, Customer: traceCustomer(i), CustomerRegion: "GD", Decision: decision,
		Purpose: "ticket:T-1", PurposeValid: decision == event.Allow}
}

// appendEvents appends evs to the audit log of data dir dir, as serve
// would, and returns the log's verifier key.
func appendEvents(t *testing.T, dir string, evs []event.Event) string {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if _, err := l.Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return l.VerifierKey()
}

// traceLeak writes a messy leak: phones of customers in ranges, in mixed
// forms, with duplicates, a BOM and CRLF, plus extra ids.
func traceLeak(t *testing.T, dir string, ids []string, ranges ...[2]int) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("\ufeff Phone , ID ,whatever\r\n")
	n := 0
	for _, r := range ranges {
		for i := r[0]; i <= r[1]; i++ {
			p := tracePhone(i)
			switch n % 3 {
			case 0:
				fmt.Fprintf(&b, "%s,,x\r\n", p[3:]) // national form
			case 1:
				fmt.Fprintf(&b, " %s , ,\r\n", p[1:]) // no '+'
			default:
				fmt.Fprintf(&b, "+86 %s-%s-%s,,\r\n", p[3:6], p[6:10], p[10:])
			}
			n++
		}
	}
	fmt.Fprintf(&b, "%s,,dup\r\n", tracePhone(ranges[0][0])) // a duplicate row
	for _, id := range ids {
		fmt.Fprintf(&b, ",%s,\r\n", id)
	}
	path := filepath.Join(dir, "leak.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTraceCommand is the done-criterion on a real SQLite store:
// trace names the person whose reads cover the leak, counts exactly the
// records nobody read, flags the seeded canaries, and agrees with the
// API's tracer; the snapshot cache follows new reads.
func TestTraceCommand(t *testing.T) {
	dir := traceDataDir(t)

	// Seed canaries and remember them.
	code, out, errS := runCmd(t, "canary", "seed", "--data", dir, "--per-org", "2", "--per-site", "1", "--list")
	if code != 0 {
		t.Fatalf("canary seed: %d %s", code, errS)
	}
	canaries := regexp.MustCompile(`(?m)^(\S+)\t(org|site):`).FindAllStringSubmatch(out, -1)
	// Partner orgs dist-1, dist-2 (hq is the company): 2 each; sites store-1, store-2: 1 each.
	if len(canaries) != 6 || !strings.Contains(out, "seeded 6 canary records: 4 in partner orgs, 2 at sites") {
		t.Fatalf("canary seed output:\n%s", out)
	}
	canary := canaries[0][1]

	// The leak: emp-a's 100 reads, 20 customers nobody read (201..220),
	// one canary by id, one unknown id.
	leak := traceLeak(t, dir, []string{canary, "c-nobody"}, [2]int{1, 100}, [2]int{201, 220})
	code, out, errS = runCmd(t, "trace", "--data", dir, "--leak", leak, "--json")
	if code != 0 {
		t.Fatalf("trace: %d %s", code, errS)
	}
	var rep trace.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("trace --json output: %v\n%s", err, out)
	}
	if rep.Rows != 123 || rep.Matched != 121 || rep.NeverAccessed != 21 || rep.Unresolved != 1 {
		t.Errorf("rows %d matched %d never %d unresolved %d; want 123, 121, 21, 1", rep.Rows, rep.Matched, rep.NeverAccessed, rep.Unresolved)
	}
	if len(rep.Canaries) != 1 || rep.Canaries[0] != canary {
		t.Errorf("canaries = %v, want [%s]", rep.Canaries, canary)
	}
	if len(rep.Suspects) != 2 {
		t.Fatalf("suspects = %+v", rep.Suspects)
	}
	if s := rep.Suspects[0]; s.Actor != "emp-a" || s.Org != "dist-1" || s.Records != 100 || s.Exclusive != 89 || s.Score < 0.8 {
		t.Errorf("top suspect = %+v, want emp-a with 100 records, 89 exclusive", s)
	}
	if s := rep.Suspects[1]; s.Actor != "emp-b" || s.Records != 11 || s.Exclusive != 0 {
		t.Errorf("second suspect = %+v, want emp-b with 11 records", s)
	}
	if len(rep.Orgs) != 2 || rep.Orgs[0].Org != "dist-1" || rep.Orgs[0].Records != 100 || rep.Orgs[0].Exclusive != 89 {
		t.Errorf("orgs = %+v", rep.Orgs)
	}
	if rep.Universe != 306 {
		t.Errorf("universe = %d, want 306 customers (300 + 6 canaries)", rep.Universe)
	}
	if _, err := os.Stat(datadir.Dir(dir).AccessSets()); err != nil {
		t.Errorf("no access-sets snapshot: %v", err)
	}

	// The API's tracer (httpapi.Tracer) gives the same report.
	ctx := context.Background()
	st, v := openData(t, dir)
	lt := trace.NewTracer(st, v, "")
	if err := lt.CatchUp(ctx, true); err != nil {
		t.Fatal(err)
	}
	csvBytes, _ := os.ReadFile(leak)
	apiRep, err := lt.TraceCSV(ctx, csvBytes)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var apiJSON bytes.Buffer
	if err := writeReportJSON(&apiJSON, apiRep); err != nil {
		t.Fatal(err)
	}
	if apiJSON.String() != out {
		t.Errorf("API tracer and CLI disagree:\nAPI %s\nCLI %s", apiJSON.String(), out)
	}

	// New reads after the snapshot: emp-b reads 1..100 too. The cached sets
	// catch up, so emp-a's reads are no longer exclusive.
	var evs []event.Event
	for i := 1; i <= 100; i++ {
		evs = append(evs, traceRead("emp-b", "dist-2", i, event.Allow))
	}
	appendEvents(t, dir, evs)
	code, out, errS = runCmd(t, "trace", "--data", dir, "--leak", leak)
	if code != 0 {
		t.Fatalf("trace: %d %s", code, errS)
	}
	for _, want := range []string{"121 distinct customers matched", "Never read through custos: 21 of the 121", canary, "emp-a (dist-1)", "emp-b (dist-2)", "exclusive 0"} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "exclusive 89") {
		t.Errorf("stale snapshot used:\n%s", out)
	}

	// A damaged snapshot is rebuilt from the audit log, same answer.
	if err := os.WriteFile(datadir.Dir(dir).AccessSets(), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, again, _ := runCmd(t, "trace", "--data", dir, "--leak", leak)
	if code != 0 || again != out {
		t.Errorf("after damage: code %d, report differs:\n%s", code, again)
	}
}

// TestTraceCommandUsage checks help and the one-line errors with exit 2.
func TestTraceCommandUsage(t *testing.T) {
	dir := t.TempDir()
	noCols := filepath.Join(dir, "nocols.csv")
	os.WriteFile(noCols, []byte("foo,bar\n1,2\n"), 0o600)
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o600)
	good := filepath.Join(dir, "good.csv")
	os.WriteFile(good, []byte("id\nc-1\n"), 0o600)
	// An empty store: customers imported, no principals.
	storeDir := filepath.Join(dir, "store")
	os.MkdirAll(storeDir, 0o700)
	cp := filepath.Join(dir, "c.csv")
	os.WriteFile(cp, []byte("id,name,phone,account,region,site\nc-1,A B,+8613800000001,a@b.c,GD,s-1\n"), 0o600)
	if code, _, errS := runCmd(t, "import", "--data", storeDir, "--customers", cp); code != 0 {
		t.Fatal(errS)
	}
	tests := []struct {
		name string
		args []string
		code int
		out  string
		err  string
	}{
		{"help", []string{"trace", "--help"}, 0, "Usage: custos trace", ""},
		{"no leak", []string{"trace", "--data", dir}, 2, "", "give the leaked list with --leak"},
		{"missing file", []string{"trace", "--data", dir, "--leak", filepath.Join(dir, "nope.csv")}, 2, "", "cannot read leak file"},
		{"no known column", []string{"trace", "--data", dir, "--leak", noCols}, 2, "", "names none of id, phone, account, name"},
		{"empty file", []string{"trace", "--data", dir, "--leak", empty}, 2, "", "leak file is empty"},
		{"bad flag", []string{"trace", "--nope"}, 2, "", "flag provided but not defined"},
		{"canary help", []string{"canary", "--help"}, 0, "Usage: custos canary seed", ""},
		{"canary seed help", []string{"canary", "seed", "--help"}, 0, "--per-org", ""},
		{"canary no sub", []string{"canary"}, 2, "", "Usage: custos canary"},
		{"canary bad sub", []string{"canary", "grow"}, 2, "", `unknown subcommand "grow"`},
		{"canary nothing", []string{"canary", "seed", "--data", dir, "--per-org", "0", "--per-site", "0"}, 2, "", "nothing to seed"},
		{"no store", []string{"trace", "--data", filepath.Join(dir, "nostore"), "--leak", noCols + "x"}, 2, "", "cannot read leak file"},
		{"no store, good leak", []string{"trace", "--data", filepath.Join(dir, "nostore"), "--leak", good}, 2, "", "no custos store in"},
		{"canary no store", []string{"canary", "seed", "--data", filepath.Join(dir, "nostore")}, 2, "", "no custos store in"},
		{"canary no principals", []string{"canary", "seed", "--data", storeDir}, 2, "", "import principals first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errS := runCmd(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errS, tt.err) {
				t.Errorf("code %d, stdout %q, stderr %q", code, out, errS)
			}
			if tt.code == 2 && strings.Count(strings.TrimSpace(errS), "\n") > 0 && !strings.Contains(errS, "Usage") {
				t.Errorf("more than one line on stderr: %q", errS)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "nostore")); err == nil {
		t.Error("a mistyped --data dir was created")
	}
}

// TestTraceAPIAgrees checks that POST /v1/trace on the running gateway
// answers exactly what "custos trace --json" prints, on the same store.
func TestTraceAPIAgrees(t *testing.T) {
	dir := traceDataDir(t)
	leak := traceLeak(t, dir, []string{"c-nobody"}, [2]int{1, 100}, [2]int{201, 220})
	code, out, errS := runCmd(t, "trace", "--data", dir, "--leak", leak, "--json")
	if code != 0 {
		t.Fatalf("trace: %s", errS)
	}
	var cli trace.Report
	if err := json.Unmarshal([]byte(out), &cli); err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	env := &Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard, Getenv: func(string) string { return "" }}
	a, err := startApp(ctx, env, serveFlags{storeFlags: storeFlags{data: dir}, addr: "127.0.0.1:0", logLevel: "error"}, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	body, _ := os.ReadFile(leak)
	req := httptest.NewRequest(http.MethodPost, "/v1/trace", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+traceSecToken)
	req.Header.Set("Content-Type", "text/csv")
	rec := httptest.NewRecorder()
	a.api.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /v1/trace: %d %s", rec.Code, rec.Body.String())
	}
	var api trace.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &api); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(api, cli) {
		t.Errorf("API and CLI disagree:\nAPI %+v\nCLI %+v", api, cli)
	}
	if api.Suspects[0].Actor != "emp-a" || api.NeverAccessed != 20 {
		t.Errorf("API report: %+v", api)
	}
}
