package scim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"

	escim "github.com/elimity-com/scim"
	scimerr "github.com/elimity-com/scim/errors"
	"github.com/elimity-com/scim/optional"

	"github.com/custos-dev/custos/internal/store"
)

// orgKinds are the contract's org kinds.
var orgKinds = map[string]bool{"": true, "company": true, "distributor": true, "retailer": true, "contractor": true, "callcenter": true}

// validID accepts what custos accepts as an id: printable ASCII without
// spaces, slashes, quotes or wildcards, at most 128 bytes.
func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if ch := id[i]; ch <= ' ' || ch >= 0x7f || strings.IndexByte("*%?/\\\"'", ch) >= 0 {
			return false
		}
	}
	return true
}

// users is the /Users resource handler.
type users struct{ p *provisioner }

// toResource renders a principal as a SCIM User.
func toResource(pr store.Principal) escim.Resource {
	ext := map[string]any{}
	for k, v := range map[string]string{"org": pr.Org, "orgKind": pr.OrgKind, "role": pr.Role, "site": pr.Site, "region": pr.Region} {
		if v != "" {
			ext[k] = v
		}
	}
	attrs := escim.ResourceAttributes{
		"userName": pr.ID,
		"active":   pr.Status != store.StatusSuspended,
	}
	if pr.Name != "" {
		attrs["displayName"] = pr.Name
	}
	if len(ext) > 0 {
		attrs[CustosUserSchema] = ext
	}
	if pr.Role != "" {
		attrs["groups"] = []any{map[string]any{"value": pr.Role, "display": pr.Role}}
	}
	return escim.Resource{ID: pr.ID, Attributes: attrs}
}

// apply sets the principal's fields from SCIM attributes (full: a whole
// representation, for create and replace). It returns the requested active
// state, if given.
func apply(pr *store.Principal, attrs escim.ResourceAttributes, full bool) (active *bool, err error) {
	get := func(m map[string]any, k string) (string, bool) {
		for key, v := range m {
			if strings.EqualFold(key, k) {
				s, ok := v.(string)
				return s, ok
			}
		}
		return "", false
	}
	// A replace (PUT) resets only what it carries: an identity provider
	// that does not map custos's attributes must not wipe a person's role.
	// When it sends the custos extension, the extension is whole.
	if _, ok := attrs[CustosUserSchema].(map[string]any); ok && full {
		pr.Org, pr.OrgKind, pr.Role, pr.Site, pr.Region = "", "", "", "", ""
	}
	if v, ok := get(attrs, "displayName"); ok {
		pr.Name = v
	} else if n, ok := attrs["name"].(map[string]any); ok {
		if v, ok := get(n, "formatted"); ok && v != "" {
			pr.Name = v
		} else {
			g, _ := get(n, "givenName")
			f, _ := get(n, "familyName")
			if s := strings.TrimSpace(g + " " + f); s != "" {
				pr.Name = s
			}
		}
	}
	if ent, ok := attrs[EnterpriseUserSchema].(map[string]any); ok {
		if v, ok := get(ent, "organization"); ok {
			pr.Org = v
		}
		if v, ok := get(ent, "department"); ok {
			pr.Site = v
		}
	}
	if c, ok := attrs[CustosUserSchema].(map[string]any); ok {
		for k, dst := range map[string]*string{"org": &pr.Org, "orgKind": &pr.OrgKind, "role": &pr.Role, "site": &pr.Site, "region": &pr.Region} {
			if v, ok := get(c, k); ok {
				*dst = v
			}
		}
	}
	if v, ok := attrs["active"].(bool); ok {
		active = &v
	}
	return active, check(*pr)
}

func check(pr store.Principal) error {
	if !orgKinds[pr.OrgKind] {
		return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue,
			Detail: "orgKind must be one of company, distributor, retailer, contractor, callcenter"}
	}
	for _, v := range []string{pr.Role, pr.Site, pr.Org, pr.Region} {
		if v != "" && !validID(v) {
			return scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue,
				Detail: "org, role, site and region must be plain ids (no spaces, slashes or wildcards)"}
		}
	}
	return nil
}

