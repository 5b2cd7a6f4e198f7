// End-to-end tests of the customers' rights (issue 20): incidents that
// tell every affected customer once, and erasure, through the built binary.
package e2e

import (
	"bufio"
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

	et "github.com/custos-dev/custos/internal/e2etest"
)

// waitNotified waits until incident id has told n customers.
func waitNotified(t *testing.T, s *et.Server, id string, n int) {
	t.Helper()
	waitUntil(t, 15*time.Second, fmt.Sprintf("incident %s: %d customers told", id, n), func() bool {
		inc := s.Do(t, et.Req{Method: "GET", Path: "/v1/incidents/" + id, Token: et.TokPrivacy}).JSON(t)
		return inc["notified"] == float64(n)
	})
}

// outboxCount counts the messages to phone whose text holds substr.
func outboxCount(t *testing.T, data, phone, substr string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(data, "outbox.jsonl"))
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m struct{ To, Text string }
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.To == phone && strings.Contains(m.Text, substr) {
			n++
		}
	}
	return n
}

func TestIncidentTellsEveryCustomerOnce(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	const notice = "A list with your name and phone number was found on a forum."
	body := map[string]any{"title": "forum list", "found_at": time.Now().Add(time.Minute).UTC().Format(time.RFC3339), "fields": []string{"name", "phone"},
		"leak": "phone,name\n+8613800138000,Li Wei\n+8613700137000,Wang Fang\n", "notice": notice}
	if r := s.Do(t, et.Req{Path: "/v1/incidents", Token: et.TokClerk1, Body: body}); r.Status != 403 {
		t.Errorf("a clerk recorded an incident: %d", r.Status)
	}
	r := s.Do(t, et.Req{Path: "/v1/incidents", Token: et.TokSecurity, Body: body})
	if r.Status != 201 || r.JSON(t)["customers"] != float64(2) {
		t.Fatalf("incident: %d %s", r.Status, r.Body)
	}
	id := fmt.Sprint(r.JSON(t)["id"])
	if r := s.Do(t, et.Req{Path: "/v1/incidents", Token: et.TokPrivacy, Body: body}); r.Status != 200 || fmt.Sprint(r.JSON(t)["id"]) != id {
		t.Errorf("the same list again: %d %s; want 200 and the same incident", r.Status, r.Body)
	}
	nobody := map[string]any{"title": "x", "found_at": time.Now().UTC().Format(time.RFC3339), "fields": []string{"phone"},
		"leak": "phone\n+8613011112222\n", "notice": "n"}
	for _, bad := range []any{nobody, map[string]any{"title": "x"}, "{"} {
		if r := s.Do(t, et.Req{Path: "/v1/incidents", Token: et.TokSecurity, Body: bad}); r.Status != 400 || r.ErrorCode() != "invalid_request" {
			t.Errorf("incident %v: %d %s; want 400", bad, r.Status, r.Body)
		}
	}
	if list := s.Do(t, et.Req{Method: "GET", Path: "/v1/incidents", Token: et.TokSecurity}).JSON(t)["incidents"].([]any); len(list) != 1 {
		t.Fatalf("incidents after refused lists: %d; want 1", len(list))
	}

	// Both customers are told, once; a restart tells nobody again.
	waitNotified(t, s, id, 2)
	s.Stop(t)
	s = et.Start(t, f.Data)
	defer s.Stop(t)
	time.Sleep(time.Second)
	for _, phone := range []string{"+8613800138000", "+8613700137000"} {
		if n := outboxCount(t, f.Data, phone, "found on a forum"); n != 1 {
			t.Errorf("%s was told %d times; want once", phone, n)
		}
	}
	if n := outboxCount(t, f.Data, "+8613900139000", "found on a forum"); n != 0 {
		t.Errorf("a customer not in the list was told")
	}

	// The regulator's report: counts by region and field, sources, notices.
	rep := s.Do(t, et.Req{Method: "GET", Path: "/v1/incidents/" + id + "/report", Token: et.TokPrivacy})
	var rj struct {
		ByRegion    map[string]int `json:"by_region"`
		ByField     map[string]int `json:"by_field"`
		Orgs        []struct{ Org string }
		NoticesSent int `json:"notices_sent"`
		Timeline    []struct{ What string }
	}
	if err := json.Unmarshal(rep.Body, &rj); err != nil || rep.Status != 200 {
		t.Fatalf("report: %d %s", rep.Status, rep.Body)
	}
	if rj.ByRegion["GD"] != 2 || rj.ByField["phone"] != 2 || rj.NoticesSent != 2 || len(rj.Orgs) != 1 || rj.Orgs[0].Org != "dist-1" || len(rj.Timeline) < 3 {
		t.Errorf("report: %s", rep.Body)
	}
	html := s.Do(t, et.Req{Method: "GET", Path: "/v1/incidents/" + id + "/report?format=html", Token: et.TokPrivacy})
	if html.Status != 200 || !strings.HasPrefix(html.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(html.Body), "forum list") {
		t.Errorf("printable report: %d %s", html.Status, html.Header.Get("Content-Type"))
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/incidents/" + id + "/report", Token: et.TokClerk1}); r.Status != 403 {
		t.Errorf("a clerk read the report: %d", r.Status)
	}

	// The customer's own view: which companies and sites had read the
	// record before, never a person.
	login := s.Do(t, et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": "+8613800138000"}})
	conf := s.Do(t, et.Req{Path: "/v1/subjects/login/" + login.JSON(t)["id"].(string) + "/confirm",
		Body: map[string]string{"code": outboxCode(t, f.Data, "+8613800138000")}})
	own := conf.JSON(t)["token"].(string)
	mine := s.Do(t, et.Req{Method: "GET", Path: "/v1/subjects/c-0001/incidents", Token: own})
	if mine.Status != 200 || strings.Contains(string(mine.Body), "emp-") {
		t.Fatalf("own incidents: %d %s", mine.Status, mine.Body)
	}
	var v struct {
		Incidents []struct {
			Title  string
			Fields []string
			ReadBy []struct{ Org, Role, Site string } `json:"read_by"`
		}
	}
	json.Unmarshal(mine.Body, &v)
	if len(v.Incidents) != 1 || len(v.Incidents[0].ReadBy) != 1 || v.Incidents[0].ReadBy[0].Org != "dist-1" ||
		v.Incidents[0].ReadBy[0].Site != "store-1" || v.Incidents[0].ReadBy[0].Role != "store_clerk" {
		t.Errorf("own incidents: %s", mine.Body)
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/subjects/c-0003/incidents", Token: own}); r.Status != 403 {
		t.Errorf("another customer's incidents: %d", r.Status)
	}
	// c-0003 was never read through custos: the evidence the leak came another way.
	other := s.Do(t, et.Req{Method: "GET", Path: "/v1/subjects/c-0003/incidents", Token: et.TokPrivacy})
	if !strings.Contains(string(other.Body), `"read_by":[]`) {
		t.Errorf("c-0003 never read, yet: %s", other.Body)
	}
}

func TestErasure(t *testing.T) {
	f := et.NewFixture(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.Data, "custos.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	// What the erasure must leave nowhere in the files: the customer's
	// sealed fields and the record key that opens them.
	var name, phone, account, key []byte
	if err := db.QueryRowContext(context.Background(), `SELECT name, phone, account, k.wrapped FROM customers c
		JOIN customer_keys k ON k.customer = c.id WHERE c.id = 'c-0002'`).Scan(&name, &phone, &account, &key); err != nil ||
		len(name) < 16 || len(key) != 60 {
		t.Fatalf("sealed fields and record key: %v (key %d bytes)", err, len(key))
	}
	db.Close()
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk2, "c-0002")
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tk})

	// The customer asks from their own page; the privacy officer sees it.
	login := s.Do(t, et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": "+8613900139000"}})
	own := s.Do(t, et.Req{Path: "/v1/subjects/login/" + login.JSON(t)["id"].(string) + "/confirm",
		Body: map[string]string{"code": outboxCode(t, f.Data, "+8613900139000")}}).JSON(t)["token"].(string)
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0001/erasure-request", Token: own, Body: "{}"}); r.Status != 403 {
		t.Errorf("a customer asked to erase another: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erasure-request", Token: own, Body: "{}"}); r.Status != 202 {
		t.Fatalf("erasure request: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/erasure-requests", Token: et.TokPrivacy}); !strings.Contains(string(r.Body), `"customer":"c-0002"`) {
		t.Errorf("requests: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/erasure-requests", Token: et.TokClerk2}); r.Status != 403 {
		t.Errorf("a clerk listed erasure requests: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erase", Token: et.TokSecurity, Body: map[string]string{"reason": "asked"}}); r.Status != 403 {
		t.Errorf("security erased: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erase", Token: et.TokPrivacy, Body: map[string]string{}}); r.Status != 400 {
		t.Errorf("erase without a reason: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erase", Token: et.TokPrivacy, Body: map[string]string{"reason": "the customer asked in writing"}}); r.Status != 200 {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	// Afterwards c-0002 answers as a customer that never existed.
	real := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk2, Body: map[string]string{"phone": "+8613900139000"}})
	made := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk2, Body: map[string]string{"phone": "+8613955556666"}})
	if real.Status != made.Status || !bytes.Equal(real.Body, made.Body) {
		t.Errorf("search for the erased phone: %d %s; made-up phone: %d %s", real.Status, real.Body, made.Status, made.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tk}); r.Status == 200 {
		t.Errorf("the erased record was read: %s", r.Body)
	}
	tr := s.Do(t, et.Req{Path: "/v1/trace", Token: et.TokSecurity, Body: "phone\n+8613900139000\n", Header: map[string]string{"Content-Type": "text/csv"}})
	if tr.Status != 200 || tr.JSON(t)["matched"] != float64(0) {
		t.Errorf("trace still resolves the erased phone: %d %s", tr.Status, tr.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erase", Token: et.TokPrivacy, Body: map[string]string{"reason": "again"}}); r.Status != 404 {
		t.Errorf("erasing twice: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/erasure-requests", Token: et.TokPrivacy}); strings.Contains(string(r.Body), "c-0002") {
		t.Errorf("a carried-out request is still listed: %s", r.Body)
	}
	// The CRM's next export still holds the customer: an import leaves them
	// out and says so.
	again := filepath.Join(f.Dir, "again.csv")
	os.WriteFile(again, []byte("id,name,phone,account,region,site\nc-0002,Zhang Min,+8613900139000,zhangmin@example.net,SH,store-2\n"), 0o600)
	if out, errOut, code := et.Run(t, "", "import", "--data", f.Data, "--upsert", "--customers", again); code != 0 ||
		!strings.Contains(out, "1 customers left out: erased at their request") {
		t.Errorf("import of the erased customer: exit %d\n%s%s", code, out, errOut)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk2, Body: map[string]string{"phone": "+8613900139000"}}); !bytes.Equal(r.Body, made.Body) {
		t.Errorf("an import brought the erased customer back: %d %s", r.Status, r.Body)
	}
	s.Stop(t)
	for _, file := range []string{"custos.db", "custos.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(f.Data, file))
		for what, v := range map[string][]byte{"sealed name": name, "sealed phone": phone, "sealed account": account, "record key": key} {
			if bytes.Contains(b, v) {
				t.Errorf("%s still holds the erased customer's %s", file, what)
			}
		}
	}
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code != 0 {
		t.Errorf("audit verify after erasure: %d\n%s%s", code, out, errOut)
	}
}

