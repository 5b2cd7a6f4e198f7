package gateway_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// These tests drive the security core directly, without HTTP, on a real
// SQLite store and a real audit log: every refusal must carry the
// contract's code and leave its own audit record, and the insider attacks
// of issue 15 (a colleague's ticket, ticket stuffing, raced codes, one
// analyst undoing containment) must fail.

type fixture struct {
	gw    *gateway.Gateway
	st    *sqlite.Store
	log   *auditlog.Log
	now   atomic.Int64
	codes sync.Map // phone → last text
}

type notifier struct{ f *fixture }

func (n notifier) Notify(_ context.Context, to, text string) error {
	n.f.codes.Store(to, text)
	return nil
}

var staff = []store.Principal{
	{ID: "clerk-1", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: "store-1", Region: "GD"},
	{ID: "clerk-2", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk", Site: "store-1", Region: "GD"},
	{ID: "clerk-3", Org: "dist-2", OrgKind: "distributor", Role: "store_clerk", Site: "store-2", Region: "GD"},
	{ID: "manager-1", Org: "dist-1", OrgKind: "distributor", Role: "store_manager", Site: "store-1", Region: "GD"},
	{ID: "analyst-1", Org: "brand", OrgKind: "company", Role: "security_analyst"},
	{ID: "analyst-2", Org: "brand", OrgKind: "company", Role: "security_analyst"},
	{ID: "crm", Org: "brand", OrgKind: "company", Role: "integration"},
}

func newFixture(t *testing.T, quota int) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	v, err := vault.Open(ctx, st, vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	for _, c := range []struct{ id, phone string }{{"c-1", "+8613800000001"}, {"c-2", "+8613800000002"}, {"c-3", "+8613800000003"}} {
		b.Customers = append(b.Customers, store.Customer{ID: c.id, Region: "GD", Site: "store-1",
			Name: v.Seal(c.id, "name", "Name "+c.id), Phone: v.Seal(c.id, "phone", c.phone), Account: v.Seal(c.id, "account", c.id+"@example.com"),
			PhoneIndex: v.BlindIndex(vault.IndexPhone, c.phone)})
	}
	for _, p := range staff {
		p.Status = store.StatusActive
		b.Principals = append(b.Principals, p)
	}
	if err := st.Import(ctx, b); err != nil {
		t.Fatal(err)
	}
	lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close(context.Background()) })
	cfg := config.Default()
	cfg.Quotas = map[string]config.Quota{"store_clerk": {CustomersPerHour: quota, CustomersPerDay: quota}}
	f := &fixture{st: st, log: lg}
	f.now.Store(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC).UnixNano())
	f.gw = &gateway.Gateway{Store: st, Vault: v, Policy: policy.Default(), Audit: lg, Config: cfg,
		Notifier: notifier{f}, Now: func() time.Time { return time.Unix(0, f.now.Load()) }}
	t.Cleanup(f.gw.Close)
	return f
}

func (f *fixture) advance(d time.Duration) { f.now.Add(int64(d)) }

