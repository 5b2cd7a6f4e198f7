// End-to-end tests of the guarded read path (issue: the gateway). Each test
// imports a small world with the real binary, starts "custos serve", and
// drives it over HTTP exactly as a store system would.
package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// openTicket opens a ticket for customer as token and returns its id.
func openTicket(t *testing.T, s *et.Server, token, customer string) string {
	t.Helper()
	return createFor(t, s, "/v1/tickets", token, customer)
}

// createFor posts {"customer": customer} to path as token, wants 201 and
// returns the new resource's id.
func createFor(t *testing.T, s *et.Server, path, token, customer string) string {
	t.Helper()
	r := s.Do(t, et.Req{Path: path, Token: token, Body: map[string]string{"customer": customer}})
	if r.Status != 201 {
		t.Fatalf("POST %s for %s: %d %s", path, customer, r.Status, r.Body)
	}
	return r.JSON(t)["id"].(string)
}

// importPostgres imports the fixture's customers and principals into a
// new deployment on database db whose gateway uses data dir data.
func importPostgres(t *testing.T, db, data string) {
	t.Helper()
	dir := t.TempDir()
	cf := et.WriteFile(t, dir, "customers.csv", et.CustomersCSV)
	pf := et.WriteFile(t, dir, "principals.csv", et.PrincipalsCSV)
	if out, errOut, code := et.Run(t, "", "import", "--db", db, "--data", data, "--customers", cf, "--principals", pf); code != 0 {
		t.Fatalf("import: %d %s %s", code, out, errOut)
	}
}

// auditEvent reads the audit record at idx straight from the store file, as
// the server has committed it.
func auditEvent(t *testing.T, data string, idx uint64) map[string]any {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "custos.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ev []byte
	if err := db.QueryRowContext(context.Background(), `SELECT event FROM audit WHERE idx = ?`, int64(idx)).Scan(&ev); err != nil {
		t.Fatalf("audit record %d: %v", idx, err)
	}
	var m map[string]any
	if err := json.Unmarshal(ev, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func auditIndex(t *testing.T, r et.Response) uint64 {
	t.Helper()
	v := r.Header.Get("Custos-Audit-Index")
	if v == "" {
		t.Fatalf("response %d has no Custos-Audit-Index header: %s", r.Status, r.Body)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGatewayReadPath(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")

	cases := []struct {
		name       string
		req        et.Req
		wantStatus int
		wantCode   string
	}{
		{"allowed under a ticket", et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1}, 200, ""},
		{"denied without a purpose", et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1}, 403, "purpose_required"},
		{"ticket used for another customer", et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk1, Purpose: "ticket:" + t1}, 403, "purpose_invalid"},
		{"ticket from another site", et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk2, Purpose: "ticket:" + t1}, 403, "purpose_invalid"},
		{"unknown ticket", et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:T-nope"}, 403, "purpose_invalid"},
		{"malformed purpose", et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "because"}, 403, "purpose_invalid"},
		{"wrong token", et.Req{Path: "/v1/customers/c-0001", Token: "not-a-real-token-000000", Purpose: "ticket:" + t1}, 401, "unauthenticated"},
		{"no token", et.Req{Path: "/v1/customers/c-0001", Purpose: "ticket:" + t1}, 401, "unauthenticated"},
		{"security role never reads records", et.Req{Path: "/v1/customers/c-0001", Token: et.TokSecurity, Purpose: "ticket:" + t1}, 403, ""},
		{"search by phone under the ticket", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"phone": "138 0013 8000"}}, 200, ""},
		{"search for another customer under the ticket", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"account": "wangfang@example.org"}}, 403, "purpose_invalid"},
		{"wildcard phone search refused", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"phone": "+86138*"}}, 400, "invalid_request"},
		{"wildcard account search refused", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"account": "%@example.com"}}, 400, "invalid_request"},
		{"prefix phone search refused", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"phone": "+86138"}}, 400, "invalid_request"},
		{"search with both keys refused", et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"phone": "+8613800138000", "account": "liwei@example.com"}}, 400, "invalid_request"},
		{"listing refused", et.Req{Path: "/v1/customers", Token: et.TokManager1}, 403, ""},
		{"wildcard id refused", et.Req{Path: "/v1/customers/c-*", Token: et.TokClerk1, Purpose: "ticket:" + t1}, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, tc.req)
			if r.Status != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.wantStatus, r.Body)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			if tc.wantCode != "" && r.ErrorCode() != tc.wantCode {
				t.Errorf("error code %q, want %q: %s", r.ErrorCode(), tc.wantCode, r.Body)
			}
			if r.Status >= 400 && r.ErrorCode() == "" {
				t.Errorf("error without the contract's JSON body: %s", r.Body)
			}
		})
	}
}