// TestErasureRestore takes a backup, erases a customer, and restores the
// older backup with --erasures (the erase events the auditor exports from
// the audit search): the restored deployment answers for the erased
// customer as for a made-up one, its files hold none of the customer's
// ciphertexts or record key, and its audit log verifies. It is the
// operator's step docs/THREATS.md asks for after a restore.
func TestErasureRestore(t *testing.T) {
	f := et.NewFixture(t)
	db, err := sql.Open("sqlite", "file:"+filepath.Join(f.Data, "custos.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var name, key []byte
	if err := db.QueryRow(`SELECT name, k.wrapped FROM customers c JOIN customer_keys k ON k.customer = c.id
		WHERE c.id = 'c-0002'`).Scan(&name, &key); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk2, "c-0002")
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Fatalf("read before the backup: %d %s", r.Status, r.Body)
	}
	backupFile := filepath.Join(f.Dir, "before.tar.gz")
	if out, errOut, code := et.Run(t, "", "backup", "--data", f.Data, "--out", backupFile, "--include-master-key"); code != 0 {
		t.Fatalf("backup: %d\n%s%s", code, out, errOut)
	}
	if r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/erase", Token: et.TokPrivacy, Body: map[string]string{"reason": "asked in writing"}}); r.Status != 200 {
		t.Fatalf("erase: %d %s", r.Status, r.Body)
	}
	var found struct{ Entries []json.RawMessage }
	for deadline := time.Now().Add(10 * time.Second); len(found.Entries) == 0; time.Sleep(100 * time.Millisecond) {
		// The search index follows the log a moment behind.
		res := s.Do(t, et.Req{Method: "GET", Path: "/v1/audit/search?action=subject.erase&decision=allow", Token: et.TokAuditor})
		if err := json.Unmarshal(res.Body, &found); err != nil || time.Now().After(deadline) {
			t.Fatalf("audit search: %d %s (%v)", res.Status, res.Body, err)
		}
	}
	s.Stop(t)
	erasures := et.WriteFile(t, f.Dir, "erasures.jsonl", string(found.Entries[0])+"\n")

	restored := filepath.Join(f.Dir, "restored")
	out, errOut, code := et.Run(t, "", "restore", "--in", backupFile, "--data", restored, "--erasures", erasures)
	if code != 0 || !strings.Contains(out, "1 of 1 later erasures applied") {
		t.Fatalf("restore: %d\n%s%s", code, out, errOut)
	}
	for _, file := range []string{"custos.db", "custos.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(restored, file))
		if bytes.Contains(b, name) || bytes.Contains(b, key) {
			t.Errorf("restored %s holds the erased customer's sealed name or record key", file)
		}
	}
	db, err = sql.Open("sqlite", "file:"+filepath.Join(restored, "custos.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow(`SELECT (SELECT count(*) FROM customers WHERE id = 'c-0002') + (SELECT count(*) FROM customer_keys WHERE customer = 'c-0002')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the restored store holds c-0002: %d rows, %v", n, err)
	}
	db.Close()
	s2 := et.Start(t, restored)
	made := openTicket(t, s2, et.TokClerk2, "c-0999")
	erased := s2.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tk})
	madeUp := s2.Do(t, et.Req{Path: "/v1/customers/c-0999", Token: et.TokClerk2, Purpose: "ticket:" + made})
	if erased.Status != madeUp.Status || erased.Status == 200 {
		t.Errorf("erased customer after restore: %d %s; made-up: %d %s", erased.Status, erased.Body, madeUp.Status, madeUp.Body)
	}
	real := s2.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk2, Body: map[string]string{"phone": "+8613900139000"}})
	fake := s2.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk2, Body: map[string]string{"phone": "+8613955556666"}})
	if real.Status != fake.Status || !bytes.Equal(real.Body, fake.Body) {
		t.Errorf("search for the erased phone after restore: %d %s; made-up: %d %s", real.Status, real.Body, fake.Status, fake.Body)
	}
	s2.Stop(t)
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", restored); code != 0 {
		t.Errorf("audit verify after restore: %d\n%s%s", code, out, errOut)
	}
}
