package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// TestPutCustomer drives the CRM's write at the gateway: only the
// integration writes, every decision is audited without personal data, a
// bad record changes nothing, and the written record reads back sealed and
// findable by its new phone.
func TestPutCustomer(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	crm := f.principal(t, "crm")
	if _, err := f.st.Customer(ctx, "c-1"); err != nil { // now in the store's row cache
		t.Fatal(err)
	}
	in := gateway.CustomerInput{Name: "Ouyang Xiaoming", Phone: "135 1234 5678", Account: "Ouyang@CRM.example", Region: "gd", Site: "store-1"}

	for _, tc := range []struct {
		id          string
		wantCreated bool
	}{{"c-9", true}, {"c-1", false}} {
		res, err := f.gw.PutCustomer(ctx, crm, tc.id, in)
		if err != nil || res != (gateway.CustomerWrite{ID: tc.id, Created: tc.wantCreated}) {
			t.Fatalf("PutCustomer(%s) = %+v, %v; want created=%v", tc.id, res, err, tc.wantCreated)
		}
		ev := f.last(t)
		if ev.Action != event.ActionWrite || ev.Decision != event.Allow || ev.Customer != tc.id || ev.Actor != "crm" ||
			ev.CustomerRegion != "GD" || ev.CustomerSite != "store-1" {
			t.Errorf("audit event %+v", ev)
		}
		raw, _ := json.Marshal(ev)
		for _, v := range []string{"Ouyang", "12345678", "crm.example"} {
			if strings.Contains(strings.ToLower(string(raw)), strings.ToLower(v)) {
				t.Errorf("audit event holds %q: %s", v, raw)
			}
		}
	}
	c, err := f.st.Customer(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if phone, err := f.gw.Vault.Unseal(c, "phone"); err != nil || phone != "+8613512345678" {
		t.Errorf("stored phone %q, %v", phone, err)
	}
	if got, err := f.st.CustomerByPhone(ctx, f.gw.Vault.BlindIndex("phone", "+8613512345678")); err != nil || got.ID != "c-1" {
		t.Errorf("by the new phone: %s, %v", got.ID, err)
	}
	if ids, err := f.st.CustomerByFormer(ctx, store.FormerPhone, f.gw.Vault.BlindIndex("phone", "+8613800000001")); err != nil || len(ids) != 1 || ids[0] != "c-1" {
		t.Errorf("the replaced phone's index: %v, %v; want [c-1]", ids, err)
	}

	before, _ := f.st.AuditSize(ctx)
	refused := []struct {
		name string
		p    store.Principal
		id   string
		in   gateway.CustomerInput
		code string
	}{
		{"clerk", f.principal(t, "clerk-1"), "c-2", in, "forbidden"},
		{"analyst", f.principal(t, "analyst-1"), "c-2", in, "forbidden"},
		{"suspended integration", func() store.Principal { p := crm; p.Status = store.StatusSuspended; return p }(), "c-2", in, "principal_suspended"},
		{"bad phone", crm, "c-2", gateway.CustomerInput{Name: "X", Phone: "nope", Account: "x@y", Region: "GD"}, "invalid_request"},
		{"no name", crm, "c-2", gateway.CustomerInput{Phone: "+8613512345678", Account: "x@y", Region: "GD"}, "invalid_request"},
		{"wildcard id", crm, "c-%", in, "invalid_request"},
	}
	audited := 0
	for _, tc := range refused {
		_, err := f.gw.PutCustomer(ctx, tc.p, tc.id, tc.in)
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Code != tc.code {
			t.Errorf("%s: %v; want %s", tc.name, err, tc.code)
		}
		if tc.code != "invalid_request" {
			audited++
			if ev := f.last(t); ev.Action != event.ActionWrite || ev.Decision != event.Deny {
				t.Errorf("%s: audit event %+v; want a customer.write deny", tc.name, ev)
			}
		}
	}
	if after, _ := f.st.AuditSize(ctx); after != before+uint64(audited) {
		t.Errorf("%d audit records for %d refusals with a decision; bad requests record none", after-before, audited)
	}
	if c2, err := f.st.Customer(ctx, "c-2"); err != nil || string(c2.PhoneIndex) != string(f.gw.Vault.BlindIndex("phone", "+8613800000002")) {
		t.Errorf("c-2 after refused writes: %+v, %v", c2, err)
	}
}
