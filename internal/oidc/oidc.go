// Package oidc lets staff sign in to custos with their organisation's
// OpenID Connect provider: it verifies ID tokens and JWT access tokens from
// the configured issuer (with github.com/coreos/go-oidc/v3) and maps their
// claims to a custos principal — org, role, site and region — so that
// policy, quotas, the audit log and the detectors see one stable identity.
//
// Authenticator implements httpapi.TokenAuthenticator: set it as
// httpapi.Server.External. Static API tokens keep working beside it.
//
// Identity. The principal's id is IDPrefix followed by the IDClaim claim
// ("oidc:" + sub by default). To sign in people provisioned by SCIM or
// imported from principals.csv, point IDClaim at the claim that carries
// their custos id (e.g. "preferred_username" or "email") and set IDPrefix
// to "". The principal is created on first sign-in (unless AutoCreate is
// off) and updated when mapped claims change; its status is never changed
// by a token, so a suspended person stays suspended (423) whatever their
// token says.
package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"

	"github.com/custos-dev/custos/internal/store"
)

// Defaults.
const (
	DefaultIDClaim  = "sub"
	DefaultIDPrefix = "oidc:"
	// DefaultRetry is how long after a failed discovery the next attempt
	// may start.
	DefaultRetry = 10 * time.Second
)

// ClaimMap names the token claims that carry a principal's attributes. An
// empty name means the attribute is not taken from tokens (the stored
// principal's value, from SCIM or an import, stands).
type ClaimMap struct {
	Name    string `toml:"name"`
	Org     string `toml:"org"`
	OrgKind string `toml:"org_kind"`
	// Role may name a string claim or a list (e.g. "groups"): the first
	// value that RoleMap maps (or, without RoleMap, the first value) wins.
	Role   string `toml:"role"`
	Site   string `toml:"site"`
	Region string `toml:"region"`
}

// DefaultClaims are the claim names used when Config.Claims is zero.
func DefaultClaims() ClaimMap {
	return ClaimMap{Name: "name", Org: "custos_org", OrgKind: "custos_org_kind", Role: "custos_role", Site: "custos_site", Region: "custos_region"}
}

// Config configures OIDC sign-in. It is the [oidc] table of custos's
// configuration file.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as in its tokens'
	// "iss" (e.g. "https://login.example.com/oauth2/default"). Required.
	Issuer string `toml:"issuer"`
	// ClientID is custos's client id at the provider; tokens must name it
	// in "aud". Required.
	ClientID string `toml:"client_id"`
	// Audiences are further accepted "aud" values, for JWT access tokens
	// issued for an API identifier rather than the client id. Optional.
	Audiences []string `toml:"audiences"`
	// IDClaim is the claim that identifies the person (default "sub").
	IDClaim string `toml:"id_claim"`
	// IDPrefix is put before IDClaim's value to make the principal id
	// (default "oidc:"; set "" explicitly with IDPrefixSet to link to ids
	// from SCIM or principals.csv).
	IDPrefix string `toml:"id_prefix"`
	// IDPrefixSet records that IDPrefix was given (so "" is meant).
	IDPrefixSet bool `toml:"-"`
	// Claims maps claims to attributes (default DefaultClaims()).
	Claims ClaimMap `toml:"claims"`
	// RoleMap maps the provider's role or group values to custos roles.
	// Optional; without it the claim's value is the role.
	RoleMap map[string]string `toml:"role_map"`
	// AllowedRoles are the only custos roles a token may carry; others are
	// refused. Default: the partner-staff roles (store_clerk,
	// store_manager, repair_tech, callcenter_agent, partner_admin); a
	// deployment that signs company staff in with OIDC names their roles
	// here explicitly.
	AllowedRoles []string `toml:"allowed_roles"`
	// AutoCreate creates unknown principals on first sign-in (default
	// true). Off: only principals that already exist may sign in.
	AutoCreate *bool `toml:"auto_create"`

	// The dashboard's "sign in with SSO" (authorization-code flow with
	// PKCE) is on when RedirectURL is set.

	// RedirectURL is custos's public callback URL, registered at the
	// provider: "https://custos.example.com/auth/oidc/callback".
	RedirectURL string `toml:"redirect_url"`
	// ClientSecret is custos's client secret at the provider (prefer
	// ClientSecretFile). Never logged.
	ClientSecret string `toml:"client_secret"`
	// ClientSecretFile holds the client secret instead.
	ClientSecretFile string `toml:"client_secret_file"`
	// Scopes are requested besides "openid" (default: profile, email).
	Scopes []string `toml:"scopes"`
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if c.Issuer == "" {
		return errors.New("oidc: issuer is required")
	}
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://") {
		return fmt.Errorf("oidc: issuer %q: want an http(s) URL", c.Issuer)
	}
	if c.ClientID == "" {
		return errors.New("oidc: client_id is required")
	}
	if c.RedirectURL != "" && !strings.HasSuffix(c.RedirectURL, CallbackPath) {
		return fmt.Errorf("oidc: redirect_url must end in %s", CallbackPath)
	}
	return nil
}

