// End-to-end tests of investigations (issue 23): audit search, cases and
// evidence bundles, through the built binary.
package e2e

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
)

type searchPage struct {
	Entries []struct {
		Index uint64         `json:"index"`
		Event map[string]any `json:"event"`
	} `json:"entries"`
	Next string `json:"next"`
}

// search pages through GET /v1/audit/search with q and returns every index
// found, newest first, failing on any overlap between pages.
func search(t *testing.T, s *et.Server, tok string, q url.Values) ([]uint64, []map[string]any) {
	t.Helper()
	var idx []uint64
	var evs []map[string]any
	seen := map[uint64]bool{}
	for page := 0; page < 100; page++ {
		r := s.Do(t, et.Req{Method: "GET", Path: "/v1/audit/search?" + q.Encode(), Token: tok})
		if r.Status != 200 {
			t.Fatalf("search %s: %d %s", q.Encode(), r.Status, r.Body)
		}
		var p searchPage
		if err := json.Unmarshal(r.Body, &p); err != nil {
			t.Fatal(err)
		}
		for _, e := range p.Entries {
			if seen[e.Index] {
				t.Fatalf("entry %d on two pages", e.Index)
			}
			seen[e.Index] = true
			idx = append(idx, e.Index)
			evs = append(evs, e.Event)
		}
		if p.Next == "" {
			return idx, evs
		}
		q.Set("cursor", p.Next)
	}
	t.Fatal("search never ended")
	return nil, nil
}

func TestAuditSearch(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	var want []uint64 // emp-1's reads of c-0001, allowed
	for range 7 {
		want = append(want, auditIndex(t, s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})))
	}
	s.Do(t, et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk1}) // denied: no purpose
	t2 := openTicket(t, s, et.TokClerk2, "c-0002")
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + t2})
	slices.Reverse(want)

	q := url.Values{"actor": {"emp-1"}, "customer": {"c-0001"}, "action": {"customer.read"}, "decision": {"allow"}, "limit": {"3"}}
	var got []uint64
	var evs []map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if got, evs = search(t, s, et.TokAuditor, url.Values{"actor": q["actor"], "customer": q["customer"],
			"action": q["action"], "decision": q["decision"], "limit": q["limit"]}); len(got) >= len(want) {
			break
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("search = %v; want exactly %v, newest first", got, want)
	}
	for _, ev := range evs {
		if ev["actor"] != "emp-1" || ev["customer"] != "c-0001" || ev["decision"] != "allow" {
			t.Errorf("an entry that does not match: %v", ev)
		}
	}
	// The security role may search too, by site and time; a clerk may not.
	all, _ := search(t, s, et.TokSecurity, url.Values{"site": {"store-2"}, "since": {time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}})
	if len(all) == 0 {
		t.Error("search by site found nothing")
	}
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/audit/search?actor=emp-2", Token: et.TokClerk1}); r.Status != 403 {
		t.Errorf("a clerk searched the audit log: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{"cursor=garbage", "since=yesterday", "decision=maybe", "limit=0", "actor=a%20b"} {
		if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/audit/search?" + bad, Token: et.TokAuditor}); r.Status != 400 || r.ErrorCode() != "invalid_request" {
			t.Errorf("search ?%s: %d %s; want 400 invalid_request", bad, r.Status, r.Body)
		}
	}
	// Each search is audited, without its filters.
	_, mine := search(t, s, et.TokAuditor, url.Values{"action": {"audit.search"}, "actor": {"aud-1"}})
	if len(mine) == 0 {
		t.Fatal("searches are not in the audit log")
	}
	for _, ev := range mine {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), "emp-1") || strings.Contains(string(b), "c-0001") {
			t.Errorf("a search's audit entry carries its filters: %s", b)
		}
	}
}