// load returns principal id unless SCIM deleted it.
func (u users) load(r *http.Request, id string) (store.Principal, error) {
	pr, err := u.p.d.Store.Principal(r.Context(), id)
	if err != nil {
		return pr, storeErr(r, id, err)
	}
	if del, err := u.p.flag(r.Context(), deletedKey(id)); err != nil {
		return pr, storeErr(r, id, err)
	} else if del {
		return pr, scimerr.ScimErrorResourceNotFound(id)
	}
	return pr, nil
}

func (u users) Create(r *http.Request, attrs escim.ResourceAttributes) (escim.Resource, error) {
	ctx := r.Context()
	id, _ := attrs["userName"].(string)
	if !validID(id) || reservedID(id) {
		return escim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue,
			Detail: "userName becomes the principal id: printable, no spaces, slashes, quotes or wildcards, at most 128 bytes, not starting with custos or subject (reserved)"}
	}
	old, err := u.p.d.Store.Principal(ctx, id)
	recreate := false
	switch {
	case err == nil:
		del, ferr := u.p.flag(ctx, deletedKey(id))
		if ferr != nil {
			return escim.Resource{}, storeErr(r, id, ferr)
		}
		if !del {
			return escim.Resource{}, scimerr.ScimErrorUniqueness
		}
		recreate = true
	case !errors.Is(err, store.ErrNotFound):
		return escim.Resource{}, storeErr(r, id, err)
	}
	pr := store.Principal{ID: id, Status: store.StatusActive}
	if recreate {
		pr.Status, pr.TokenHash = old.Status, old.TokenHash
	}
	active, err := apply(&pr, attrs, true)
	if err != nil {
		return escim.Resource{}, err
	}
	if err := u.p.roleAllowed(pr.Role); err != nil {
		return escim.Resource{}, err
	}
	if err := u.p.d.Store.PutPrincipal(ctx, pr); err != nil {
		return escim.Resource{}, storeErr(r, id, err)
	}
	if recreate {
		if err := u.p.setFlag(ctx, deletedKey(id), false); err != nil {
			return escim.Resource{}, storeErr(r, id, err)
		}
	}
	if err := u.p.audit(r, ActionProvision, id, "scim: created"); err != nil {
		return escim.Resource{}, err
	}
	if active == nil {
		t := true
		active = &t
	}
	if err := u.p.setActive(r, &pr, *active); err != nil {
		return escim.Resource{}, storeErr(r, id, err)
	}
	return toResource(pr), nil
}

func (u users) Get(r *http.Request, id string) (escim.Resource, error) {
	pr, err := u.load(r, id)
	if err != nil {
		return escim.Resource{}, err
	}
	return toResource(pr), nil
}