func TestGatewayMasksFields(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1})
	if r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["name"] != "Li Wei" || m["region"] != "GD" {
		t.Errorf("name/region not in full: %v", m)
	}
	phone, _ := m["phone"].(string)
	if !strings.HasSuffix(phone, "8000") || strings.Contains(phone, "13800138") {
		t.Errorf("phone %q: want only the last four digits", phone)
	}
	account, _ := m["account"].(string)
	if !strings.HasPrefix(account, "l") || !strings.HasSuffix(account, "@example.com") || strings.Contains(account, "liwei") {
		t.Errorf("account %q: want first letter and domain only", account)
	}
	fields := m["fields"].(map[string]any)
	if fields["phone"] != "masked" || fields["account"] != "masked" || fields["name"] != "full" {
		t.Errorf("field modes %v", fields)
	}
}

// TestGatewayNoExistenceOracle: without a valid purpose, a real customer and
// a made-up one look exactly alike.
func TestGatewayNoExistenceOracle(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	for _, purpose := range []string{"", "ticket:" + t1, "consent:K-unknown", "ticket:T-unknown"} {
		real := s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk1, Purpose: purpose})
		fake := s.Do(t, et.Req{Path: "/v1/customers/c-9999", Token: et.TokClerk1, Purpose: purpose})
		if real.Status != fake.Status || !bytes.Equal(real.Body, fake.Body) {
			t.Errorf("purpose %q: existing customer gives %d %s, missing one %d %s", purpose, real.Status, real.Body, fake.Status, fake.Body)
		}
		sreal := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: purpose, Body: map[string]string{"phone": "+8613900139000"}})
		sfake := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: purpose, Body: map[string]string{"phone": "+8613500135000"}})
		if sreal.Status != sfake.Status || !bytes.Equal(sreal.Body, sfake.Body) {
			t.Errorf("search, purpose %q: existing %d %s, missing %d %s", purpose, sreal.Status, sreal.Body, sfake.Status, sfake.Body)
		}
	}
	// Consent start answers alike for real and unknown customers.
	a := s.Do(t, et.Req{Path: "/v1/consents", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0002"}})
	b := s.Do(t, et.Req{Path: "/v1/consents", Token: et.TokClerk1, Body: map[string]string{"customer": "c-9999"}})
	if a.Status != b.Status || a.Status != 201 {
		t.Errorf("consent start: existing %d, missing %d", a.Status, b.Status)
	}
}

// TestGatewayAuditsBeforeAnswer: every answer, allow or deny, names the
// audit entry that recorded it, and that entry is already committed in the
// store when the answer arrives.
func TestGatewayAuditsBeforeAnswer(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	checks := []struct {
		req              et.Req
		decision, reason string
		customer         string
	}{
		{et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1}, "allow", "", "c-0001"},
		{et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk1}, "deny", "purpose_required", "c-0003"},
		{et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk1, Purpose: "ticket:" + t1}, "deny", "purpose_invalid", "c-0003"},
		{et.Req{Path: "/v1/customers/c-0001", Token: "wrong-token-000000000000"}, "deny", "unauthenticated", ""},
	}
	for _, c := range checks {
		r := s.Do(t, c.req)
		ev := auditEvent(t, f.Data, auditIndex(t, r))
		if ev["decision"] != c.decision || ev["reason"] != c.reason || ev["customer"] != c.customer {
			t.Errorf("%s with %q: audit event %v, want decision %s reason %q customer %q", c.req.Path, c.req.Purpose, ev, c.decision, c.reason, c.customer)
		}
	}
}

// TestGatewayStoreHoldsNoPersonalData: a copy of the database files (the
// store and its derived database, with their WALs) reveals no name, phone
// or account.
func TestGatewayStoreHoldsNoPersonalData(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1})
	s.Stop(t)
	var blob []byte
	for _, name := range []string{"custos.db", "custos.db-wal", "custos.db-shm", "custos-derived.db", "custos-derived.db-wal"} {
		b, err := os.ReadFile(filepath.Join(f.Data, name))
		if err == nil {
			blob = append(blob, b...)
		}
	}
	if len(blob) == 0 {
		t.Fatal("no database file")
	}
	for _, secret := range []string{"Li Wei", "Zhang Min", "13800138000", "8613900139000", "liwei@example.com", "zhangmin", "wangfang", et.TokClerk1} {
		if bytes.Contains(bytes.ToLower(blob), bytes.ToLower([]byte(secret))) {
			t.Errorf("database file contains %q in the clear", secret)
		}
	}
	st, err := os.Stat(filepath.Join(f.Data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("master.key mode %o, want 600", st.Mode().Perm())
	}
}
