package policy

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/policy/defaults"
)

// defaultCasesFile is the case file that covers the default pack; CI also
// runs it through "custos policy test".
const defaultCasesFile = "../../testdata/policy/default-cases.jsonl"

// TestDefaultCases runs the shipped case file against the embedded pack:
// it is the executable statement of the contract's default policies.
func TestDefaultCases(t *testing.T) {
	f, err := os.Open(defaultCasesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := RunCases(Default(), f)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 200 {
		t.Errorf("only %d cases; the file should cover every role and key action", len(res))
	}
	for _, r := range res {
		if !r.OK() {
			t.Error(r)
		}
	}
}

func clerk(status string) Principal {
	return Principal{ID: "emp-1", Org: "dist-017", OrgKind: "distributor", Role: "store_clerk", Site: "store-0931", Region: "GD", Status: status}
}

var cust = Resource{ID: "c-1", Region: "GD", Site: "store-0931"}

// TestAuthorize checks the decisions, reasons, field modes and determining
// policies of the default pack for the requests the gateway makes most.
func TestAuthorize(t *testing.T) {
	e := Default()
	masked := map[string]FieldMode{"name": Full, "phone": Masked, "account": Masked, "region": Full}
	full := map[string]FieldMode{"name": Full, "phone": Full, "account": Full, "region": Full}
	tests := []struct {
		name     string
		req      Request
		allow    bool
		reason   string
		fields   map[string]FieldMode
		policies []string
	}{
		{"ticket read masks phone and account",
			Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, ID: "T-1", Valid: true}},
			true, "", masked, []string{"frontline-read-under-purpose", "fields-name-region-full", "fields-phone-account-masked"}},
		{"consent read shows everything",
			Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeConsent, ID: "K-1", Valid: true}},
			true, "", full, []string{"frontline-read-under-purpose", "fields-name-region-full", "fields-phone-account-full-under-consent"}},
		{"search under ticket",
			Request{Principal: clerk(""), Action: ActionSearch, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}},
			true, "", masked, nil},
		{"no purpose", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust}, false, ReasonPurposeRequired, nil, nil},
		{"invalid ticket", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: false}}, false, ReasonPurposeInvalid, nil, nil},
		{"step-up under ticket", Request{Principal: clerk("stepup"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}}, false, ReasonPurposeInvalid, nil, nil},
		{"step-up under consent", Request{Principal: clerk("stepup"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeConsent, Valid: true}}, true, "", full, nil},
		{"quota", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}, QuotaExceeded: true},
			false, ReasonQuotaExceeded, nil, []string{"quota-exceeded"}},
		{"quota and no purpose: quota wins", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, QuotaExceeded: true}, false, ReasonQuotaExceeded, nil, nil},
		{"suspended and over quota: forbidden wins", Request{Principal: clerk("suspended"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}, QuotaExceeded: true},
			false, ReasonForbidden, nil, []string{"suspended-principal", "quota-exceeded"}},
		{"export", Request{Principal: clerk("active"), Action: ActionExport, Purpose: Purpose{Kind: PurposeTicket, Valid: true}}, false, ReasonForbidden, nil, nil},
		{"analyst reads customer", Request{Principal: Principal{ID: "s1", Role: "security_analyst"}, Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeConsent, Valid: true}},
			false, ReasonForbidden, nil, []string{"separation-of-duties"}},
		{"analyst suspends", Request{Principal: Principal{ID: "s1", Role: "security_analyst"}, Action: ActionSuspend, TargetRole: "store_clerk"}, true, "", nil, []string{"security-analyst-duties"}},
		{"manager approves own org", Request{Principal: Principal{ID: "m1", Org: "dist-017", Role: "store_manager"}, Action: ActionBreakGlassOK, Resource: cust, RequesterOrg: "dist-017"}, true, "", nil, nil},
		{"manager approves other org", Request{Principal: Principal{ID: "m1", Org: "dist-017", Role: "store_manager"}, Action: ActionBreakGlassOK, Resource: cust, RequesterOrg: "dist-018"}, false, ReasonForbidden, nil, nil},
		{"self approval", Request{Principal: Principal{ID: "s1", Role: "security_analyst"}, Action: ActionBreakGlassOK, Resource: cust, SelfApproval: true}, false, ReasonForbidden, nil, []string{"no-self-approval"}},
		{"integration opens ticket", Request{Principal: Principal{ID: "crm", Role: "integration"}, Action: ActionTicketCreate, Resource: cust}, true, "", nil, nil},
		{"unknown action", Request{Principal: clerk("active"), Action: "customer.delete", Resource: cust}, false, ReasonForbidden, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := e.Authorize(context.Background(), tt.req)
			if d.Allow != tt.allow || d.Reason != tt.reason {
				t.Fatalf("got allow=%v reason=%q, want allow=%v reason=%q (policies %v)", d.Allow, d.Reason, tt.allow, tt.reason, d.Policies)
			}
			if tt.fields != nil && !mapsEqual(d.Fields, tt.fields) {
				t.Errorf("fields = %v, want %v", d.Fields, tt.fields)
			}
			if !tt.allow && d.Fields != nil {
				t.Errorf("deny carries fields %v", d.Fields)
			}
			if tt.policies != nil && !slices.Equal(d.Policies, tt.policies) {
				t.Errorf("policies = %v, want %v", d.Policies, tt.policies)
			}
		})
	}
}