func (u users) GetAll(r *http.Request, params escim.ListRequestParams) (escim.Page, error) {
	all, err := u.p.d.Store.Principals(r.Context())
	if err != nil {
		return escim.Page{}, storeErr(r, "", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	var match []escim.Resource
	for _, pr := range all {
		if del, err := u.p.flag(r.Context(), deletedKey(pr.ID)); err != nil {
			return escim.Page{}, storeErr(r, "", err)
		} else if del {
			continue
		}
		res := toResource(pr)
		if !passes(params, res) {
			continue
		}
		match = append(match, res)
	}
	page := escim.Page{TotalResults: len(match), Resources: []escim.Resource{}}
	start := max(params.StartIndex, 1) - 1
	if start < len(match) {
		end := min(start+max(params.Count, 0), len(match))
		page.Resources = match[start:end]
	}
	return page, nil
}

func (u users) Replace(r *http.Request, id string, attrs escim.ResourceAttributes) (escim.Resource, error) {
	pr, err := u.load(r, id)
	if err != nil {
		return escim.Resource{}, err
	}
	if name, _ := attrs["userName"].(string); name != "" && name != id {
		u.p.d.Logger.Warn("scim: userName change ignored; the principal id is fixed", "principal", id)
	}
	active, err := apply(&pr, attrs, true)
	if err != nil {
		return escim.Resource{}, err
	}
	return u.store(r, pr, active, "scim: replaced")
}

// store writes pr back (keeping its token and status), audits the update,
// then applies active.
func (u users) store(r *http.Request, pr store.Principal, active *bool, reason string) (escim.Resource, error) {
	if err := u.p.roleAllowed(pr.Role); err != nil {
		return escim.Resource{}, err
	}
	if err := u.p.audit(r, ActionProvision, pr.ID, reason); err != nil {
		return escim.Resource{}, err
	}
	if err := u.p.d.Store.PutPrincipal(r.Context(), pr); err != nil {
		return escim.Resource{}, storeErr(r, pr.ID, err)
	}
	if active != nil {
		if err := u.p.setActive(r, &pr, *active); err != nil {
			return escim.Resource{}, storeErr(r, pr.ID, err)
		}
	}
	return toResource(pr), nil
}

func (u users) Delete(r *http.Request, id string) error {
	pr, err := u.load(r, id)
	if err != nil {
		return err
	}
	if err := u.p.setActive(r, &pr, false); err != nil {
		return storeErr(r, id, err)
	}
	if err := u.p.setFlag(r.Context(), deletedKey(id), true); err != nil {
		return storeErr(r, id, err)
	}
	return u.p.audit(r, ActionProvision, id, "scim: deleted (kept suspended)")
}

// Patch applies add, replace and remove operations in the forms Okta and
// Entra ID send: with a path ("active", "displayName", "name.familyName",
// "urn:…:User:role"), or without one and a value object.
func (u users) Patch(r *http.Request, id string, ops []escim.PatchOperation) (escim.Resource, error) {
	pr, err := u.load(r, id)
	if err != nil {
		return escim.Resource{}, err
	}
	var active *bool
	for _, op := range ops {
		var attrs escim.ResourceAttributes
		switch {
		case op.Path == nil:
			m, ok := op.Value.(map[string]any)
			if !ok {
				return escim.Resource{}, scimerr.ScimErrorInvalidValue
			}
			attrs = unflatten(m)
		default:
			attrs = pathValue(op.Path.AttributePath.URIPrefix, op.Path.AttributePath.AttributeName,
				op.Path.AttributePath.SubAttribute, op.Path.SubAttribute, op.Value, op.Op == escim.PatchOperationRemove)
		}
		a, err := apply(&pr, attrs, false)
		if err != nil {
			return escim.Resource{}, err
		}
		if a != nil {
			active = a
		}
	}
	return u.store(r, pr, active, "scim: patched")
}

// unflatten turns a path-less PATCH value into resource attributes; keys may
// be attribute names, "name.familyName", or "urn:…:User:attr".
func unflatten(m map[string]any) escim.ResourceAttributes {
	out := escim.ResourceAttributes{}
	for k, v := range m {
		for _, urn := range []string{CustosUserSchema, EnterpriseUserSchema} {
			if rest, ok := strings.CutPrefix(k, urn+":"); ok {
				sub, _ := out[urn].(map[string]any)
				if sub == nil {
					sub = map[string]any{}
					out[urn] = sub
				}
				sub[rest] = v
				k = ""
				break
			}
		}
		if k == "" {
			continue
		}
		if a, b, ok := strings.Cut(k, "."); ok {
			sub, _ := out[a].(map[string]any)
			if sub == nil {
				sub = map[string]any{}
				out[a] = sub
			}
			sub[b] = v
			continue
		}
		if sub, ok := v.(map[string]any); ok {
			if old, ok := out[k].(map[string]any); ok {
				for sk, sv := range sub {
					old[sk] = sv
				}
				continue
			}
		}
		out[k] = v
	}
	return out
}

// pathValue turns one PATCH operation with a path into resource attributes.
// A remove sets the attribute to "".
func pathValue(uri *string, name string, sub, sub2 *string, value any, remove bool) escim.ResourceAttributes {
	if remove {
		value = ""
	}
	if sub == nil && sub2 != nil && name != "emails" {
		sub = sub2
	}
	var attrs escim.ResourceAttributes
	switch {
	case uri != nil && sub == nil:
		attrs = escim.ResourceAttributes{*uri: map[string]any{name: value}}
	case sub != nil:
		attrs = escim.ResourceAttributes{name: map[string]any{*sub: value}}
	default:
		if m, ok := value.(map[string]any); ok && uri == nil {
			attrs = escim.ResourceAttributes{name: m}
		} else {
			attrs = escim.ResourceAttributes{name: value}
		}
	}
	return attrs
}

// groups is the /Groups resource handler: a group is a role.
type groups struct{ p *provisioner }

func (g groups) members(r *http.Request, role string) ([]store.Principal, error) {
	all, err := g.p.d.Store.Principals(r.Context())
	if err != nil {
		return nil, err
	}
	var out []store.Principal
	for _, pr := range all {
		if pr.Role == role {
			out = append(out, pr)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (g groups) resource(r *http.Request, role string) (escim.Resource, error) {
	ms, err := g.members(r, role)
	if err != nil {
		return escim.Resource{}, storeErr(r, role, err)
	}
	mem := make([]any, 0, len(ms))
	for _, m := range ms {
		mem = append(mem, map[string]any{"value": m.ID, "display": m.ID})
	}
	return escim.Resource{ID: role, ExternalID: optional.String{}, Attributes: escim.ResourceAttributes{"displayName": role, "members": mem}}, nil
}

// setRole gives principal id the role, audited. An empty role takes away
// the group's role (and only that one).
func (g groups) setRole(r *http.Request, id, role, group string) error {
	pr, err := g.p.d.Store.Principal(r.Context(), id)
	if err != nil {
		return storeErr(r, id, err)
	}
	if pr.Role == role || (role == "" && pr.Role != group) {
		return nil
	}
	if err := g.p.roleAllowed(role); err != nil {
		return err
	}
	pr.Role = role
	if err := g.p.audit(r, ActionProvision, id, "scim: role set to "+role); err != nil {
		return err
	}
	return storeErr(r, id, g.p.d.Store.PutPrincipal(r.Context(), pr))
}

func memberIDs(v any) []string {
	var out []string
	list, ok := v.([]any)
	if !ok {
		if m, ok := v.(map[string]any); ok {
			list = []any{m}
		}
	}
	for _, it := range list {
		if m, ok := it.(map[string]any); ok {
			if s, ok := m["value"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func (g groups) Create(r *http.Request, attrs escim.ResourceAttributes) (escim.Resource, error) {
	role, _ := attrs["displayName"].(string)
	if !validID(role) {
		return escim.Resource{}, scimerr.ScimError{Status: http.StatusBadRequest, ScimType: scimerr.ScimTypeInvalidValue,
			Detail: "a group's displayName is a custos role name, e.g. store_clerk"}
	}
	for _, id := range memberIDs(attrs["members"]) {
		if err := g.setRole(r, id, role, role); err != nil {
			return escim.Resource{}, err
		}
	}
	return g.resource(r, role)
}

func (g groups) Get(r *http.Request, id string) (escim.Resource, error) {
	if !validID(id) {
		return escim.Resource{}, scimerr.ScimErrorResourceNotFound(id)
	}
	return g.resource(r, id)
}

func (g groups) GetAll(r *http.Request, params escim.ListRequestParams) (escim.Page, error) {
	all, err := g.p.d.Store.Principals(r.Context())
	if err != nil {
		return escim.Page{}, storeErr(r, "", err)
	}
	roles := map[string]bool{}
	for _, pr := range all {
		if pr.Role != "" {
			roles[pr.Role] = true
		}
	}
	names := make([]string, 0, len(roles))
	for r := range roles {
		names = append(names, r)
	}
	sort.Strings(names)
	page := escim.Page{Resources: []escim.Resource{}}
	for _, n := range names {
		res, err := g.resource(r, n)
		if err != nil {
			return escim.Page{}, err
		}
		if !passes(params, res) {
			continue
		}
		page.Resources = append(page.Resources, res)
	}
	page.TotalResults = len(page.Resources)
	return page, nil
}

func (g groups) Replace(r *http.Request, id string, attrs escim.ResourceAttributes) (escim.Resource, error) {
	want := map[string]bool{}
	for _, m := range memberIDs(attrs["members"]) {
		want[m] = true
	}
	cur, err := g.members(r, id)
	if err != nil {
		return escim.Resource{}, storeErr(r, id, err)
	}
	for _, m := range cur {
		if !want[m.ID] {
			if err := g.setRole(r, m.ID, "", id); err != nil {
				return escim.Resource{}, err
			}
		}
	}
	for m := range want {
		if err := g.setRole(r, m, id, id); err != nil {
			return escim.Resource{}, err
		}
	}
	return g.resource(r, id)
}

func (g groups) Delete(r *http.Request, id string) error {
	_, err := g.Replace(r, id, escim.ResourceAttributes{})
	return err
}

func (g groups) Patch(r *http.Request, id string, ops []escim.PatchOperation) (escim.Resource, error) {
	for _, op := range ops {
		if op.Path == nil || !strings.EqualFold(op.Path.AttributePath.AttributeName, "members") {
			if m, ok := op.Value.(map[string]any); ok && op.Path == nil {
				if v, ok := m["members"]; ok {
					role := id
					if op.Op == escim.PatchOperationRemove {
						role = ""
					}
					for _, m := range memberIDs(v) {
						if err := g.setRole(r, m, role, id); err != nil {
							return escim.Resource{}, err
						}
					}
				}
			}
			continue // displayName changes: a role's name is fixed
		}
		ids := memberIDs(op.Value)
		if op.Op == escim.PatchOperationRemove && len(ids) == 0 && op.Path.ValueExpression != nil {
			// Okta: remove with path members[value eq "id"].
			if s := fmt.Sprint(op.Path.ValueExpression); s != "" {
				if _, v, ok := strings.Cut(s, `"`); ok {
					ids = []string{strings.TrimSuffix(v, `"`)}
				}
			}
		}
		for _, m := range ids {
			role := id
			if op.Op == escim.PatchOperationRemove {
				role = ""
			}
			if err := g.setRole(r, m, role, id); err != nil {
				return escim.Resource{}, err
			}
		}
	}
	return g.resource(r, id)
}

// partnerRoles are the roles SCIM grants unless Deps.AllowedRoles says
// otherwise.
var partnerRoles = []string{"store_clerk", "store_manager", "repair_tech", "callcenter_agent", "partner_admin"}

// roleAllowed refuses a role SCIM may not grant (company roles, unless the
// configuration names them).
func (p *provisioner) roleAllowed(role string) error {
	allowed := p.d.AllowedRoles
	if allowed == nil {
		allowed = partnerRoles
	}
	if role == "" || slices.Contains(allowed, role) {
		return nil
	}
	return scimerr.ScimError{Status: http.StatusForbidden, ScimType: scimerr.ScimTypeInvalidValue,
		Detail: "SCIM may not grant the role " + role + "; company roles come from the import or the configuration"}
}

// reservedID reports whether id is reserved for custos itself.
func reservedID(id string) bool {
	l := strings.ToLower(id)
	return strings.HasPrefix(l, "custos") || strings.HasPrefix(l, "subject")
}

// passes reports whether res passes the list request's filter (there is
// none without a FilterValidator).
func passes(params escim.ListRequestParams, res escim.Resource) bool {
	if params.FilterValidator == nil {
		return true
	}
	full := map[string]any{"id": res.ID}
	for k, v := range res.Attributes {
		full[k] = v
	}
	return params.FilterValidator.PassesFilter(full) == nil
}
