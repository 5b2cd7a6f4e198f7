// End-to-end tests of purpose integrity (issue 15): each insider attack
// found from outside is replayed against the built binary and must fail.
package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/internal/event"
)

// TestTicketBelongsToItsHolder: a colleague at the same store cannot read
// under someone else's ticket; a hand-over moves access, a close ends it.
func TestTicketBelongsToItsHolder(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	tid := openTicket(t, s, et.TokClerk1, "c-0001")
	read := func(tok string) et.Response {
		return s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: tok, Purpose: "ticket:" + tid})
	}
	if r := read(et.TokManager1); r.Status != 403 || r.ErrorCode() != "purpose_invalid" {
		t.Fatalf("colleague read under a ticket that is not theirs: %d %s", r.Status, r.Body)
	}
	if r := read(et.TokClerk1); r.Status != 200 {
		t.Fatalf("opener: %d %s", r.Status, r.Body)
	}
	if ev := auditEvent(t, f.Data, auditIndex(t, read(et.TokClerk1))); ev["basis"] != "own_ticket" {
		t.Fatalf("read event basis %v", ev["basis"])
	}
	// Staff cannot choose ticket ids.
	if r := s.Do(t, et.Req{Path: "/v1/tickets", Token: et.TokClerk1, Body: map[string]string{"customer": "c-0001", "id": "T-mine"}}); r.Status != 403 {
		t.Fatalf("staff chose a ticket id: %d %s", r.Status, r.Body)
	}
	// Hand-over: a colleague from another store is refused; one at the same store gets it.
	if r := s.Do(t, et.Req{Path: "/v1/tickets/" + tid + "/assign", Token: et.TokClerk1, Body: map[string]string{"to": "emp-2"}}); r.Status != 400 {
		t.Fatalf("handed to another store: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/tickets/" + tid + "/assign", Token: et.TokClerk1, Body: map[string]string{"to": "mgr-1"}}); r.Status != 200 {
		t.Fatalf("assign: %d %s", r.Status, r.Body)
	}
	if r := read(et.TokClerk1); r.Status != 403 {
		t.Fatalf("the previous holder still reads: %d %s", r.Status, r.Body)
	}
	r := read(et.TokManager1)
	if r.Status != 200 {
		t.Fatalf("assignee: %d %s", r.Status, r.Body)
	}
	if ev := auditEvent(t, f.Data, auditIndex(t, r)); ev["basis"] != "assigned_ticket" {
		t.Fatalf("basis %v", ev["basis"])
	}
	if r := s.Do(t, et.Req{Path: "/v1/tickets/" + tid + "/close", Token: et.TokManager1, Method: "POST"}); r.Status != 200 {
		t.Fatalf("close: %d %s", r.Status, r.Body)
	}
	if r := read(et.TokManager1); r.Status != 403 {
		t.Fatalf("read under a closed ticket: %d %s", r.Status, r.Body)
	}
	// Bad input on the new endpoints: the contract's JSON error.
	for _, req := range []et.Req{
		{Path: "/v1/tickets/" + tid + "/assign", Token: et.TokClerk1, Body: "{"},
		{Path: "/v1/tickets/" + tid + "/assign", Token: et.TokClerk1, Body: map[string]string{"to": "a b"}},
		{Path: "/v1/tickets/T-nope/close", Token: et.TokClerk1, Method: "POST"},
	} {
		if r := s.Do(t, req); r.Status < 400 || r.Status >= 500 || r.ErrorCode() == "" {
			t.Fatalf("%s: %d %s", req.Path, r.Status, r.Body)
		}
	}
}

// TestTicketStuffingSpendsQuota: opening tickets spends the opener's
// distinct-customer quota, so 300 tickets in a burst are refused long
// before the end.
func TestTicketStuffingSpendsQuota(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	refused := burst(t, s, 60, "quota_exceeded", func(i int) et.Req {
		return et.Req{Path: "/v1/tickets", Token: et.TokClerk1, Body: map[string]string{"customer": fmt.Sprintf("c-%04d", i)}}
	})
	if len(refused) == 0 {
		t.Fatal("60 tickets for 60 customers spent no quota (store_clerk: 40 an hour)")
	}
}

// burst sends n requests made by req and returns the answers refused with
// 429 and the error code code; any other answer than 201 fails the test.
func burst(t *testing.T, s *et.Server, n int, code string, req func(i int) et.Req) []et.Response {
	t.Helper()
	var refused []et.Response
	for i := range n {
		r := s.Do(t, req(i))
		switch {
		case r.Status == 429 && r.ErrorCode() == code:
			refused = append(refused, r)
		case r.Status != 201:
			t.Fatalf("request %d: %d %s", i, r.Status, r.Body)
		}
	}
	return refused
}

