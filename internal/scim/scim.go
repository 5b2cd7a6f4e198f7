// Package scim provisions custos principals over SCIM 2.0 (RFC 7643,
// RFC 7644), so that the identity provider (Okta, Entra ID, …) creates,
// updates and deactivates the people who may call custos. It is built on
// github.com/elimity-com/scim, which validates requests against the
// schemas and is tested with the requests Okta and Entra ID send.
//
// Mapping. A SCIM User is one store.Principal:
//
//	userName                       → id (fixed at creation; later changes are ignored)
//	displayName, or name.formatted → name
//	active                         → status (false: suspended at once)
//	urn:custos:params:scim:schemas:extension:custos:2.0:User
//	    org, orgKind, role, site, region → org, org_kind, role, site, region
//	urn:ietf:params:scim:schemas:extension:enterprise:2.0:User
//	    organization → org, department → site (when the custos extension omits them)
//
// A SCIM Group is a role: its id and displayName are the role name, its
// members the principals holding it. Adding a member gives them the role;
// removing them takes it away (they are left with no role, which policy
// denies everything).
//
// Only principals of role "provisioner" may call it. Every change is
// appended to the audit log before the answer: "principal.provision" for
// creations and updates, "principal.suspend" when a user is deactivated
// (active false, or DELETE) and "principal.reinstate" when the identity
// provider reactivates one it had deactivated. A suspension made by the
// security team is never lifted by SCIM: active true reinstates only a
// person SCIM itself deactivated. DELETE keeps the principal (suspended) so
// the audit trail keeps its actor.
//
// Deactivation takes effect on every gateway within a second: it changes
// the store's principals version, which the gateways poll.
package scim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	escim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"
	"github.com/elimity-com/scim/schema"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// Schema URNs.