func TestCaseLifecycleAndEvidence(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	for range 5 {
		s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	}
	// A break-glass request raises an alert on emp-1.
	if r := s.Do(t, et.Req{Path: "/v1/breakglass", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0003", "reason": "customer at counter"}}); r.Status != 201 {
		t.Fatalf("breakglass: %d %s", r.Status, r.Body)
	}
	alerts := s.Do(t, et.Req{Method: "GET", Path: "/v1/alerts", Token: et.TokSecurity}).JSON(t)["alerts"].([]any)
	if len(alerts) == 0 {
		t.Fatal("no alert")
	}
	alertID := fmt.Sprint(alerts[0].(map[string]any)["id"])

	if r := s.Do(t, et.Req{Path: "/v1/alerts/" + alertID + "/case", Token: et.TokClerk1, Body: "{}"}); r.Status != 403 {
		t.Errorf("a clerk opened a case: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, et.Req{Path: "/v1/alerts/" + alertID + "/case", Token: et.TokSecurity, Body: "{}"})
	if r.Status != 201 {
		t.Fatalf("open case: %d %s", r.Status, r.Body)
	}
	c := r.JSON(t)
	id := fmt.Sprint(c["id"])
	if c["person"] != "emp-1" || c["status"] != "open" || c["assignee"] != "sec-1" {
		t.Errorf("new case: %v", c)
	}
	if r := s.Do(t, et.Req{Path: "/v1/alerts/" + alertID + "/case", Token: et.TokSecurity2, Body: "{}"}); r.Status != 200 || fmt.Sprint(r.JSON(t)["id"]) != id {
		t.Errorf("the same alert again: %d %s; want 200 and the same case", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/alerts/99999/case", Token: et.TokSecurity, Body: "{}"}); r.Status != 404 {
		t.Errorf("no such alert: %d", r.Status)
	}
	patch := func(tok string, body any) et.Response {
		return s.Do(t, et.Req{Method: "PATCH", Path: "/v1/cases/" + id, Token: tok, Body: body})
	}
	const secret = "spoke to the store manager about the counter incident"
	if r := patch(et.TokSecurity, map[string]string{"status": "investigating", "assignee": "sec-2", "note": secret}); r.Status != 200 {
		t.Fatalf("patch: %d %s", r.Status, r.Body)
	}
	for _, bad := range []any{map[string]string{}, map[string]string{"status": "done"}, map[string]string{"outcome": "maybe"},
		map[string]string{"assignee": "emp-2"}, map[string]string{"note": ""}, "{not json"} {
		if r := patch(et.TokSecurity, bad); r.Status != 400 || r.ErrorCode() != "invalid_request" {
			t.Errorf("patch %v: %d %s; want 400", bad, r.Status, r.Body)
		}
	}
	got := s.Do(t, et.Req{Method: "GET", Path: "/v1/cases/" + id, Token: et.TokSecurity}).JSON(t)
	notes, _ := got["notes"].([]any)
	if got["assignee"] != "sec-2" || got["status"] != "investigating" || len(notes) != 1 || notes[0].(map[string]any)["text"] != secret {
		t.Errorf("case after patch: %v", got)
	}
	if list := s.Do(t, et.Req{Method: "GET", Path: "/v1/cases", Token: et.TokSecurity}).JSON(t)["cases"].([]any); len(list) != 1 {
		t.Errorf("cases: %v", list)
	}
	// The note is in no audit entry.
	for _, ev := range auditEvents(t, f.Data, "case.update") {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), "store manager") {
			t.Errorf("a note reached the audit log: %s", b)
		}
	}

	// Evidence: verifies offline; an edited copy does not.
	var raw []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		r := s.Do(t, et.Req{Method: "GET", Path: "/v1/cases/" + id + "/evidence", Token: et.TokSecurity})
		if r.Status != 200 || r.Header.Get("Content-Type") != "application/x-tar" {
			t.Fatalf("evidence: %d %s", r.Status, r.Body)
		}
		raw = r.Body
		if n := countEntries(t, raw); n >= 7 || time.Now().After(deadline) { // ticket, 5 reads, break-glass request
			break
		}
	}
	if n := countEntries(t, raw); n < 7 {
		t.Fatalf("evidence holds %d entries; want emp-1's 7", n)
	}
	key, _, _ := et.Run(t, "", "audit", "key", "--data", f.Data)
	key = strings.TrimSpace(key)
	file := filepath.Join(t.TempDir(), "evidence.tar")
	os.WriteFile(file, raw, 0o600)
	if out, errOut, code := et.Run(t, "", "audit", "verify-bundle", file, "--key", key); code != 0 || !strings.Contains(out, "evidence bundle OK") {
		t.Fatalf("verify-bundle: exit %d\n%s%s", code, out, errOut)
	}
	edited := editTar(t, raw, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "entries/") && bytes.Contains(b, []byte(`"decision": "allow"`)) {
			return bytes.Replace(b, []byte(`"decision": "allow"`), []byte(`"decision": "deny"`), 1)
		}
		return b
	})
	os.WriteFile(file, edited, 0o600)
	if out, errOut, code := et.Run(t, "", "audit", "verify-bundle", file, "--key", key); code != 1 || !strings.Contains(errOut, "entries/") {
		t.Errorf("edited bundle: exit %d\n%s%s; want 1 naming the entry", code, out, errOut)
	}
	os.WriteFile(file, []byte("not a bundle"), 0o600)
	if _, _, code := et.Run(t, "", "audit", "verify-bundle", file); code != 2 {
		t.Errorf("not a bundle: exit %d; want 2", code)
	}

	// A confirmed outcome closes the case and holds the person: one analyst
	// cannot lift it.
	if r := patch(et.TokSecurity, map[string]string{"outcome": "confirmed", "note": "confirmed with the store"}); r.Status != 200 || r.JSON(t)["status"] != "closed" {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 423 {
		t.Errorf("a confirmed insider still reads: %d", r.Status)
	}
	if r := s.Do(t, et.Req{Path: "/v1/principals/emp-1/reinstate", Token: et.TokSecurity, Body: map[string]string{"reason": "done"}}); r.Status != 202 {
		t.Errorf("one analyst lifting a confirmed case: %d %s; want 202 pending", r.Status, r.Body)
	}
}

func countEntries(t *testing.T, raw []byte) int {
	n := 0
	editTar(t, raw, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "entries/") {
			n++
		}
		return b
	})
	return n
}

// editTar rewrites each file of a tar through edit.
func editTar(t *testing.T, raw []byte, edit func(name string, b []byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tr, tw := tar.NewReader(bytes.NewReader(raw)), tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b = edit(h.Name, b)
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	return out.Bytes()
}