// TestConsentCodeCannotBeRaced: 60 guesses sent at once, the right code in
// the middle; at most ConsentMaxAttempts (5) of them are compared.
func TestConsentCodeCannotBeRaced(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	id := startConsent(t, s, et.TokClerk1, "c-0001")
	code := outboxCode(t, f.Data, "+8613800138000")
	var mu sync.Mutex
	compared := 0
	var wg sync.WaitGroup
	for i := 0; i < 60; i++ {
		guess := "000000"
		if code == guess {
			guess = "111111"
		}
		if i == 30 {
			guess = code
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := s.Do(t, et.Req{Path: "/v1/consents/" + id + "/confirm", Token: et.TokClerk1, Body: map[string]string{"code": guess}})
			if r.Status == 200 || strings.Contains(string(r.Body), "attempts left") || strings.Contains(string(r.Body), "now locked") {
				mu.Lock()
				compared++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if compared > 5 {
		t.Fatalf("%d of 60 concurrent guesses were compared; at most 5 may be", compared)
	}
}

// TestContainmentTakesTwoAnalysts: one analyst alone cannot suspend
// another company role; the same call by a second analyst does it.
func TestContainmentTakesTwoAnalysts(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	suspend := func(tok string) et.Response {
		return s.Do(t, et.Req{Path: "/v1/principals/priv-1/suspend", Token: tok, Body: map[string]string{"reason": "test"}})
	}
	if r := s.Do(t, et.Req{Path: "/v1/principals/emp-1/suspend", Token: et.TokSecurity, Method: "POST"}); r.Status != 400 {
		t.Fatalf("suspend without a reason: %d %s", r.Status, r.Body)
	}
	if r := suspend(et.TokSecurity); r.Status != 202 || r.JSON(t)["status"] != "pending_approval" {
		t.Fatalf("first analyst: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokPrivacy}); r.JSON(t)["status"] != "active" {
		t.Fatalf("one analyst alone suspended a company role: %s", r.Body)
	}
	if r := suspend(et.TokSecurity2); r.Status != 200 {
		t.Fatalf("second analyst: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokPrivacy}); r.Status != 200 || r.JSON(t)["status"] != "suspended" {
		t.Fatalf("after two analysts: %d %s", r.Status, r.Body)
	}
}

// TestNoSelfMadePrivilegedIdentities: SCIM cannot create a company role,
// and reserved ids are refused by the import and SCIM.
func TestNoSelfMadePrivilegedIdentities(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	user := func(name, role string) map[string]any {
		return map[string]any{"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:User",
			"urn:custos:params:scim:schemas:extension:custos:2.0:User"}, "userName": name,
			"urn:custos:params:scim:schemas:extension:custos:2.0:User": map[string]any{"org": "dist-1", "orgKind": "distributor", "role": role, "site": "store-1"}}
	}
	hdr := map[string]string{"Content-Type": "application/scim+json"}
	if r := s.Do(t, et.Req{Path: "/scim/v2/Users", Token: et.TokProvision, Body: user("evil-analyst", "security_analyst"), Header: hdr}); r.Status < 400 || r.Status >= 500 {
		t.Fatalf("SCIM created a security analyst: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/scim/v2/Users", Token: et.TokProvision, Body: user("custos:evil", "store_clerk"), Header: hdr}); r.Status != 400 {
		t.Fatalf("SCIM created a reserved id: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/scim/v2/Users", Token: et.TokProvision, Body: user("new-clerk", "store_clerk"), Header: hdr}); r.Status != 201 {
		t.Fatalf("SCIM could not create a clerk: %d %s", r.Status, r.Body)
	}
	s.Stop(t)
	p := et.WriteFile(t, f.Dir, "evil.csv", "id,name,org,org_kind,role,site,region,token\ncustos:evil,Evil,dist-1,distributor,store_clerk,store-1,GD,\n")
	if _, errOut, code := et.Run(t, "", "import", "--data", f.Data, "--principals", p); code != 2 || !strings.Contains(errOut, "reserved") {
		t.Fatalf("import of custos:evil: exit %d %s", code, errOut)
	}
}

// TestSignInIsNoTextingCannon: sign-ins for many numbers from one address
// are refused after a few, with Retry-After.
func TestSignInIsNoTextingCannon(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	limited := burst(t, s, 30, "rate_limited", func(i int) et.Req {
		return et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": fmt.Sprintf("+86137%08d", i)}}
	})
	if len(limited) < 15 {
		t.Fatalf("only %d of 30 sign-ins from one address were limited", len(limited))
	}
	for _, r := range limited {
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("429 without Retry-After: %s", r.Body)
		}
	}
}

// TestMetricsAreForTheOperator: /metrics is not served to anyone who can
// reach the API.
func TestMetricsAreForTheOperator(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	if r := s.Do(t, et.Req{Path: "/metrics"}); r.Status == 200 {
		t.Fatalf("/metrics served without the operator's token")
	}
	if r := s.Do(t, et.Req{Path: "/metrics", Token: et.TokSecurity}); r.Status == 200 {
		t.Fatalf("/metrics served to an API token")
	}
	if r := s.Do(t, et.Req{Path: "/metrics", Token: et.MetricsToken}); r.Status != 200 {
		t.Fatalf("/metrics refused the operator: %d", r.Status)
	}
}

// TestCustomerPageNamesNoPerson: the customer's own history, proofs
// included, names the company, role and site of each access but never the
// staff member, and every entry still verifies; the privacy role sees the
// id and its proof opens the actor commitment to it.
func TestCustomerPageNamesNoPerson(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	defer s.Stop(t)
	tid := openTicket(t, s, et.TokClerk2, "c-0002")
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tid}); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk1, Purpose: "ticket:" + tid}) // denied, also shown
	key, errOut, code := et.Run(t, "", "audit", "key", "--data", f.Data)
	if code != 0 {
		t.Fatalf("audit key: %d %s", code, errOut)
	}
	key = strings.TrimSpace(key)

	login := s.Do(t, et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": "+8613900139000"}})
	if login.Status != 201 {
		t.Fatalf("subject login: %d %s", login.Status, login.Body)
	}
	conf := s.Do(t, et.Req{Path: "/v1/subjects/login/" + login.JSON(t)["id"].(string) + "/confirm",
		Body: map[string]string{"code": outboxCode(t, f.Data, "+8613900139000")}})
	if conf.Status != 200 {
		t.Fatalf("subject confirm: %d %s", conf.Status, conf.Body)
	}
	own := conf.JSON(t)["token"].(string)

	type access struct {
		Actor string               `json:"actor"`
		Org   string               `json:"org"`
		Site  string               `json:"site"`
		Proof *auditlog.EntryProof `json:"proof"`
	}
	history := func(tok string) (string, []access) {
		for range 50 { // until both entries are in a signed checkpoint
			r := s.Do(t, et.Req{Path: "/v1/subjects/c-0002/accesses", Token: tok})
			if r.Status != 200 {
				t.Fatalf("accesses: %d %s", r.Status, r.Body)
			}
			var body struct{ Accesses []access }
			if err := json.Unmarshal(r.Body, &body); err != nil {
				t.Fatal(err)
			}
			pending := len(body.Accesses) != 2
			for _, a := range body.Accesses {
				pending = pending || a.Proof == nil || a.Proof.Pending
			}
			if !pending {
				return string(r.Body), body.Accesses
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatal("the accesses never reached a signed checkpoint")
		return "", nil
	}

	raw, mine := history(own)
	for _, a := range mine {
		if a.Actor != "" || a.Proof.ActorSalt != nil {
			t.Errorf("the customer's view names or opens the actor: %+v", a)
		}
		if err := a.Proof.Verify(key); err != nil {
			t.Errorf("the customer's proof of entry %d does not verify: %v", a.Proof.Index, err)
		}
		if a.Org == "" || a.Site == "" {
			t.Errorf("the customer's view lost the company or site: %+v", a)
		}
		if strings.Contains(string(a.Proof.EventBytes), "emp-") {
			t.Errorf("committed bytes name a person: %s", a.Proof.EventBytes)
		}
	}
	for _, id := range []string{"emp-1", "emp-2"} {
		if strings.Contains(raw, id) {
			t.Errorf("the customer's page carries staff id %s:\n%s", id, raw)
		}
	}

	_, theirs := history(et.TokPrivacy)
	actors := map[string]bool{}
	for _, a := range theirs {
		actors[a.Actor] = true
		if err := a.Proof.Verify(key); err != nil {
			t.Errorf("the privacy role's proof of entry %d does not verify: %v", a.Proof.Index, err)
		}
		forged := *a.Proof
		ev, _ := event.Parse(forged.Event)
		ev.Actor = "mgr-1"
		forged.Event = ev.Canonical()
		if forged.Verify(key) == nil {
			t.Errorf("entry %d still verifies when it names someone else", a.Proof.Index)
		}
	}
	if !actors["emp-1"] || !actors["emp-2"] {
		t.Errorf("the privacy role does not see who it was: %v", actors)
	}
}
