package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/httpapi"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// Tokens of the fuzz world's callers.
const (
	fuzzClerk    = "fuzz-clerk-0123456789abcdef"
	fuzzSecurity = "fuzz-security-0123456789abcdef"
)

// fuzzHandler is an in-process gateway on a real SQLite store and audit
// log, with one customer, a clerk and a security analyst.
func fuzzHandler(tb testing.TB) http.Handler {
	tb.Helper()
	cfg := config.Default()
	cfg.Quotas = map[string]config.Quota{"store_clerk": {CustomersPerHour: 1 << 30, CustomersPerDay: 1 << 30}}
	return inProcess(tb, cfg, func(v *vault.Vault) store.Batch {
		id, phone := "c-0000001", "+8613800000001"
		return store.Batch{
			Customers: []store.Customer{{ID: id, Region: "GD", Site: "store-1",
				Name: v.Seal(id, "name", "Li Wei"), Phone: v.Seal(id, "phone", phone), Account: v.Seal(id, "account", "c1@example.com"),
				PhoneIndex: v.BlindIndex(vault.IndexPhone, phone), AccountIndex: v.BlindIndex(vault.IndexAccount, "c1@example.com")}},
			Tickets: []store.Ticket{{ID: "T-1", Customer: id, Site: "store-1", OpenedBy: "crm", OpenedAt: time.Now(), CRM: true}},
			Principals: []store.Principal{
				{ID: "emp-1", Name: "Clerk", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: "store-1", Region: "GD",
					TokenHash: v.TokenHash(fuzzClerk), Status: store.StatusActive},
				{ID: "sec-1", Name: "Analyst", Org: "co", OrgKind: "company", Role: "security_analyst",
					TokenHash: v.TokenHash(fuzzSecurity), Status: store.StatusActive},
			},
		}
	}, func(s *httpapi.Server) { s.MaxBody = 64 << 10 }, sqlite.WithSync(sqlite.SyncNormal))
}

// fuzzRoutes are the JSON-body endpoints, each with a caller allowed to
// reach its decoder.
var fuzzRoutes = []struct{ path, token string }{
	{"/v1/customers/search", "clerk"},
	{"/v1/tickets", "clerk"},
	{"/v1/consents", "clerk"},
	{"/v1/consents/cs-0000000000000000/confirm", "clerk"},
	{"/v1/breakglass", "clerk"},
	{"/v1/principals/emp-1/notice", "security"},
	{"/v1/subjects/login", ""},
	{"/v1/subjects/login/sl-0000000000000000/confirm", ""},
}

// FuzzJSONBody sends arbitrary bodies to every JSON endpoint of a real
// in-process gateway (SQLite store, audit log, default policy): the answer
// is never a 500 or a panic, and every error is the contract's JSON error.
func FuzzJSONBody(f *testing.F) {
	h := fuzzHandler(f)
	for i, b := range []string{`{}`, `{"phone":"+8613800000000"}`, `{"account":"c-0000001@example.com"}`, `{"customer":"c-0000001"}`,
		`{"customer":"c-0000001","site":"store-1","reason":"on the phone"}`, `{"code":"123456"}`, `{"last_day":"2026-04-01"}`, `{"phone":null}`,
		`[1,2]`, `{"phone":1}`, `{"phone":"x","phone":"y"}`, `{"unknown":1}`, `{} {}`, `"\ud800"`, "{\"customer\":\"\xff\"}",
		`{"a":` + string(bytes.Repeat([]byte("["), 20000)), ``, `nul`} {
		f.Add(uint8(i), []byte(b))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := fuzzRoutes[int(route)%len(fuzzRoutes)]
		req := httptest.NewRequest(http.MethodPost, rt.path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		switch rt.token {
		case "clerk":
			req.Header.Set("Authorization", "Bearer "+fuzzClerk)
		case "security":
			req.Header.Set("Authorization", "Bearer "+fuzzSecurity)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s %q: %d %s", rt.path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e struct {
				Error struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
				t.Fatalf("POST %s %q: %d with a body that is not a JSON error: %s", rt.path, body, rec.Code, rec.Body)
			}
		}
	})
}
