// End-to-end tests of granular policy (issue: granular policy): consent
// with one-time codes, quotas in distinct customers, break-glass with a
// second approver, containment, and separation of duties — all from the
// built binary over HTTP.
package e2e

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// startConsent starts a consent for customer as token and returns its id.
func startConsent(t *testing.T, s *et.Server, token, customer string) string {
	t.Helper()
	return createFor(t, s, "/v1/consents", token, customer)
}

func TestConsentGrantsFullFields(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	// Even a clerk at another store may serve a customer who is present.
	id := startConsent(t, s, et.TokClerk2, "c-0001")
	code := outboxCode(t, f.Data, "+8613800138000")

	// Before confirmation the consent grants nothing.
	r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk2, Purpose: "consent:" + id})
	if r.Status != 403 || r.ErrorCode() != "purpose_invalid" {
		t.Fatalf("unconfirmed consent: %d %s", r.Status, r.Body)
	}
	// Another principal cannot confirm it.
	if r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk1, Body: map[string]string{"code": code}}); r.Status != 404 {
		t.Fatalf("confirm by another principal: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk2, Body: map[string]string{"code": code}}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk2, Purpose: "consent:" + id})
	if r.Status != 200 {
		t.Fatalf("read under consent: %d %s", r.Status, r.Body)
	}
	m := r.JSON(t)
	if m["phone"] != "+8613800138000" || m["account"] != "liwei@example.com" {
		t.Errorf("consent should show phone and account in full: %v", m)
	}
	// The consent is bound to that customer and that principal.
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk2, Purpose: "consent:" + id}); r.Status != 403 {
		t.Errorf("consent used for another customer: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "consent:" + id}); r.Status != 403 {
		t.Errorf("consent used by another principal: %d %s", r.Status, r.Body)
	}
	// Codes are single-use.
	if r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk2, Body: map[string]string{"code": code}}); r.Status != 403 {
		t.Errorf("second confirm: %d %s", r.Status, r.Body)
	}
}

// TestConsentBruteForce: five wrong codes lock the consent; the right code
// is refused afterwards.
func TestConsentBruteForce(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	id := startConsent(t, s, et.TokClerk1, "c-0001")
	code := outboxCode(t, f.Data, "+8613800138000")
	wrong := 0
	for guess := 0; wrong < 5; guess++ {
		g := strconv.Itoa(100000 + guess)
		if g == code {
			continue
		}
		wrong++
		r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk1, Body: map[string]string{"code": g}})
		if r.Status != 403 {
			t.Fatalf("wrong code %d: %d %s", wrong, r.Status, r.Body)
		}
	}
	r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk1, Body: map[string]string{"code": code}})
	if r.Status != 403 || !strings.Contains(string(r.Body), "locked") {
		t.Fatalf("right code after lock: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "consent:" + id}); r.Status != 403 {
		t.Fatalf("read under a locked consent: %d %s", r.Status, r.Body)
	}
}

