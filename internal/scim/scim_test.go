package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestNormalizePatch: Entra ID's string booleans become JSON booleans;
// everything else passes unchanged.
func TestNormalizePatch(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"entra path", `{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, `"value":false`},
		{"value object", `{"Operations":[{"op":"replace","value":{"active":"True"}}]}`, `"active":true`},
		{"already bool", `{"Operations":[{"op":"replace","path":"active","value":false}]}`, `"value":false`},
		{"other attribute", `{"Operations":[{"op":"replace","path":"displayName","value":"False"}]}`, `"value":"False"`},
		{"not json", `not json`, `not json`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("PATCH", "/scim/v2/Users/x", strings.NewReader(tc.in))
			if err := normalizePatch(r); err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(r.Body)
			if !bytes.Contains(b, []byte(tc.want)) || r.ContentLength != int64(len(b)) {
				t.Errorf("got %s, want it to contain %s", b, tc.want)
			}
		})
	}
}

func FuzzNormalizePatch(f *testing.F) {
	f.Add([]byte(`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("PATCH", "/scim/v2/Users/x", bytes.NewReader(body))
		if err := normalizePatch(r); err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(r.Body)
		if !json.Valid(body) && !bytes.Equal(out, body) {
			t.Fatalf("invalid JSON changed: %q → %q", body, out)
		}
	})
}

func TestUnflatten(t *testing.T) {
	got := unflatten(map[string]any{"name.familyName": "X", CustosUserSchema + ":role": "store_clerk", "active": false})
	if got["name"].(map[string]any)["familyName"] != "X" || got[CustosUserSchema].(map[string]any)["role"] != "store_clerk" || got["active"] != false {
		t.Errorf("%v", got)
	}
}

// TestHandler runs the handler on a real store: only provisioners may use
// it, creation and deactivation are audited, deactivation suspends.
func TestHandler(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	principals := map[string]store.Principal{
		"prov":  {ID: "scim-1", Role: ProvisionerRole, Status: store.StatusActive},
		"clerk": {ID: "emp-1", Role: "store_clerk", Status: store.StatusActive},
	}
	for _, p := range principals {
		if err := st.PutPrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	var audited []event.Event
	h, err := Handler(Deps{
		Store: st,
		Authenticate: func(r *http.Request) (store.Principal, error) {
			p, ok := principals[strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")]
			if !ok {
				return store.Principal{}, errors.New("unauthenticated")
			}
			return p, nil
		},
		Audit: func(ctx context.Context, ev event.Event) error { audited = append(audited, ev); return nil },
		SetStatus: func(ctx context.Context, by store.Principal, target, status, reason string) error {
			audited = append(audited, event.Event{Action: map[string]string{store.StatusSuspended: event.ActionSuspend}[status], Target: target, Decision: event.Allow})
			p, err := st.Principal(ctx, target)
			if err != nil {
				return err
			}
			return st.ChangeStatus(ctx, target, p.Status, status, store.SourceSCIM, "scim-1", reason)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	do := func(tok, method, path, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var m map[string]any
		json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	cases := []struct {
		name, tok, method, path, body string
		want                          int
	}{
		{"unknown token", "nope", "GET", "/scim/v2/Users", "", 401},
		{"clerk", "clerk", "GET", "/scim/v2/Users", "", 403},
		{"create", "prov", "POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new.person@example.com","displayName":"New Person","urn:custos:params:scim:schemas:extension:custos:2.0:User":{"role":"store_clerk","site":"store-1","orgKind":"retailer"}}`, 201},
		{"bad org kind", "prov", "POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x@example.com","urn:custos:params:scim:schemas:extension:custos:2.0:User":{"orgKind":"martian"}}`, 400},
		{"bad user name", "prov", "POST", "/scim/v2/Users", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a/b"}`, 400},
		{"get", "prov", "GET", "/scim/v2/Users/new.person@example.com", "", 200},
		{"missing", "prov", "GET", "/scim/v2/Users/nobody", "", 404},
		{"replace without the custos extension", "prov", "PUT", "/scim/v2/Users/new.person@example.com", `{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"new.person@example.com","displayName":"New Person","active":true}`, 200},
		{"deactivate", "prov", "PATCH", "/scim/v2/Users/emp-1", `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":"False"}]}`, 200},
		{"group", "prov", "GET", "/scim/v2/Groups/store_clerk", "", 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, m := do(tc.tok, tc.method, tc.path, tc.body); got != tc.want {
				t.Fatalf("%d, want %d: %v", got, tc.want, m)
			}
		})
	}
	p, err := st.Principal(ctx, "new.person@example.com")
	if err != nil || p.Name != "New Person" || p.Role != "store_clerk" || p.OrgKind != "retailer" || p.Status != store.StatusActive {
		t.Errorf("created principal %+v %v", p, err)
	}
	if p, _ := st.Principal(ctx, "emp-1"); p.Status != store.StatusSuspended {
		t.Errorf("emp-1 status %q after deactivation", p.Status)
	}
	var kinds []string
	for _, ev := range audited {
		kinds = append(kinds, ev.Action+"/"+ev.Decision+"/"+ev.Target)
	}
	for _, want := range []string{"principal.provision/deny/", "principal.provision/allow/new.person@example.com", "principal.suspend/allow/emp-1"} {
		found := false
		for _, k := range kinds {
			found = found || k == want
		}
		if !found {
			t.Errorf("audit lacks %s: %v", want, kinds)
		}
	}
}

// TestAuditDownIs503: when the audit log cannot append, a change is refused
// with 503 and Retry-After (not 500), and nothing changes.
func TestAuditDownIs503(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	prov := store.Principal{ID: "scim-1", Role: ProvisionerRole, Status: store.StatusActive}
	clerk := store.Principal{ID: "emp-1", Role: "store_clerk", Status: store.StatusActive}
	for _, p := range []store.Principal{prov, clerk} {
		if err := st.PutPrincipal(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	h, err := Handler(Deps{
		Store: st,
		Authenticate: func(r *http.Request) (store.Principal, error) {
			if r.Header.Get("Authorization") == "Bearer clerk" {
				return clerk, nil
			}
			return prov, nil
		},
		Audit: func(context.Context, event.Event) error { return store.Unavailable(errors.New("disk full")) },
		SetStatus: func(context.Context, store.Principal, string, string, string) error {
			t.Error("status changed while the audit log was down")
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"prov", "clerk"} {
		r := httptest.NewRequest("PATCH", "/scim/v2/Users/emp-1", strings.NewReader(
			`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"Replace","path":"active","value":false}]}`))
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s: %d, Retry-After %q; want 503 with Retry-After: %s", tok, w.Code, w.Header().Get("Retry-After"), w.Body)
		}
	}
	if p, _ := st.Principal(ctx, "emp-1"); p.Status != store.StatusActive {
		t.Errorf("status %q after refused changes", p.Status)
	}
}
