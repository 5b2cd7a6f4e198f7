package oidc

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestPrincipalMapping maps verified claims to principals on a real store
// (token verification itself is tested end to end against a real OpenID
// provider in e2e/enterprise_test.go).
func TestPrincipalMapping(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.PutPrincipal(ctx, store.Principal{ID: "emp-9", Name: "Nine", Org: "dist-1", Role: "store_clerk", Site: "store-1", Status: store.StatusSuspended, TokenHash: []byte("h")})
	off := false
	a := &Authenticator{cfg: Config{Issuer: "https://idp", ClientID: "custos", IDClaim: "sub", IDPrefix: "oidc:", Claims: DefaultClaims(),
		RoleMap: map[string]string{"Clerks": "store_clerk", "SOC": "security_analyst"}}, st: st, logger: slog.New(slog.DiscardHandler), audit: noAudit}
	soc := &Authenticator{cfg: a.cfg, st: st, logger: a.logger, audit: noAudit}
	soc.cfg.AllowedRoles = []string{"store_clerk", "security_analyst"}
	linked := &Authenticator{cfg: Config{Issuer: "https://idp", ClientID: "custos", IDClaim: "preferred_username", Claims: ClaimMap{Role: "groups"},
		RoleMap: map[string]string{"Clerks": "store_clerk"}, AutoCreate: &off}, st: st, logger: slog.New(slog.DiscardHandler), audit: noAudit}
	cases := []struct {
		name    string
		a       *Authenticator
		claims  map[string]any
		wantID  string
		role    string
		status  string
		wantErr error
	}{
		{"mapped group", a, map[string]any{"sub": "u1", "custos_role": []any{"Everyone", "Clerks"}, "custos_site": "store-1", "custos_org": "dist-1"}, "oidc:u1", "store_clerk", "active", nil},
		{"string role", soc, map[string]any{"sub": "u2", "custos_role": "SOC"}, "oidc:u2", "security_analyst", "active", nil},
		{"company role not granted by default", a, map[string]any{"sub": "u5", "custos_role": "SOC"}, "", "", "", ErrNoRole},
		{"reserved id", linked, map[string]any{"preferred_username": "custos:evil", "groups": []any{"Clerks"}}, "", "", "", ErrReserved},
		{"unmapped role", a, map[string]any{"sub": "u3", "custos_role": "Janitors"}, "", "", "", ErrNoRole},
		{"no subject", a, map[string]any{"custos_role": "SOC"}, "", "", "", ErrNoIdentity},
		{"linked to an imported principal keeps its status", linked, map[string]any{"preferred_username": "emp-9"}, "emp-9", "store_clerk", "suspended", nil},
		{"unknown principal without auto_create", linked, map[string]any{"preferred_username": "emp-404", "groups": []any{"Clerks"}}, "", "", "", ErrUnknown},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.a.principal(ctx, tc.claims)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || p.ID != tc.wantID || p.Role != tc.role || p.Status != tc.status {
				t.Fatalf("%+v %v", p, err)
			}
			stored, err := st.Principal(ctx, p.ID)
			if err != nil || stored.Role != tc.role {
				t.Errorf("stored %+v %v", stored, err)
			}
		})
	}
	// The imported principal's token hash survives sign-in.
	if p, _ := st.Principal(ctx, "emp-9"); string(p.TokenHash) != "h" {
		t.Errorf("token hash lost: %q", p.TokenHash)
	}
	// No write when nothing changed: the principals version stays put.
	v1, _ := st.PrincipalsVersion(ctx)
	a.principal(ctx, map[string]any{"sub": "u2", "custos_role": "SOC"})
	if v2, _ := st.PrincipalsVersion(ctx); v2 != v1 {
		t.Errorf("unchanged sign-in moved the principals version %d → %d", v1, v2)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{{}, {Issuer: "idp.example.com", ClientID: "x"}, {Issuer: "https://idp"}} {
		if c.Validate() == nil {
			t.Errorf("%+v accepted", c)
		}
	}
	if err := (Config{Issuer: "https://idp", ClientID: "custos"}).Validate(); err != nil {
		t.Error(err)
	}
}

func TestLooksLikeJWT(t *testing.T) {
	for tok, want := range map[string]bool{"eyJhbGciOi.eyJzdWIi.sig": true, "tok-clerk1-0123456789abcdef": false, "cst_abc.def.ghi": false} {
		if looksLikeJWT(tok) != want {
			t.Errorf("%q: %v", tok, !want)
		}
	}
}

func noAudit(context.Context, string, string) error { return nil }