func TestQuotaInDistinctCustomers(t *testing.T) {
	f := et.NewFixture(t)
	cfg := et.WriteFile(t, f.Dir, "custos.toml", "[quotas.store_clerk]\ncustomers_per_hour = 2\ncustomers_per_day = 10\n")
	s := et.Start(t, f.Data, "--config", cfg)
	// The CRM opens the tickets (a clerk's own would spend the quota).
	tickets := map[string]string{}
	for _, c := range []string{"c-0001", "c-0002", "c-0003"} {
		r := s.Do(t, et.Req{Path: "/v1/tickets", Token: et.TokIntegrator, Body: map[string]string{"customer": c, "site": "store-1", "assignee": "emp-1"}})
		if r.Status != 201 {
			t.Fatalf("CRM ticket: %d %s", r.Status, r.Body)
		}
		tickets[c] = r.JSON(t)["id"].(string)
	}
	read := func(s *et.Server, c string) et.Response {
		return s.Do(t, et.Req{Path: "/v1/customers/" + c, Token: et.TokClerk1, Purpose: "ticket:" + tickets[c]})
	}
	for _, c := range []string{"c-0001", "c-0002", "c-0001", "c-0002"} {
		if r := read(s, c); r.Status != 200 {
			t.Fatalf("read %s within quota: %d %s", c, r.Status, r.Body)
		}
	}
	r := read(s, "c-0003")
	if r.Status != 429 || r.ErrorCode() != "quota_exceeded" {
		t.Fatalf("third distinct customer: %d %s", r.Status, r.Body)
	}
	ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || ra <= 0 || ra > 3600 {
		t.Errorf("Retry-After %q: want seconds until the hour ends", r.Header.Get("Retry-After"))
	}
	me := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokClerk1}).JSON(t)
	if q := me["quota"].(map[string]any); q["remaining_hour"].(float64) != 0 {
		t.Errorf("me quota %v", q)
	}
	// Counts survive a restart.
	s.Stop(t)
	s2 := et.Start(t, f.Data, "--config", cfg)
	if time.Now().Minute() == 59 && time.Now().Second() > 50 {
		t.Skip("hour boundary: the window may have reset")
	}
	if r := read(s2, "c-0003"); r.Status != 429 {
		t.Fatalf("after restart: %d %s", r.Status, r.Body)
	}
	if r := read(s2, "c-0001"); r.Status != 200 {
		t.Fatalf("already-counted customer after restart: %d %s", r.Status, r.Body)
	}
}

func TestBreakGlassNeedsSecondPerson(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	// Without an approved request a break-glass read is refused.
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "breakglass:customer collapsed at the counter"}); r.Status != 403 {
		t.Fatalf("unapproved break-glass: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, et.Req{Path: "/v1/breakglass", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0001", "reason": "phone dead, customer at counter"}})
	if r.Status != 201 {
		t.Fatalf("request: %d %s", r.Status, r.Body)
	}
	id := r.JSON(t)["id"].(string)
	if r := s.Do(t, et.Req{Path: "/v1/breakglass/" + id + "/approve", Token: et.TokClerk1, Body: "{}"}); r.Status != 403 {
		t.Fatalf("self-approval: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "breakglass:" + id}); r.Status != 403 {
		t.Fatalf("read before approval: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/breakglass/" + id + "/approve", Token: et.TokManager1, Body: "{}"}); r.Status != 200 {
		t.Fatalf("approval by the manager: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "breakglass:" + id}); r.Status != 200 {
		t.Fatalf("approved break-glass read: %d %s", r.Status, r.Body)
	}
	// Only the requester can use it.
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokManager1, Purpose: "breakglass:" + id}); r.Status != 403 {
		t.Fatalf("break-glass used by another: %d %s", r.Status, r.Body)
	}
	alerts := s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity}).JSON(t)["alerts"].([]any)
	found := false
	for _, a := range alerts {
		m := a.(map[string]any)
		if m["actor"] == "emp-1" && m["kind"] == "breakglass" {
			found = true
		}
	}
	if !found {
		t.Errorf("no break-glass alert for emp-1: %v", alerts)
	}
}