// Errors returned with ok=false by Authenticate for tokens of this issuer.
// ErrReserved means the token maps to a principal id reserved for custos
// itself (ids starting with "custos" or "subject").
var ErrReserved = errors.New("oidc: principal id is reserved for custos itself")

var (
	ErrNoIdentity = errors.New("oidc: token has no identity claim")
	ErrNoRole     = errors.New("oidc: token carries no custos role")
	ErrAudience   = errors.New("oidc: token is not for custos")
	ErrUnknown    = errors.New("oidc: no such principal and auto_create is off")
)

// Authenticator verifies tokens of one issuer and maps them to principals.
// It is safe for concurrent use.
type Authenticator struct {
	cfg    Config
	st     store.Store
	audit  func(ctx context.Context, action, target string) error
	logger *slog.Logger
	hc     *http.Client
	now    func() time.Time
	base   context.Context // for key-set refreshes; lives as long as the server

	mu       sync.Mutex
	provider *gooidc.Provider
	verifier *gooidc.IDTokenVerifier
	lastTry  time.Time
}

// Options are New's optional settings.
type Options struct {
	// Audit records a change to a principal made from a token's claims
	// ("identity.create" or "identity.update", target the principal id)
	// before it is stored; it MUST return only once the record is durable.
	// Required.
	Audit      func(ctx context.Context, action, target string) error
	Logger     *slog.Logger
	HTTPClient *http.Client     // for discovery and keys (default: 10 s timeout)
	Now        func() time.Time // clock for expiry checks
}

// New returns an authenticator for cfg. ctx bounds background key fetches
// and must live as long as the server. Discovery is attempted now; if the
// provider is unreachable it is retried on later tokens, so custos starts
// even while the provider is down.
func New(ctx context.Context, cfg Config, st store.Store, opts Options) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IDClaim == "" {
		cfg.IDClaim = DefaultIDClaim
	}
	if cfg.IDPrefix == "" && !cfg.IDPrefixSet {
		cfg.IDPrefix = DefaultIDPrefix
	}
	if cfg.Claims == (ClaimMap{}) {
		cfg.Claims = DefaultClaims()
	}
	if opts.Audit == nil {
		return nil, errors.New("oidc: Options.Audit is required")
	}
	a := &Authenticator{cfg: cfg, st: st, logger: opts.Logger, hc: opts.HTTPClient, now: opts.Now, audit: opts.Audit}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.hc == nil {
		a.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.base = gooidc.ClientContext(context.WithoutCancel(ctx), a.hc)
	if _, err := a.getVerifier(); err != nil {
		a.logger.Warn("oidc: provider discovery failed; will retry", "issuer", cfg.Issuer, "err", err)
	}
	return a, nil
}

func (a *Authenticator) getVerifier() (*gooidc.IDTokenVerifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verifier != nil {
		return a.verifier, nil
	}
	if !a.lastTry.IsZero() && a.now().Sub(a.lastTry) < DefaultRetry {
		return nil, errors.New("oidc: provider discovery failed recently")
	}
	a.lastTry = a.now()
	// NewProvider keeps its context for key refreshes, so it gets the
	// long-lived one; the HTTP client's timeout bounds each fetch.
	p, err := gooidc.NewProvider(a.base, a.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery: %w", err)
	}
	// The audience is checked below against ClientID and Audiences.
	a.provider = p
	a.verifier = p.Verifier(&gooidc.Config{SkipClientIDCheck: true, Now: a.now})
	return a.verifier, nil
}

// verify checks token's signature, issuer, expiry and audience.
func (a *Authenticator) verify(ctx context.Context, token string) (*gooidc.IDToken, error) {
	v, err := a.getVerifier()
	if err != nil {
		return nil, err
	}
	idt, err := v.Verify(ctx, token)
	if err != nil {
		return nil, fmt.Errorf("oidc: %w", err)
	}
	if !slices.ContainsFunc(idt.Audience, func(aud string) bool {
		return aud == a.cfg.ClientID || slices.Contains(a.cfg.Audiences, aud)
	}) {
		return nil, ErrAudience
	}
	return idt, nil
}

// looksLikeJWT is a cheap test before any verification work.
func looksLikeJWT(tok string) bool {
	return strings.Count(tok, ".") == 2 && strings.HasPrefix(tok, "eyJ")
}