func mapsEqual(a, b map[string]FieldMode) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestAuthorizeConcurrent runs decisions from many goroutines (meaningful
// under -race).
func TestAuthorizeConcurrent(t *testing.T) {
	e := Default()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				d := e.Authorize(context.Background(), Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: i%2 == 0}})
				if d.Allow != (i%2 == 0) {
					t.Errorf("goroutine %d: allow=%v", i, d.Allow)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// writePack copies the default pack into a new directory, then applies
// extra (name -> content; "" deletes).
func writePack(t *testing.T, extra map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if wrote, err := WriteDefaults(dir); err != nil || !wrote {
		t.Fatalf("WriteDefaults = %v, %v", wrote, err)
	}
	for name, content := range extra {
		p := filepath.Join(dir, name)
		if content == "" {
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestWriteDefaultsAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", DirName)
	wrote, err := WriteDefaults(dir)
	if err != nil || !wrote {
		t.Fatalf("WriteDefaults = %v, %v", wrote, err)
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if e.Digest() != Default().Digest() {
		t.Errorf("loaded pack digest %s differs from the embedded one %s", e.Digest(), Default().Digest())
	}
	// A directory with policies is left alone.
	custom := filepath.Join(dir, "customers.cedar")
	if err := os.WriteFile(custom, []byte("// mine\n"+`permit (principal, action == Action::"audit.read", resource);`), 0o644); err != nil {
		t.Fatal(err)
	}
	if wrote, err := WriteDefaults(dir); err != nil || wrote {
		t.Fatalf("second WriteDefaults = %v, %v; want false, nil", wrote, err)
	}
	b, _ := os.ReadFile(custom)
	if !strings.HasPrefix(string(b), "// mine") {
		t.Error("WriteDefaults overwrote an existing policy")
	}
	ents, _ := fs.ReadDir(defaults.FS, ".")
	if got := len(e.Files()); got != len(ents) {
		t.Errorf("engine built from %d files, pack has %d", got, len(ents))
	}
}

func TestLoadWithoutSchemaUsesDefault(t *testing.T) {
	dir := writePack(t, map[string]string{defaultSchemaFile: ""})
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := e.Authorize(context.Background(), Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}})
	if !d.Allow {
		t.Errorf("read denied: %+v", d)
	}
}

// TestLoadRefusesInvalid: a policy set that does not validate against the
// schema is refused, with an error naming the file.
func TestLoadRefusesInvalid(t *testing.T) {
	tests := []struct {
		name, file, content, wantErr string
	}{
		{"unknown principal attribute", "bad.cedar",
			`permit (principal, action == Action::"read", resource) when { principal.department == "sales" };`, "department"},
		{"unknown context key", "bad.cedar",
			`forbid (principal, action, resource) when { context.weekend };`, "weekend"},
		{"unknown action", "bad.cedar",
			`permit (principal, action == Action::"read.ssn", resource);`, "read.ssn"},
		{"unknown entity type", "bad.cedar",
			`permit (principal is Employee, action == Action::"read", resource);`, "Employee"},
		{"type error", "bad.cedar",
			`permit (principal, action == Action::"read", resource) when { context.hour == "noon" };`, "bad.cedar"},
		{"action on wrong resource", "bad.cedar",
			`permit (principal, action == Action::"audit.read", resource is Customer);`, "bad.cedar"},
		{"syntax error", "bad.cedar", `permit (principal, action, resource) when { `, "bad.cedar"},
		{"duplicate id", "zz-dup.cedar",
			`@id("quota-exceeded") permit (principal, action == Action::"audit.read", resource);`, "duplicate"},
		{"bad reason", "bad.cedar",
			`@reason("nope") forbid (principal, action == Action::"read", resource);`, "nope"},
		{"reason on permit", "bad.cedar",
			`@reason("forbidden") permit (principal, action == Action::"read", resource);`, "only for forbid"},
		{"schema attribute the engine does not fill", defaultSchemaFile,
			"entity Principal { role: String, clearance: Long };\nentity Customer;\nentity Service;\naction \"read\" appliesTo { principal: Principal, resource: Customer, context: {} };",
			"clearance"},
		{"schema entity type the engine does not build", defaultSchemaFile,
			"entity Principal { role: String };\nentity Team;\nentity Customer;\nentity Service;\naction \"read\" appliesTo { principal: Principal, resource: Customer, context: {} };",
			"Team"},
		{"schema syntax", defaultSchemaFile, "entity {", defaultSchemaFile},
		{"second schema", "extra.cedarschema", "entity Principal;", "more than one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writePack(t, map[string]string{tt.file: tt.content})
			e, err := Load(dir)
			if err == nil {
				t.Fatalf("Load accepted an invalid set (%d policies)", len(e.PolicyIDs()))
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || (ve.File != tt.file && tt.file != "extra.cedarschema") {
				t.Errorf("error %v does not name file %s", err, tt.file)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadNoPolicies(t *testing.T) {
	if _, err := Load(t.TempDir()); !errors.Is(err, ErrNoPolicies) {
		t.Errorf("Load(empty) = %v, want ErrNoPolicies", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Load(missing dir) succeeded")
	}
}

// TestCustomPolicies shows that operators' policies take effect: a forbid
// on night-time reads with its own reason, and a permit granting export.
func TestCustomPolicies(t *testing.T) {
	dir := writePack(t, map[string]string{"local.cedar": `
@id("no-night-reads")
forbid (principal, action in [Action::"read", Action::"search"], resource)
when { context.hour < 7 || context.hour >= 22 };

@id("techs-no-full-phone")
forbid (principal, action in Action::"customer_data", resource)
when { principal.role == "repair_tech" && action == Action::"read.phone" };

@id("callcenter-no-account")
forbid (principal, action == Action::"mask.account", resource)
when { principal.role == "callcenter_agent" };

@id("callcenter-own-region")
forbid (principal, action in [Action::"read", Action::"search"], resource is Customer)
when { principal.role == "callcenter_agent" && resource.region != principal.region };

@id("admin-export")
permit (principal, action == Action::"export", resource)
when { principal.role == "partner_admin" && principal.org_kind == "distributor" };
`})
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	read := Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, Valid: true}}
	read.Time = time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC)
	if d := e.Authorize(ctx, read); d.Allow || d.Reason != ReasonForbidden || !slices.Contains(d.Policies, "no-night-reads") {
		t.Errorf("night read: %+v", d)
	}
	read.Time = time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CST", 8*3600)) // 02:00 UTC
	if d := e.Authorize(ctx, read); d.Allow {
		t.Errorf("read at 02:00 UTC allowed: hour must be taken in UTC")
	}
	read.Time = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	if d := e.Authorize(ctx, read); !d.Allow {
		t.Errorf("day read denied: %+v", d)
	}
	// Field forbids: one scoped to a group but conditioned on the action,
	// one scoped to a single field action.
	tech := read
	tech.Principal.Role = "repair_tech"
	tech.Purpose = Purpose{Kind: PurposeConsent, Valid: true}
	want := map[string]FieldMode{"name": Full, "phone": Masked, "account": Full, "region": Full}
	for _, a := range []string{ActionRead, ActionSearch} {
		tech.Action = a
		if d := e.Authorize(ctx, tech); !d.Allow || !mapsEqual(d.Fields, want) {
			t.Errorf("repair_tech %s under consent: %+v, want fields %v", a, d, want)
		}
	}
	cc := read
	cc.Principal.Role = "callcenter_agent"
	want = map[string]FieldMode{"name": Full, "phone": Masked, "account": Withheld, "region": Full}
	if d := e.Authorize(ctx, cc); !d.Allow || !mapsEqual(d.Fields, want) {
		t.Errorf("callcenter read: %+v, want fields %v", d, want)
	}

	cc.Resource.Region = "BJ"
	if d := e.Authorize(ctx, cc); d.Allow || !slices.Contains(d.Policies, "callcenter-own-region") {
		t.Errorf("callcenter read out of region: %+v", d)
	}

	admin := Principal{ID: "a", Org: "dist-017", OrgKind: "distributor", Role: "partner_admin"}
	if d := e.Authorize(ctx, Request{Principal: admin, Action: ActionExport}); !d.Allow {
		t.Errorf("export by partner admin denied: %+v", d)
	}
	if d := Default().Authorize(ctx, Request{Principal: admin, Action: ActionExport}); d.Allow {
		t.Error("the default pack allows export")
	}
}

// TestDecisionsKeyedByWhatPoliciesSee checks the engine's decision cache:
// two requests that differ only in what a policy can see never share a
// decision, whether that is an id a policy names, an attribute or the hour.
func TestDecisionsKeyedByWhatPoliciesSee(t *testing.T) {
	e := defaultsWith(t, `@id("vip") forbid (principal, action, resource == Customer::"c-vip");
@id("emp-7") forbid (principal, action, resource) when { principal == Principal::"emp-7" };
@id("night") forbid (principal, action, resource) when { context.hour < 6 };
`)
	noon := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	read := func(p Principal, c Resource, at time.Time) Request {
		return Request{Principal: p, Action: ActionRead, Resource: c, Time: at, Purpose: Purpose{Kind: PurposeTicket, ID: "T-1", Valid: true}}
	}
	vip := cust
	vip.ID = "c-vip"
	emp7 := clerk("active")
	emp7.ID = "emp-7"
	other := clerk("active")
	other.Role = "auditor"
	tests := []struct {
		name  string
		req   Request
		allow bool
	}{
		{"clerk reads a customer", read(clerk("active"), cust, noon), true},
		{"the same attributes, a customer a policy names", read(clerk("active"), vip, noon), false},
		{"the same attributes, a principal a policy names", read(emp7, cust, noon), false},
		{"the same request at night", read(clerk("active"), cust, noon.Add(-8*time.Hour)), false},
		{"another role", read(other, cust, noon), false},
		{"the first request again", read(clerk("active"), cust, noon), true},
	}
	for range 2 { // the second round is answered from the cache
		for _, tt := range tests {
			if d := e.Authorize(context.Background(), tt.req); d.Allow != tt.allow {
				t.Errorf("%s: allow = %v, want %v (%+v)", tt.name, d.Allow, tt.allow, d)
			}
		}
	}
	if !e.namesCustomer || !e.namesPrincipal || Default().namesCustomer || Default().namesPrincipal {
		t.Errorf("names customer/principal = %v/%v, default pack %v/%v; want true/true, false/false",
			e.namesCustomer, e.namesPrincipal, Default().namesCustomer, Default().namesPrincipal)
	}
}

// defaultsWith loads the default pack with local added as local.cedar.
func defaultsWith(t *testing.T, local string) *Engine {
	t.Helper()
	dir := t.TempDir()
	ents, err := fs.ReadDir(defaults.FS, ".")
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range ents {
		b, err := fs.ReadFile(defaults.FS, ent.Name())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, ent.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "local.cedar"), []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestDecisionKeptUnderItsOwnHour checks that a request without a time is
// decided and kept under one reading of the clock: a decision made just
// after the hour turned must not be kept under the hour before, where it
// would answer that hour's requests the next day.
func TestDecisionKeptUnderItsOwnHour(t *testing.T) {
	e := defaultsWith(t, `@id("before-ten") forbid (principal, action, resource) when { context.hour < 10 };
`)
	ticks := []time.Time{
		time.Date(2026, 11, 30, 9, 59, 59, 999e6, time.UTC),
		time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC),
	}
	e.now = func() time.Time {
		t := ticks[0]
		if len(ticks) > 1 {
			ticks = ticks[1:]
		}
		return t
	}
	req := Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, ID: "T-1", Valid: true}}
	if d := e.Authorize(context.Background(), req); d.Allow {
		t.Fatalf("read at 09:59:59.999 allowed: %+v", d)
	}
	req.Time = time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	if d := e.Authorize(context.Background(), req); d.Allow {
		t.Fatalf("read at 09:30 the next day allowed (a decision of 10:00 kept under hour 9): %+v", d)
	}
}