func TestSuspendAndReinstate(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	// A clerk cannot suspend anyone.
	if r := s.Do(t, et.Req{Path: "/v1/principals/emp-2/suspend", Token: et.TokClerk1, Body: `{"reason":"test"}`}); r.Status != 403 {
		t.Fatalf("clerk suspends: %d %s", r.Status, r.Body)
	}
	r := s.Do(t, et.Req{Path: "/v1/principals/emp-1/suspend", Token: et.TokSecurity, Body: `{"reason":"test"}`})
	if r.Status != 200 {
		t.Fatalf("suspend: %d %s", r.Status, r.Body)
	}
	suspendIdx := auditIndex(t, r)
	if ev := auditEvent(t, f.Data, suspendIdx); ev["action"] != "principal.suspend" || ev["target"] != "emp-1" || ev["actor"] != "sec-1" {
		t.Errorf("suspension audit event %v", ev)
	}
	for _, req := range []et.Req{
		{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1},
		{Path: "/v1/me", Token: et.TokClerk1},
		{Path: "/v1/tickets", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0003"}},
		{Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: map[string]string{"phone": "+8613800138000"}},
	} {
		if req.Path == "/v1/me" {
			continue // /v1/me tells a suspended person their status
		}
		if r := s.Do(t, req); r.Status != 423 || r.ErrorCode() != "principal_suspended" {
			t.Errorf("%s while suspended: %d %s", req.Path, r.Status, r.Body)
		}
	}
	if me := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokClerk1}); me.JSON(t)["status"] != "suspended" {
		t.Errorf("me while suspended: %s", me.Body)
	}
	r = s.Do(t, et.Req{Path: "/v1/principals/emp-1/reinstate", Token: et.TokSecurity, Body: `{"reason":"test"}`})
	if r.Status != 200 {
		t.Fatalf("reinstate: %d %s", r.Status, r.Body)
	}
	if ev := auditEvent(t, f.Data, auditIndex(t, r)); ev["action"] != "principal.reinstate" || ev["target"] != "emp-1" {
		t.Errorf("reinstatement audit event %v", ev)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1}); r.Status != 200 {
		t.Errorf("after reinstatement: %d %s", r.Status, r.Body)
	}
}

func TestSeparationOfDuties(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1})
	cases := []struct {
		name   string
		req    et.Req
		status int
	}{
		{"security reads alerts", et.Req{Path: "/v1/alerts", Token: et.TokSecurity}, 200},
		{"clerk cannot read alerts", et.Req{Path: "/v1/alerts", Token: et.TokClerk1}, 403},
		{"security never reads a customer", et.Req{Path: "/v1/customers/c-0001", Token: et.TokSecurity, Purpose: "ticket:" + t1}, 403},
		{"privacy officer never reads a customer", et.Req{Path: "/v1/customers/c-0001", Token: et.TokPrivacy, Purpose: "ticket:" + t1}, 403},
		{"auditor never reads a customer", et.Req{Path: "/v1/customers/c-0001", Token: et.TokAuditor, Purpose: "ticket:" + t1}, 403},
		{"privacy officer reads access histories", et.Req{Path: "/v1/subjects/c-0001/accesses", Token: et.TokPrivacy}, 200},
		{"clerk cannot read access histories", et.Req{Path: "/v1/subjects/c-0001/accesses", Token: et.TokClerk1}, 403},
		{"auditor reads the checkpoint", et.Req{Path: "/v1/audit/checkpoint", Token: et.TokAuditor}, 200},
		{"clerk cannot read the audit log", et.Req{Path: "/v1/audit/checkpoint", Token: et.TokClerk1}, 403},
		{"auditor cannot suspend", et.Req{Path: "/v1/principals/emp-1/suspend", Token: et.TokAuditor, Body: `{"reason":"test"}`}, 403},
		{"manager cannot list customers", et.Req{Path: "/v1/customers", Token: et.TokManager1}, 403},
		{"manager cannot export", et.Req{Path: "/v1/customers/export", Token: et.TokManager1, Body: "{}"}, 403},
		{"integration opens tickets at any site", et.Req{Path: "/v1/tickets", Token: et.TokIntegrator, Body: map[string]string{"customer": "c-0002", "site": "store-2"}}, 201},
		{"clerk cannot open a ticket at another site", et.Req{Path: "/v1/tickets", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0002", "site": "store-2"}}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if r := s.Do(t, tc.req); r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
		})
	}
	// A CRM-opened ticket lets staff at that site read.
	r := s.Do(t, et.Req{Path: "/v1/tickets", Token: et.TokIntegrator, Body: map[string]string{"customer": "c-0002", "site": "store-2"}})
	tid := r.JSON(t)["id"].(string)
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tid}); r.Status != 200 {
		t.Errorf("read under a CRM ticket: %d %s", r.Status, r.Body)
	}
}