// Authenticate implements httpapi.TokenAuthenticator. It returns ok=false
// for tokens that are not valid tokens of this issuer for custos (with the
// reason as err, for debugging), and the principal otherwise.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (store.Principal, bool, error) {
	if !looksLikeJWT(token) {
		return store.Principal{}, false, nil
	}
	idt, err := a.verify(ctx, token)
	if err != nil {
		return store.Principal{}, false, err
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return store.Principal{}, false, fmt.Errorf("oidc: claims: %w", err)
	}
	p, err := a.principal(ctx, claims)
	if err != nil {
		return store.Principal{}, false, err
	}
	return p, true, nil
}

// claimString returns a string claim, or the first string of a list claim
// that keep accepts.
func claimString(claims map[string]any, name string, keep func(string) (string, bool)) (string, bool) {
	if name == "" {
		return "", false
	}
	switch v := claims[name].(type) {
	case string:
		return keep(v)
	case []any:
		for _, it := range v {
			if s, ok := it.(string); ok {
				if out, ok := keep(s); ok {
					return out, true
				}
			}
		}
	}
	return "", false
}

func asIs(s string) (string, bool) { return s, s != "" }

// principal maps verified claims to the stored principal, creating or
// updating it as configured.
func (a *Authenticator) principal(ctx context.Context, claims map[string]any) (store.Principal, error) {
	sub, ok := claimString(claims, a.cfg.IDClaim, asIs)
	if !ok {
		return store.Principal{}, ErrNoIdentity
	}
	id := a.cfg.IDPrefix + sub
	if l := strings.ToLower(id); strings.HasPrefix(l, "custos") || strings.HasPrefix(l, "subject") {
		return store.Principal{}, fmt.Errorf("%w: %q", ErrReserved, id)
	}
	if len(id) > 128 || strings.ContainsAny(id, " /\\\"'*%?") {
		return store.Principal{}, fmt.Errorf("oidc: identity claim %q is not usable as a principal id", a.cfg.IDClaim)
	}
	want := store.Principal{ID: id}
	cm := a.cfg.Claims
	want.Name, _ = claimString(claims, cm.Name, asIs)
	want.Org, _ = claimString(claims, cm.Org, asIs)
	want.OrgKind, _ = claimString(claims, cm.OrgKind, asIs)
	want.Site, _ = claimString(claims, cm.Site, asIs)
	want.Region, _ = claimString(claims, cm.Region, asIs)
	want.Role, _ = claimString(claims, cm.Role, func(s string) (string, bool) {
		if a.cfg.RoleMap != nil {
			r, ok := a.cfg.RoleMap[s]
			return r, ok && r != ""
		}
		return s, s != ""
	})

	cur, err := a.st.Principal(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Principal{}, fmt.Errorf("oidc: principal: %w", err)
	}
	if !exists {
		if a.cfg.AutoCreate != nil && !*a.cfg.AutoCreate {
			return store.Principal{}, ErrUnknown
		}
		cur = store.Principal{ID: id, Status: store.StatusActive}
	}
	next := cur
	for _, f := range []struct {
		dst *string
		v   string
	}{
		{&next.Name, want.Name}, {&next.Org, want.Org}, {&next.OrgKind, want.OrgKind},
		{&next.Role, want.Role}, {&next.Site, want.Site}, {&next.Region, want.Region},
	} {
		if f.v != "" {
			*f.dst = f.v
		}
	}
	if next.Role == "" {
		return store.Principal{}, ErrNoRole
	}
	allowed := a.cfg.AllowedRoles
	if allowed == nil {
		allowed = PartnerRoles()
	}
	if !slices.Contains(allowed, next.Role) {
		return store.Principal{}, fmt.Errorf("%w: role %q is not allowed for OIDC sign-in", ErrNoRole, next.Role)
	}
	if !exists || !samePrincipal(cur, next) {
		// Write only on change: every write moves the principals version,
		// which empties the gateways' caches. Audited first.
		action := "identity.update"
		if !exists {
			action = "identity.create"
		}
		if err := a.audit(ctx, action, id); err != nil {
			return store.Principal{}, fmt.Errorf("oidc: audit: %w", err)
		}
		if err := a.st.PutPrincipal(ctx, next); err != nil {
			return store.Principal{}, fmt.Errorf("oidc: store principal: %w", err)
		}
		a.logger.Info("oidc: principal provisioned from token", "principal", id, "created", !exists)
	}
	return next, nil
}

func samePrincipal(a, b store.Principal) bool {
	return a.Name == b.Name && a.Org == b.Org && a.OrgKind == b.OrgKind && a.Role == b.Role && a.Site == b.Site && a.Region == b.Region
}

// PartnerRoles are the roles OIDC grants unless Config.AllowedRoles says
// otherwise.
func PartnerRoles() []string {
	return []string{"store_clerk", "store_manager", "repair_tech", "callcenter_agent", "partner_admin"}
}
