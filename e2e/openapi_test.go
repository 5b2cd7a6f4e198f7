package e2e

// The OpenAPI document (api/openapi.json) is kept true by validating the
// live answers of the real binary against it: every response this file's
// requests get — successes and the contract's errors — must be one the
// document describes, status, headers and body. The same validating
// transport is used by the enterprise tests, so the typed client's traffic
// is checked too.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/custos-dev/custos/api"
	et "github.com/custos-dev/custos/internal/e2etest"
)

// specTransport validates every response it carries against the OpenAPI
// document, as served by the server under test.
type specTransport struct {
	t      testing.TB
	router routers.Router
	base   http.RoundTripper

	mu      sync.Mutex
	checked map[string]bool // "METHOD /path/template STATUS"
}

// newSpecTransport loads the embedded document, points its server at base
// and checks that the server serves the same bytes at /openapi.json.
func newSpecTransport(t testing.TB, base string) *specTransport {
	t.Helper()
	resp, err := http.Get(base + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(served, api.Spec) {
		t.Fatalf("GET /openapi.json: %d, %d bytes; want the embedded document (%d bytes)", resp.StatusCode, len(served), len(api.Spec))
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	r, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &specTransport{t: t, router: r, base: http.DefaultTransport, checked: map[string]bool{}}
}

func (s *specTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		reqBody, _ = io.ReadAll(req.Body)
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := s.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	s.validate(req, reqBody, resp, body)
	return resp, nil
}

func (s *specTransport) validate(req *http.Request, reqBody []byte, resp *http.Response, body []byte) {
	// The router needs a request it can match; give it a copy.
	rq := req.Clone(context.Background())
	rq.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := s.router.FindRoute(rq)
	var re *routers.RouteError
	if errors.As(err, &re) && re.Reason == routers.ErrMethodNotAllowed.Error() && resp.StatusCode == http.StatusMethodNotAllowed {
		// A documented path with an undocumented method: the answer must
		// be the contract's JSON error, with Allow.
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code != "method_not_allowed" || resp.Header.Get("Allow") == "" {
			s.t.Errorf("%s %s: 405 without the contract's body and Allow: %s", req.Method, req.URL.Path, body)
		}
		return
	}
	if err != nil {
		s.t.Errorf("OpenAPI: %s %s (answered %d) is not in the document: %v", req.Method, req.URL.Path, resp.StatusCode, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: rq, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		s.t.Errorf("OpenAPI: %s %s answered %d, which the document does not describe: %v\nbody: %.300s", req.Method, route.Path, resp.StatusCode, err, body)
	}
	if resp.StatusCode >= 400 && strings.HasPrefix(route.Path, "/v1/") {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error.Code == "" || e.Error.Message == "" {
			s.t.Errorf("%s %s: error %d without the contract's JSON body: %s", req.Method, route.Path, resp.StatusCode, body)
		}
	}
	s.mu.Lock()
	s.checked[fmt.Sprintf("%s %s %d", req.Method, route.Path, resp.StatusCode)] = true
	s.mu.Unlock()
}

// covered returns the "METHOD /template STATUS" triples validated so far.
func (s *specTransport) covered() map[string]bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]bool, len(s.checked))
	for k := range s.checked {
		out[k] = true
	}
	return out
}