const (
	// CustosUserSchema is custos's User extension: org, orgKind, role,
	// site, region.
	CustosUserSchema     = "urn:custos:params:scim:schemas:extension:custos:2.0:User"
	EnterpriseUserSchema = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

// Audit actions.
const (
	ActionProvision = "principal.provision"
)

// ProvisionerRole is the only role that may call the SCIM endpoints.
const ProvisionerRole = "provisioner"

// MaxBody caps a SCIM request body.
const MaxBody = 1 << 20

// Deps are what the SCIM handler needs.
type Deps struct {
	// Authenticate resolves the caller's bearer token (the API's
	// httpapi.Server.Authenticate: failures are audited there).
	Authenticate func(r *http.Request) (store.Principal, error)
	// Fail writes an authentication error as the API does
	// (httpapi.Server.Fail); nil writes a SCIM 401.
	Fail func(w http.ResponseWriter, r *http.Request, err error)
	// Store holds the principals.
	Store store.Store
	// Audit appends an event to the audit log; it MUST return only once the
	// event is durable. A change whose audit fails is answered with an error.
	Audit func(ctx context.Context, ev event.Event) error
	// SetStatus changes a principal's status on SCIM's behalf, audited
	// before it takes effect (gateway.Gateway.SystemStatus with source
	// "scim"); it refuses to lift a suspension SCIM did not make. Required.
	SetStatus func(ctx context.Context, by store.Principal, target, status, reason string) error
	// AllowedRoles are the roles SCIM may grant; nil means the partner-staff
	// roles only (store_clerk, store_manager, repair_tech, callcenter_agent,
	// partner_admin). Company roles come from the import, or from a config
	// that names them here explicitly.
	AllowedRoles []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational messages, never personal data (default: none).
	Logger *slog.Logger
	// BaseURL, when set, makes meta.location absolute
	// (e.g. "https://custos.example.com/scim/v2").
	BaseURL string
}

// callerKey carries the authenticated provisioner in the request context.
type callerKey struct{}

func caller(r *http.Request) store.Principal {
	p, _ := r.Context().Value(callerKey{}).(store.Principal)
	return p
}

// Handler returns the SCIM service. Mount it at "/scim/v2/" (it expects
// the full path, /scim/v2/Users…).
func Handler(d Deps) (http.Handler, error) {
	if d.Authenticate == nil || d.Store == nil || d.Audit == nil || d.SetStatus == nil {
		return nil, errors.New("scim: Authenticate, Store, Audit and SetStatus are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	p := &provisioner{d: d}
	custos := schema.Schema{
		ID:          CustosUserSchema,
		Name:        optional.NewString("CustosUser"),
		Description: optional.NewString("custos principal attributes"),
		Attributes: []schema.CoreAttribute{
			str("org"), str("orgKind"), str("role"), str("site"), str("region"),
		},
	}
	opts := []escim.ServerOption{}
	if d.BaseURL != "" {
		opts = append(opts, escim.WithBaseURL(d.BaseURL))
	}
	srv, err := escim.NewServer(&escim.ServerArgs{
		ServiceProviderConfig: &escim.ServiceProviderConfig{
			DocumentationURI: optional.NewString("https://github.com/custos-dev/custos/blob/main/docs/ENTERPRISE.md"),
			SupportFiltering: true,
			SupportPatch:     true,
			MaxResults:       200,
			AuthenticationSchemes: []escim.AuthenticationScheme{{
				Type: escim.AuthenticationTypeOauthBearerToken, Name: "Bearer token",
				Description: "a custos API token of a principal with role provisioner", Primary: true,
			}},
		},
		ResourceTypes: []escim.ResourceType{
			{
				ID: optional.NewString("User"), Name: "User", Endpoint: "/Users",
				Description: optional.NewString("custos principal"),
				Schema:      schema.CoreUserSchema(),
				SchemaExtensions: []escim.SchemaExtension{
					{Schema: schema.ExtensionEnterpriseUser()},
					{Schema: custos},
				},
				Handler: users{p},
			},
			{
				ID: optional.NewString("Group"), Name: "Group", Endpoint: "/Groups",
				Description: optional.NewString("custos role"),
				Schema:      schema.CoreGroupSchema(),
				Handler:     groups{p},
			},
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("scim: %w", err)
	}
	inner := http.StripPrefix("/scim", srv)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr, err := d.Authenticate(r)
		if err != nil {
			if d.Fail != nil {
				d.Fail(w, r, err)
			} else {
				writeError(w, http.StatusUnauthorized, "", "authentication required")
			}
			return
		}
		// refuse audits the denial for reason, then answers status with msg.
		refuse := func(reason string, status int, msg string) {
			ev := p.event(pr, ActionProvision, "")
			ev.Decision, ev.Reason = event.Deny, reason
			if err := d.Audit(r.Context(), ev); err != nil {
				writeError(retryAfter{w}, http.StatusServiceUnavailable, "", "audit log unavailable; nothing was done")
				return
			}
			writeError(w, status, "", msg)
		}
		if pr.Role != ProvisionerRole {
			refuse("forbidden", http.StatusForbidden, "only the identity provider's provisioner may use SCIM")
			return
		}
		if pr.Status == store.StatusSuspended {
			refuse("principal_suspended", http.StatusLocked, "this provisioner is suspended")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
		if r.Method == http.MethodPatch {
			if err := normalizePatch(r); err != nil {
				writeError(w, http.StatusBadRequest, "invalidSyntax", "PATCH body must be a SCIM PatchOp of at most 1 MiB")
				return
			}
		}
		// The SCIM library allows no 503 on some operations (it answers
		// 500 instead): the answer is held, and replaced by a 503 when the
		// store or the audit log could not take the change.
		down := new(string)
		ctx := context.WithValue(context.WithValue(r.Context(), callerKey{}, pr), downKey{}, down)
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r.WithContext(ctx))
		if *down != "" {
			writeError(retryAfter{w}, http.StatusServiceUnavailable, "", *down)
			return
		}
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}), nil
}

// downKey holds, in a request's context, why the store or the audit log
// could not take its change ("" while they could).
type downKey struct{}

// unavailable records on r that the change could not be made for reason,
// and returns the SCIM error the library sees.
func unavailable(r *http.Request, reason string) error {
	if down, ok := r.Context().Value(downKey{}).(*string); ok {
		*down = reason
	}
	return scimerr.ScimError{Status: http.StatusServiceUnavailable, Detail: reason}
}

// retryAfter adds Retry-After to a 503 (the store or the audit log cannot
// take the change now), as every custos 503 carries.
type retryAfter struct{ http.ResponseWriter }

func (w retryAfter) WriteHeader(code int) {
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int(store.DefaultRetryAfter/time.Second)))
	}
	w.ResponseWriter.WriteHeader(code)
}

func str(name string) schema.CoreAttribute {
	return schema.SimpleCoreAttribute(schema.SimpleStringParams(schema.StringParams{Name: name}))
}