func (f *fixture) principal(t *testing.T, id string) store.Principal {
	t.Helper()
	p, err := f.st.Principal(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// last returns the newest audit event.
func (f *fixture) last(t *testing.T) event.Event {
	t.Helper()
	ctx := context.Background()
	n, err := f.st.AuditSize(ctx)
	if err != nil || n == 0 {
		t.Fatalf("audit size %d: %v", n, err)
	}
	recs, err := f.st.AuditRange(ctx, n-1, n)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := event.Parse(recs[0].Event)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func (f *fixture) ticket(t *testing.T, by, customer string) string {
	t.Helper()
	tv, err := f.gw.OpenTicket(context.Background(), f.principal(t, by), gateway.TicketRequest{Customer: customer})
	if err != nil {
		t.Fatalf("open ticket: %v", err)
	}
	return tv.ID
}

// wantDenied checks err carries code and that the newest audit entry is
// the matching denial.
func (f *fixture) wantDenied(t *testing.T, err error, code, reason string) {
	t.Helper()
	if got := gateway.Code(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
	if ev := f.last(t); ev.Decision != event.Deny || ev.Reason != reason {
		t.Fatalf("last audit event %s %s/%s, want deny/%s", ev.Action, ev.Decision, ev.Reason, reason)
	}
}

func TestReadDenials(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100)
	own := f.ticket(t, "clerk-1", "c-1")
	other := f.ticket(t, "clerk-3", "c-1") // another store's ticket
	closed := f.ticket(t, "clerk-1", "c-2")
	if _, err := f.gw.CloseTicket(ctx, f.principal(t, "clerk-1"), closed); err != nil {
		t.Fatal(err)
	}
	ghost := f.ticket(t, "clerk-1", "c-404") // tickets for made-up ids cost quota, reveal nothing

	for _, tc := range []struct {
		name, who, customer, purpose string
		code, reason                 string
	}{
		{"no purpose", "clerk-1", "c-1", "", "purpose_required", "purpose_required"},
		{"malformed purpose", "clerk-1", "c-1", "ticket", "purpose_invalid", "purpose_invalid"},
		{"unknown purpose kind", "clerk-1", "c-1", "hunch:c-1", "purpose_invalid", "purpose_invalid"},
		{"colleague's ticket", "clerk-2", "c-1", "ticket:" + own, "purpose_invalid", "purpose_invalid"},
		{"another site's ticket", "clerk-1", "c-1", "ticket:" + other, "purpose_invalid", "purpose_invalid"},
		{"ticket for another customer", "clerk-1", "c-2", "ticket:" + own, "purpose_invalid", "purpose_invalid"},
		{"closed ticket", "clerk-1", "c-2", "ticket:" + closed, "purpose_invalid", "purpose_invalid"},
		{"no such ticket", "clerk-1", "c-1", "ticket:T-nope", "purpose_invalid", "purpose_invalid"},
		{"unconfirmed consent", "clerk-1", "c-1", "consent:K-nope", "purpose_invalid", "purpose_invalid"},
		{"break-glass without approval", "clerk-1", "c-1", "breakglass:urgent", "purpose_invalid", "purpose_invalid"},
		{"customer that does not exist", "clerk-1", "c-404", "ticket:" + ghost, "not_found", "not_found"},
		{"bad id", "clerk-1", "c-*", "", "invalid_request", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.gw.Read(ctx, f.principal(t, tc.who), tc.customer, tc.purpose)
			if tc.reason == "" {
				if gateway.Code(err) != tc.code {
					t.Fatalf("error %v, want %s", err, tc.code)
				}
				return
			}
			f.wantDenied(t, err, tc.code, tc.reason)
		})
	}

	t.Run("own ticket", func(t *testing.T) {
		v, err := f.gw.Read(ctx, f.principal(t, "clerk-1"), "c-1", "ticket:"+own)
		if err != nil {
			t.Fatal(err)
		}
		if v.Phone == nil || *v.Phone == "+8613800000001" {
			t.Fatalf("phone %v: want it masked", v.Phone)
		}
		ev := f.last(t)
		if ev.Decision != event.Allow || ev.Basis != event.BasisOwnTicket {
			t.Fatalf("audit %s/%s basis %q", ev.Decision, ev.Reason, ev.Basis)
		}
		// The event says what was shown, and which of it only masked (the
		// detectors weigh a read by what it took in clear).
		if !slices.Contains(ev.Fields, "phone") || !slices.Contains(ev.Masked, "phone") || slices.Contains(ev.Masked, "name") {
			t.Fatalf("audit fields %v, masked %v: want the phone shown masked, the name in clear", ev.Fields, ev.Masked)
		}
	})
	t.Run("expired ticket", func(t *testing.T) {
		f.advance(73 * time.Hour)
		_, err := f.gw.Read(ctx, f.principal(t, "clerk-1"), "c-1", "ticket:"+own)
		f.wantDenied(t, err, "purpose_invalid", "purpose_invalid")
	})
	t.Run("suspended", func(t *testing.T) {
		if err := f.gw.Contain(ctx, "clerk-2", store.StatusSuspended, "test"); err != nil {
			t.Fatal(err)
		}
		_, err := f.gw.Read(ctx, f.principal(t, "clerk-2"), "c-1", "")
		f.wantDenied(t, err, "principal_suspended", "principal_suspended")
	})
}

func TestTicketHandOver(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100)
	id := f.ticket(t, "clerk-1", "c-1")
	clerk1, clerk2 := f.principal(t, "clerk-1"), f.principal(t, "clerk-2")

	if _, err := f.gw.AssignTicket(ctx, clerk2, id, "clerk-2"); gateway.Code(err) != "not_found" {
		t.Fatalf("a colleague took the ticket: %v", err)
	}
	if _, err := f.gw.AssignTicket(ctx, clerk1, id, "clerk-3"); gateway.Code(err) != "invalid_request" {
		t.Fatalf("handed to another site: %v", err)
	}
	if _, err := f.gw.AssignTicket(ctx, clerk1, id, "clerk-2"); err != nil {
		t.Fatal(err)
	}
	if ev := f.last(t); ev.Action != event.ActionTicketAssign || ev.Target != "clerk-2" {
		t.Fatalf("hand-over audited as %+v", ev)
	}
	if _, err := f.gw.Read(ctx, clerk1, "c-1", "ticket:"+id); gateway.Code(err) != "purpose_invalid" {
		t.Fatalf("the previous holder still reads: %v", err)
	}
	if _, err := f.gw.Read(ctx, clerk2, "c-1", "ticket:"+id); err != nil {
		t.Fatal(err)
	}
	if ev := f.last(t); ev.Basis != event.BasisAssignedTicket {
		t.Fatalf("basis %q", ev.Basis)
	}
	if _, err := f.gw.CloseTicket(ctx, f.principal(t, "manager-1"), id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.gw.Read(ctx, clerk2, "c-1", "ticket:"+id); gateway.Code(err) != "purpose_invalid" {
		t.Fatalf("read under a closed ticket: %v", err)
	}
}

func TestTicketRules(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 2)
	clerk := f.principal(t, "clerk-1")
	for _, tc := range []struct {
		name string
		req  gateway.TicketRequest
		code string
	}{
		{"own id", gateway.TicketRequest{Customer: "c-1", ID: "T-mine"}, "forbidden"},
		{"other site", gateway.TicketRequest{Customer: "c-1", Site: "store-2"}, "forbidden"},
		{"assignee", gateway.TicketRequest{Customer: "c-1", Assignee: "clerk-2"}, "forbidden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.gw.OpenTicket(ctx, clerk, tc.req)
			f.wantDenied(t, err, tc.code, tc.code)
		})
	}
	t.Run("stuffing spends quota", func(t *testing.T) {
		f.ticket(t, "clerk-1", "c-1")
		f.ticket(t, "clerk-1", "c-2")
		f.ticket(t, "clerk-1", "c-1") // the same customer costs nothing more
		_, err := f.gw.OpenTicket(ctx, clerk, gateway.TicketRequest{Customer: "c-3"})
		f.wantDenied(t, err, "quota_exceeded", "quota_exceeded")
	})
	t.Run("crm names the holder", func(t *testing.T) {
		crm := f.principal(t, "crm")
		tv, err := f.gw.OpenTicket(ctx, crm, gateway.TicketRequest{Customer: "c-3", Site: "store-1", ID: "CRM-1", Assignee: "clerk-2"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.gw.OpenTicket(ctx, crm, gateway.TicketRequest{Customer: "c-3", Site: "store-1", ID: tv.ID}); gateway.Code(err) != "conflict" {
			t.Fatalf("duplicate CRM id: %v", err)
		}
		if _, err := f.gw.Read(ctx, f.principal(t, "clerk-2"), "c-3", "ticket:CRM-1"); err != nil {
			t.Fatal(err)
		}
		if ev := f.last(t); ev.Basis != event.BasisCRMTicket {
			t.Fatalf("basis %q", ev.Basis)
		}
	})
}

// TestConsentCodeRace sends 60 guesses at once, the right code among them:
// only ConsentMaxAttempts of them are ever compared.
func TestConsentCodeRace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100)
	clerk := f.principal(t, "clerk-1")
	k, err := f.gw.StartConsent(ctx, clerk, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	f.gw.Close() // deliver the code now
	v, _ := f.codes.Load("+8613800000001")
	text, _ := v.(string)
	code := text[len(text)-6-len(". Valid 10 minutes.") : len(text)-len(". Valid 10 minutes.")]
	var wg sync.WaitGroup
	var ok, locked atomic.Int32
	for i := 0; i < 60; i++ {
		guess := "000000"
		if i == 30 {
			guess = code
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.gw.ConfirmConsent(ctx, clerk, k.ID, guess)
			if err == nil {
				ok.Add(1)
			}
			var ge *gateway.Error
			if errors.As(err, &ge) && ge.Code == "forbidden" {
				locked.Add(1)
			}
		}()
	}
	wg.Wait()
	compared := 0
	n, _ := f.st.AuditSize(ctx)
	recs, _ := f.st.AuditRange(ctx, 0, n)
	for _, r := range recs {
		ev, _ := event.Parse(r.Event)
		if ev.Action == event.ActionConsentConfirm && (ev.Reason == "wrong_code" || ev.Decision == event.Allow) {
			compared++
		}
	}
	if compared > 5 {
		t.Fatalf("%d codes compared, want at most 5", compared)
	}
	if int(ok.Load())+int(locked.Load()) != 60 {
		t.Fatalf("%d accepted + %d refused != 60", ok.Load(), locked.Load())
	}
}

func TestTwoAnalysts(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, 100)
	a1 := f.principal(t, "analyst-1")

	t.Run("reason required", func(t *testing.T) {
		if _, err := f.gw.ChangeStatus(ctx, a1, "clerk-1", store.StatusSuspended, ""); gateway.Code(err) != "invalid_request" {
			t.Fatalf("no reason: %v", err)
		}
	})
	t.Run("one analyst suspends a clerk", func(t *testing.T) {
		res, err := f.gw.ChangeStatus(ctx, a1, "clerk-1", store.StatusSuspended, "bulk reads")
		if err != nil || res.Pending || f.principal(t, "clerk-1").Status != store.StatusSuspended {
			t.Fatalf("%+v %v", res, err)
		}
	})
	t.Run("another analyst takes two", func(t *testing.T) {
		res, err := f.gw.ChangeStatus(ctx, a1, "analyst-2", store.StatusSuspended, "rogue")
		if err != nil || !res.Pending {
			t.Fatalf("first call: %+v %v", res, err)
		}
		if f.principal(t, "analyst-2").Status == store.StatusSuspended {
			t.Fatal("one analyst alone suspended another")
		}
		if res, err := f.gw.ChangeStatus(ctx, a1, "analyst-2", store.StatusSuspended, "again"); err != nil || !res.Pending {
			t.Fatalf("same analyst twice: %+v %v", res, err)
		}
	})
	t.Run("detectors' containment takes two to lift", func(t *testing.T) {
		if err := f.gw.Contain(ctx, "clerk-2", store.StatusSuspended, "alert 1"); err != nil {
			t.Fatal(err)
		}
		res, err := f.gw.ChangeStatus(ctx, a1, "clerk-2", store.StatusActive, "false positive")
		if err != nil || !res.Pending {
			t.Fatalf("first: %+v %v", res, err)
		}
		if _, err := f.gw.ChangeStatus(ctx, a1, "analyst-1", store.StatusActive, "me"); err == nil {
			t.Fatal("changed own status")
		}
		res, err = f.gw.ChangeStatus(ctx, f.principal(t, "analyst-2"), "clerk-2", store.StatusActive, "agreed")
		if err != nil || res.Pending || f.principal(t, "clerk-2").Status != store.StatusActive {
			t.Fatalf("second: %+v %v", res, err)
		}
	})
	t.Run("scim lifts only its own", func(t *testing.T) {
		if err := f.gw.Contain(ctx, "clerk-3", store.StatusSuspended, "alert 2"); err != nil {
			t.Fatal(err)
		}
		if err := f.gw.SystemStatus(ctx, gateway.SourceSCIM, store.Principal{}, "clerk-3", store.StatusActive, "idp"); !errors.Is(err, gateway.ErrNotLifted) {
			t.Fatalf("scim lifted containment: %v", err)
		}
	})
	t.Run("clerks cannot contain", func(t *testing.T) {
		_, err := f.gw.ChangeStatus(ctx, f.principal(t, "manager-1"), "clerk-1", store.StatusActive, "mine")
		f.wantDenied(t, err, "forbidden", "forbidden")
	})
}