// outboxCode returns the newest one-time code sent to phone.
func outboxCode(t testing.TB, data, phone string) string {
	t.Helper()
	re := regexp.MustCompile(`\b(\d{6})\b`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		f, err := os.Open(filepath.Join(data, "outbox.jsonl"))
		code := ""
		if err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var m struct{ To, Text string }
				if json.Unmarshal(sc.Bytes(), &m) == nil && m.To == phone {
					if g := re.FindStringSubmatch(m.Text); g != nil {
						code = g[1]
					}
				}
			}
			f.Close()
		}
		if code != "" {
			return code
		}
		if time.Now().After(deadline) {
			t.Fatalf("no code for %s in the outbox", phone)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// specReq is one raw request of the OpenAPI walk.
type specReq struct {
	name    string
	method  string
	path    string
	token   string
	purpose string
	ctype   string
	body    string
	want    int
	code    string // expected error code, if any
}

// TestOpenAPIMatchesLiveResponses drives the real binary through a
// representative walk of the API — every contract route, successes and
// the contract's errors (400, 401, 403 in its three kinds, 404, 405, 409,
// 413, 423, 429) — and validates each answer against api/openapi.json.
func TestOpenAPIMatchesLiveResponses(t *testing.T) {
	f := et.NewFixture(t)
	cfg := et.WriteFile(t, f.Dir, "custos.toml", "[quotas.store_manager]\ncustomers_per_hour = 1\ncustomers_per_day = 10\n")
	s := et.Start(t, f.Data, "--config", cfg)
	tr := newSpecTransport(t, s.URL)
	hc := &http.Client{Transport: tr, Timeout: 60 * time.Second}

	do := func(t *testing.T, r specReq) (int, http.Header, []byte) {
		t.Helper()
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, s.URL+r.path, body)
		if err != nil {
			t.Fatal(err)
		}
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		if r.purpose != "" {
			req.Header.Set("Custos-Purpose", r.purpose)
		}
		if r.body != "" {
			ct := r.ctype
			if ct == "" {
				ct = "application/json"
			}
			req.Header.Set("Content-Type", ct)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", r.method, r.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header, b
	}
	run := func(t *testing.T, reqs []specReq) map[string][]byte {
		t.Helper()
		out := map[string][]byte{}
		for _, r := range reqs {
			st, _, b := do(t, r)
			if st != r.want {
				t.Errorf("%s: %s %s: status %d, want %d: %s", r.name, r.method, r.path, st, r.want, b)
			}
			if r.code != "" {
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				json.Unmarshal(b, &e)
				if e.Error.Code != r.code {
					t.Errorf("%s: code %q, want %q", r.name, e.Error.Code, r.code)
				}
			}
			out[r.name] = b
		}
		return out
	}
	idOf := func(t *testing.T, b []byte) string {
		t.Helper()
		var m struct{ ID string }
		if err := json.Unmarshal(b, &m); err != nil || m.ID == "" {
			t.Fatalf("no id in %s", b)
		}
		return m.ID
	}

	// Tickets and a consent for the walk.
	got := run(t, []specReq{
		{name: "ticket", method: "POST", path: "/v1/tickets", token: et.TokClerk1, body: `{"customer":"c-0001"}`, want: 201},
		{name: "ticket for a missing customer", method: "POST", path: "/v1/tickets", token: et.TokClerk1, body: `{"customer":"c-9999"}`, want: 201},
		{name: "crm ticket", method: "POST", path: "/v1/tickets", token: et.TokIntegrator, body: `{"customer":"c-0003","site":"store-1","id":"CRM-1"}`, want: 201},
		{name: "crm ticket again", method: "POST", path: "/v1/tickets", token: et.TokIntegrator, body: `{"customer":"c-0003","site":"store-1","id":"CRM-1"}`, want: 409, code: "conflict"},
		{name: "mgr ticket 1", method: "POST", path: "/v1/tickets", token: et.TokManager1, body: `{"customer":"c-0001"}`, want: 201},
		{name: "mgr ticket 3", method: "POST", path: "/v1/tickets", token: et.TokIntegrator, body: `{"customer":"c-0003","site":"store-1","id":"CRM-3","assignee":"mgr-1"}`, want: 201},
		{name: "ticket at another site", method: "POST", path: "/v1/tickets", token: et.TokClerk1, body: `{"customer":"c-0002","site":"store-2"}`, want: 403, code: "forbidden"},
		{name: "ticket bad body", method: "POST", path: "/v1/tickets", token: et.TokClerk1, body: `{"customer":"c-0001","extra":1}`, want: 400, code: "invalid_request"},
		{name: "consent", method: "POST", path: "/v1/consents", token: et.TokClerk1, body: `{"customer":"c-0001"}`, want: 201},
	})
	t1, tMiss := idOf(t, got["ticket"]), idOf(t, got["ticket for a missing customer"])
	m1, m3 := idOf(t, got["mgr ticket 1"]), idOf(t, got["mgr ticket 3"])
	k1 := idOf(t, got["consent"])
	code := outboxCode(t, f.Data, "+8613800138000")

	big := `{"phone":"` + strings.Repeat("1", 2<<20) + `"}`
	got = run(t, []specReq{
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "metrics", method: "GET", path: "/metrics", token: et.MetricsToken, want: 200},
		{name: "log checkpoint", method: "GET", path: "/log/checkpoint", want: 200},
		{name: "me", method: "GET", path: "/v1/me", token: et.TokClerk1, want: 200},
		{name: "me security", method: "GET", path: "/v1/me", token: et.TokSecurity, want: 200},
		{name: "me no token", method: "GET", path: "/v1/me", want: 401, code: "unauthenticated"},
		{name: "me wrong method", method: "DELETE", path: "/v1/me", token: et.TokClerk1, want: 405, code: "method_not_allowed"},
		{name: "me bad token", method: "GET", path: "/v1/me", token: "nope-0000000000000000", want: 401, code: "unauthenticated"},
		{name: "read", method: "GET", path: "/v1/customers/c-0001", token: et.TokClerk1, purpose: "ticket:" + t1, want: 200},
		{name: "read no purpose", method: "GET", path: "/v1/customers/c-0001", token: et.TokClerk1, want: 403, code: "purpose_required"},
		{name: "read bad purpose", method: "GET", path: "/v1/customers/c-0001", token: et.TokClerk1, purpose: "because", want: 403, code: "purpose_invalid"},
		{name: "read other customer", method: "GET", path: "/v1/customers/c-0003", token: et.TokClerk1, purpose: "ticket:" + t1, want: 403, code: "purpose_invalid"},
		{name: "read missing customer", method: "GET", path: "/v1/customers/c-9999", token: et.TokClerk1, purpose: "ticket:" + tMiss, want: 404, code: "not_found"},
		{name: "read wildcard", method: "GET", path: "/v1/customers/c-*", token: et.TokClerk1, purpose: "ticket:" + t1, want: 400, code: "invalid_request"},
		{name: "confirm wrong code", method: "POST", path: "/v1/consents/" + k1 + "/confirm", token: et.TokClerk1, body: `{"code":"000000"}`, want: 403},
		{name: "confirm", method: "POST", path: "/v1/consents/" + k1 + "/confirm", token: et.TokClerk1, body: `{"code":"` + code + `"}`, want: 200},
		{name: "confirm unknown", method: "POST", path: "/v1/consents/K-none/confirm", token: et.TokClerk1, body: `{"code":"123456"}`, want: 404, code: "not_found"},
		{name: "read under consent", method: "GET", path: "/v1/customers/c-0001", token: et.TokClerk1, purpose: "consent:" + k1, want: 200},
		{name: "search", method: "POST", path: "/v1/customers/search", token: et.TokClerk1, purpose: "ticket:" + t1, body: `{"phone":"+8613800138000"}`, want: 200},
		{name: "search both", method: "POST", path: "/v1/customers/search", token: et.TokClerk1, purpose: "ticket:" + t1, body: `{"phone":"+8613800138000","account":"liwei@example.com"}`, want: 400, code: "invalid_request"},
		{name: "search too large", method: "POST", path: "/v1/customers/search", token: et.TokClerk1, purpose: "ticket:" + t1, body: big, want: 413, code: "too_large"},
		{name: "list", method: "GET", path: "/v1/customers", token: et.TokManager1, want: 403},
		{name: "export", method: "POST", path: "/v1/customers/export", token: et.TokManager1, want: 403},
		{name: "quota 1", method: "GET", path: "/v1/customers/c-0001", token: et.TokManager1, purpose: "ticket:" + m1, want: 200},
		{name: "quota 2", method: "GET", path: "/v1/customers/c-0003", token: et.TokManager1, purpose: "ticket:" + m3, want: 429, code: "quota_exceeded"},
		{name: "breakglass", method: "POST", path: "/v1/breakglass", token: et.TokClerk1, body: `{"customer":"c-0003","reason":"customer on the phone, system down"}`, want: 201},
		{name: "breakglass bad", method: "POST", path: "/v1/breakglass", token: et.TokClerk1, body: `{"customer":"c-0003"}`, want: 400, code: "invalid_request"},
		{name: "approve unknown", method: "POST", path: "/v1/breakglass/bg-none/approve", token: et.TokManager1, want: 404, code: "not_found"},
		{name: "alerts", method: "GET", path: "/v1/alerts", token: et.TokSecurity, want: 200},
		{name: "alerts bad limit", method: "GET", path: "/v1/alerts?limit=0", token: et.TokSecurity, want: 400, code: "invalid_request"},
		{name: "alerts clerk", method: "GET", path: "/v1/alerts", token: et.TokClerk1, want: 403, code: "forbidden"},
		{name: "notice", method: "POST", path: "/v1/principals/emp-2/notice", token: et.TokSecurity, body: `{"last_day":"2026-12-31"}`, want: 200},
		{name: "notice bad day", method: "POST", path: "/v1/principals/emp-2/notice", token: et.TokSecurity, body: `{"last_day":"soon"}`, want: 400},
		{name: "suspend unknown", method: "POST", path: "/v1/principals/nobody/suspend", token: et.TokSecurity, body: `{"reason":"test"}`, want: 404, code: "not_found"},
		{name: "suspend by clerk", method: "POST", path: "/v1/principals/emp-2/suspend", token: et.TokClerk1, body: `{"reason":"test"}`, want: 403},
		{name: "checkpoint", method: "GET", path: "/v1/audit/checkpoint", token: et.TokAuditor, want: 200},
		{name: "entry bad index", method: "GET", path: "/v1/audit/entries/x", token: et.TokAuditor, want: 400, code: "invalid_request"},
		{name: "entry missing", method: "GET", path: "/v1/audit/entries/99999999", token: et.TokAuditor, want: 404, code: "not_found"},
		{name: "accesses privacy", method: "GET", path: "/v1/subjects/c-0001/accesses", token: et.TokPrivacy, want: 200},
		{name: "accesses clerk", method: "GET", path: "/v1/subjects/c-0001/accesses", token: et.TokClerk1, want: 403},
		{name: "trace clerk", method: "POST", path: "/v1/trace", token: et.TokClerk1, ctype: "text/csv", body: "phone\n+8613800138000\n", want: 403},
		{name: "subject login", method: "POST", path: "/v1/subjects/login", body: `{"phone":"+8613900139000"}`, want: 201},
		{name: "subject login bad", method: "POST", path: "/v1/subjects/login", body: `{"phone":"12"}`, want: 400, code: "invalid_request"},
		{name: "openapi", method: "GET", path: "/openapi.json", want: 200},
		{name: "people", method: "GET", path: "/v1/people?limit=10", token: et.TokSecurity, want: 200},
		{name: "people clerk", method: "GET", path: "/v1/people", token: et.TokClerk1, want: 403},
		{name: "person", method: "GET", path: "/v1/people/emp-1", token: et.TokSecurity, want: 200},
		{name: "audit listing", method: "GET", path: "/v1/audit/entries?limit=5", token: et.TokAuditor, want: 200},
		{name: "policies", method: "GET", path: "/v1/policies", token: et.TokSecurity, want: 200},
		{name: "session none", method: "GET", path: "/session", want: 200},
	})

	// The audit entry the read above produced, with its proof (it may need
	// a moment to be in a checkpoint: 503 pending is documented too).
	for i := 0; i < 50; i++ {
		st, _, _ := do(t, specReq{method: "GET", path: "/v1/audit/entries/0", token: et.TokAuditor})
		if st == 200 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Subject sign-in, history and objection.
	login := idOf(t, got["subject login"])
	scode := outboxCode(t, f.Data, "+8613900139000")
	st, _, b := do(t, specReq{method: "POST", path: "/v1/subjects/login/" + login + "/confirm", body: `{"code":"` + scode + `"}`})
	if st != 200 {
		t.Fatalf("subject confirm: %d %s", st, b)
	}
	var sess struct{ Token string }
	json.Unmarshal(b, &sess)
	// c-0002 has an access to object to: emp-2 reading it under a ticket.
	t2 := idOf(t, run(t, []specReq{{name: "t2", method: "POST", path: "/v1/tickets", token: et.TokClerk2, body: `{"customer":"c-0002"}`, want: 201}})["t2"])
	_, h, _ := do(t, specReq{method: "GET", path: "/v1/customers/c-0002", token: et.TokClerk2, purpose: "ticket:" + t2})
	run(t, []specReq{
		{name: "own accesses", method: "GET", path: "/v1/subjects/c-0002/accesses", token: sess.Token, want: 200},
		{name: "other's accesses", method: "GET", path: "/v1/subjects/c-0001/accesses", token: sess.Token, want: 403},
		{name: "objection", method: "POST", path: "/v1/subjects/c-0002/objections", token: sess.Token, body: `{"index":` + h.Get("Custos-Audit-Index") + `,"comment":"not me"}`, want: 201},
		{name: "objection no session", method: "POST", path: "/v1/subjects/c-0002/objections", body: `{"index":0}`, want: 401, code: "unauthenticated"},
		{name: "suspend", method: "POST", path: "/v1/principals/emp-2/suspend", token: et.TokSecurity, body: `{"reason":"test"}`, want: 200},
	})
	// Suspension reaches the principal cache within a second.
	waitUntil(t, 3*time.Second, "the suspended clerk refused with 423", func() bool {
		st, _, _ := do(t, specReq{method: "GET", path: "/v1/customers/c-0002", token: et.TokClerk2, purpose: "ticket:" + t2})
		return st == 423
	})
	run(t, []specReq{
		{name: "suspended opens ticket", method: "POST", path: "/v1/tickets", token: et.TokClerk2, body: `{"customer":"c-0002"}`, want: 423, code: "principal_suspended"},
		{name: "reinstate", method: "POST", path: "/v1/principals/emp-2/reinstate", token: et.TokSecurity, body: `{"reason":"test"}`, want: 200},
		{name: "audit search", method: "GET", path: "/v1/audit/search?actor=emp-2&limit=2", token: et.TokAuditor, want: 200},
		{name: "audit search clerk", method: "GET", path: "/v1/audit/search", token: et.TokClerk1, want: 403, code: "forbidden"},
		{name: "audit search bad", method: "GET", path: "/v1/audit/search?cursor=x", token: et.TokAuditor, want: 400, code: "invalid_request"},
		{name: "case", method: "POST", path: "/v1/alerts/1/case", token: et.TokSecurity, want: 201},
		{name: "cases", method: "GET", path: "/v1/cases", token: et.TokSecurity, want: 200},
		{name: "case one", method: "GET", path: "/v1/cases/1", token: et.TokSecurity, want: 200},
		{name: "case patch", method: "PATCH", path: "/v1/cases/1", token: et.TokSecurity, body: `{"status":"investigating","note":"looking"}`, want: 200},
		{name: "case patch bad", method: "PATCH", path: "/v1/cases/1", token: et.TokSecurity, body: `{"status":"done"}`, want: 400, code: "invalid_request"},
		{name: "case none", method: "GET", path: "/v1/cases/999", token: et.TokSecurity, want: 404, code: "not_found"},
		{name: "evidence", method: "GET", path: "/v1/cases/1/evidence", token: et.TokSecurity, want: 200},
		{name: "incident", method: "POST", path: "/v1/incidents", token: et.TokPrivacy, want: 201,
			body: `{"title":"t","found_at":"2026-01-02T03:04:05Z","fields":["phone"],"leak":"phone\n+8613800138000\n","notice":"n"}`},
		{name: "incident bad", method: "POST", path: "/v1/incidents", token: et.TokPrivacy, body: `{"title":""}`, want: 400, code: "invalid_request"},
		{name: "incidents", method: "GET", path: "/v1/incidents", token: et.TokSecurity, want: 200},
		{name: "incident one", method: "GET", path: "/v1/incidents/1", token: et.TokSecurity, want: 200},
		{name: "incident report", method: "GET", path: "/v1/incidents/1/report", token: et.TokSecurity, want: 200},
		{name: "subject incidents", method: "GET", path: "/v1/subjects/c-0001/incidents", token: et.TokPrivacy, want: 200},
		{name: "erase clerk", method: "POST", path: "/v1/subjects/c-0003/erase", token: et.TokClerk1, body: `{"reason":"x"}`, want: 403, code: "forbidden"},
		{name: "erase", method: "POST", path: "/v1/subjects/c-0003/erase", token: et.TokPrivacy, body: `{"reason":"asked"}`, want: 200},
		{name: "crm put", method: "PUT", path: "/v1/customers/c-0009", token: et.TokIntegrator, want: 201,
			body: `{"name":"New Customer","phone":"+8613611112222","account":"new@example.com","region":"GD","site":"store-1"}`},
		{name: "crm put clerk", method: "PUT", path: "/v1/customers/c-0009", token: et.TokClerk1, body: `{"name":"x"}`, want: 403, code: "forbidden"},
		{name: "crm put erased", method: "PUT", path: "/v1/customers/c-0003", token: et.TokIntegrator, want: 409, code: "conflict",
			body: `{"name":"Back Again","phone":"+8613633334444","account":"b@example.com","region":"GD","site":"store-1"}`},
	})

	// Every contract error status was seen and validated.
	cov := tr.covered()
	for _, want := range []string{
		"GET /v1/customers/{id} 200", "GET /v1/customers/{id} 400", "GET /v1/customers/{id} 403", "GET /v1/customers/{id} 404",
		"GET /v1/customers/{id} 423", "GET /v1/customers/{id} 429", "POST /v1/customers/search 413", "GET /v1/me 401",
		"POST /v1/consents/{id}/confirm 200", "GET /v1/subjects/{customer}/accesses 200", "POST /v1/subjects/{customer}/objections 201",
		"GET /v1/audit/search 200", "POST /v1/alerts/{id}/case 201", "PATCH /v1/cases/{id} 200", "GET /v1/cases/{id}/evidence 200",
		"POST /v1/incidents 201", "GET /v1/incidents/{id}/report 200", "GET /v1/subjects/{customer}/incidents 200", "POST /v1/subjects/{customer}/erase 200",
	} {
		if !cov[want] {
			t.Errorf("walk did not validate %q", want)
		}
	}
	if testing.Verbose() {
		for k := range cov {
			t.Log("validated:", k)
		}
	}
}