// writeError writes a SCIM error (RFC 7644 §3.12).
func writeError(w http.ResponseWriter, status int, scimType, detail string) {
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(status)
	body := map[string]any{
		"schemas": []string{"urn:ietf:params:scim:api:messages:2.0:Error"},
		"status":  fmt.Sprint(status),
		"detail":  detail,
	}
	if scimType != "" {
		body["scimType"] = scimType
	}
	json.NewEncoder(w).Encode(body)
}

// normalizePatch rewrites the string booleans some identity providers send
// (Entra ID's "active": "False") into JSON booleans, so that schema
// validation accepts them.
func normalizePatch(r *http.Request) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req map[string]any
	if json.Unmarshal(b, &req) == nil {
		changed := false
		if ops, ok := req["Operations"].([]any); ok {
			for _, o := range ops {
				op, ok := o.(map[string]any)
				if !ok {
					continue
				}
				if path, _ := op["path"].(string); strings.EqualFold(path, "active") {
					if v, ok := asBool(op["value"]); ok {
						op["value"], changed = v, true
					}
				}
				if m, ok := op["value"].(map[string]any); ok {
					for k, v := range m {
						if strings.EqualFold(k, "active") {
							if bv, ok := asBool(v); ok {
								m[k], changed = bv, true
							}
						}
					}
				}
			}
		}
		if changed {
			if nb, err := json.Marshal(req); err == nil {
				b = nb
			}
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	return nil
}

func asBool(v any) (bool, bool) {
	switch t := v.(type) {
	case bool:
		return t, true
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	return false, false
}

// provisioner applies SCIM changes to the store, audited.
type provisioner struct {
	d Deps
}

func (p *provisioner) event(actor store.Principal, action, target string) event.Event {
	return event.Event{Time: p.d.Now().UTC(), Actor: actor.ID, Org: actor.Org, Role: actor.Role, Site: actor.Site,
		Region: actor.Region, Action: action, Target: target, Fields: []string{}, Purpose: "scim"}
}

// audit records an allowed change made by the caller of r.
func (p *provisioner) audit(r *http.Request, action, target, reason string) error {
	ev := p.event(caller(r), action, target)
	ev.Decision, ev.Reason = event.Allow, reason
	if err := p.d.Audit(r.Context(), ev); err != nil {
		p.d.Logger.Error("scim: audit append failed", "action", action, "err", err)
		return unavailable(r, "audit log unavailable; nothing was done")
	}
	return nil
}

// Meta keys: SCIM's own markers per principal.
func deletedKey(id string) string { return "scim/deleted/" + id }

func (p *provisioner) flag(ctx context.Context, key string) (bool, error) {
	v, err := p.d.Store.Meta(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return string(v) == "1", nil
}

func (p *provisioner) setFlag(ctx context.Context, key string, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	return p.d.Store.SetMeta(ctx, key, []byte(v))
}

// setActive applies SCIM's active to principal pr (already stored),
// audited. It never lifts a suspension SCIM did not make: SetStatus knows
// who made each one.
func (p *provisioner) setActive(r *http.Request, pr *store.Principal, active bool) error {
	status, reason := store.StatusSuspended, "scim: deactivated by the identity provider"
	if active {
		status, reason = store.StatusActive, "scim: reactivated by the identity provider"
	}
	if (pr.Status == store.StatusSuspended) == !active {
		return nil
	}
	err := p.d.SetStatus(r.Context(), caller(r), pr.ID, status, reason)
	if errors.Is(err, gateway.ErrNotLifted) {
		p.d.Logger.Warn("scim: active true ignored for a principal suspended outside SCIM", "principal", pr.ID)
		return nil
	}
	if err != nil {
		return err
	}
	pr.Status = status
	return nil
}

// storeErr turns a store error into a SCIM error.
func storeErr(r *http.Request, id string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return scimerr.ScimErrorResourceNotFound(id)
	case errors.Is(err, store.ErrExists), errors.Is(err, store.ErrConflict):
		return scimerr.ScimErrorUniqueness
	case errors.Is(err, store.ErrUnavailable):
		return unavailable(r, "the store is unavailable; retry shortly")
	}
	var se scimerr.ScimError
	if errors.As(err, &se) {
		return se
	}
	return scimerr.ScimError{Status: http.StatusInternalServerError, Detail: "internal error"}
}