// TestPolicyThatFailsToValidate: at start, a bad policy set is refused
// (exit 2, clear message); while running, a bad edit is refused, the old
// set stays in force, and /metrics says so.
func TestPolicyThatFailsToValidate(t *testing.T) {
	f := et.NewFixture(t)
	pol := filepath.Join(f.Dir, "policies")
	s := et.Start(t, f.Data, "--policies", pol) // seeds the default pack
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	bad := `@id("typo") permit(principal, action == Action::"read", resource) when { principal.rolle == "store_clerk" };`
	if err := os.WriteFile(filepath.Join(pol, "zz-bad.cedar"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+et.MetricsToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "custos_policy_valid 0") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("custos_policy_valid never went to 0:\n%s", grepLines(string(b), "custos_policy"))
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The old set is still in force.
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + t1}); r.Status != 200 {
		t.Fatalf("read after a refused reload: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1}); r.Status != 403 {
		t.Fatalf("purpose still required after a refused reload: %d %s", r.Status, r.Body)
	}
	s.Stop(t)
	// A fresh start on the bad set is refused.
	_, stderr, code := et.Run(t, "", "serve", "--data", f.Data, "--addr", et.FreeAddr(t), "--policies", pol)
	if code != 2 || !strings.Contains(stderr, "zz-bad.cedar") {
		t.Fatalf("serve with a bad policy: exit %d, stderr %q", code, stderr)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestLegalAccessDisclosedAfterDelay: an access under a legal purpose (which
// the default pack refuses; a deployment adds a policy for it) appears on
// the customer's own history only after the disclosure delay.
func TestLegalAccessDisclosedAfterDelay(t *testing.T) {
	f := et.NewFixture(t)
	pol := filepath.Join(f.Dir, "policies")
	s := et.Start(t, f.Data, "--policies", pol)
	// Refused by the default pack.
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokManager1, Purpose: "legal:case-2026-17"}); r.Status != 403 {
		t.Fatalf("legal read under the default pack: %d %s", r.Status, r.Body)
	}
	s.Stop(t)
	legal := `@id("legal-requests-by-managers")
permit (principal, action == Action::"read", resource is Customer)
when { principal.role == "store_manager" && context.purpose_kind == "legal" && context.purpose_valid };
`
	if err := os.WriteFile(filepath.Join(pol, "legal.cedar"), []byte(legal), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, delay := range []string{"2160h", "0s"} {
		cfg := et.WriteFile(t, f.Dir, "custos-"+delay+".toml", "legal_disclosure_delay = \""+delay+"\"\n")
		s := et.Start(t, f.Data, "--policies", pol, "--config", cfg)
		if delay == "2160h" {
			if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokManager1, Purpose: "legal:case-2026-17"}); r.Status != 200 {
				t.Fatalf("legal read with the policy: %d %s", r.Status, r.Body)
			}
		}
		h := s.Do(t, et.Req{Path: "/v1/subjects/c-0001/accesses", Token: et.TokPrivacy})
		shown := strings.Contains(string(h.Body), `"purpose":"legal"`)
		if want := delay == "0s"; shown != want {
			t.Errorf("delay %s: legal access shown = %v, want %v: %s", delay, shown, want, h.Body)
		}
		s.Stop(t)
	}
}

// TestSubjectSignInCannotFloodAPhone: the unauthenticated customer sign-in
// sends at most five codes to one number per quarter hour, and answers the
// same for a customer's number and anyone else's.
func TestSubjectSignInCannotFloodAPhone(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	for _, phone := range []string{"+8613800138000", "+8613500135000"} { // a customer's, nobody's
		for i := 1; i <= 6; i++ {
			r := s.Do(t, et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": phone}})
			want := 201
			if i == 6 {
				want = 429
			}
			if r.Status != want {
				t.Fatalf("%s, request %d: %d %s, want %d", phone, i, r.Status, r.Body, want)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(f.Data, "outbox.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "+8613800138000"); n != 5 {
		t.Errorf("%d codes sent to the customer's phone, want 5", n)
	}
	if strings.Contains(string(b), "+8613500135000") {
		t.Error("a code was sent to a number that is nobody's")
	}
}
