package gateway

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/jsonenc"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// CustomerView is a customer record as one principal may see it: each
// field shown in full, masked, or withheld (nil), as the policy decided.
type CustomerView struct {
	ID      string            `json:"id"`
	Name    *string           `json:"name,omitempty"`
	Phone   *string           `json:"phone,omitempty"`
	Account *string           `json:"account,omitempty"`
	Region  *string           `json:"region,omitempty"`
	Site    string            `json:"site,omitempty"`
	Fields  map[string]string `json:"fields"`
}

// AppendJSON appends v as encoding/json writes it (HTML escaping off),
// without its reflection: the guarded read's answer is written per
// request (FuzzCustomerViewJSON checks the two agree).
func (v CustomerView) AppendJSON(b []byte) []byte {
	b = jsonenc.AppendString(append(b, `{"id":`...), v.ID)
	for _, f := range [...]struct {
		key string
		v   *string
	}{{`,"name":`, v.Name}, {`,"phone":`, v.Phone}, {`,"account":`, v.Account}, {`,"region":`, v.Region}} {
		if f.v != nil {
			b = jsonenc.AppendString(append(b, f.key...), *f.v)
		}
	}
	if v.Site != "" {
		b = jsonenc.AppendString(append(b, `,"site":`...), v.Site)
	}
	b = append(b, `,"fields":`...)
	if v.Fields == nil {
		return append(b, "null}"...)
	}
	keys := make([]string, 0, 8)
	for k := range v.Fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, k)
		b = jsonenc.AppendString(append(b, ':'), v.Fields[k])
	}
	return append(b, "}}"...)
}

// Query is an exact-match search: exactly one of Phone or Account.
type Query struct {
	Phone   *string `json:"phone"`
	Account *string `json:"account"`
}

// Read returns customer id as p may see it under purpose (the
// Custos-Purpose header's value). Whether p may see the customer is decided
// before, and independently of, whether the customer exists: a principal
// without a valid purpose cannot tell.
func (g *Gateway) Read(ctx context.Context, p store.Principal, id, purpose string) (CustomerView, error) {
	g.init()
	if !store.ValidID(id) {
		return CustomerView{}, BadRequest("customer id must be an exact id: no wildcards, spaces or slashes")
	}
	ctx, c, err := g.customer(ctx, id, purpose)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return CustomerView{}, err
	}
	return g.guardedRead(ctx, p, policy.ActionRead, event.ActionRead, id, c, found, purpose)
}

// customerTicketer is a store that reads a customer and a ticket in one
// round trip (PostgreSQL).
type customerTicketer interface {
	CustomerTicket(ctx context.Context, id, ticket string) store.CustomerTicket
}

// customer reads customer id for a read under purpose. On a store that
// can, the ticket the purpose names is read in the same round trip, and the
// returned context carries it for the purpose check (ticket), which
// decides on it as on any other lookup.
func (g *Gateway) customer(ctx context.Context, id, purpose string) (context.Context, store.Customer, error) {
	if ct, ok := g.Store.(customerTicketer); ok {
		if pu, err := ParsePurpose(purpose); err == nil && pu.Kind == policy.PurposeTicket {
			r := ct.CustomerTicket(ctx, id, pu.ID)
			if r.TicketErr != nil && !errors.Is(r.TicketErr, store.ErrNotFound) {
				return ctx, r.Customer, r.TicketErr
			}
			return context.WithValue(ctx, readTicketKey{}, readTicket{pu.ID, r.Ticket, r.TicketErr}), r.Customer, r.CustomerErr
		}
	}
	c, err := g.Store.Customer(ctx, id)
	return ctx, c, err
}

// readTicket is a ticket read beside the customer; readTicketKey its
// context key.
type (
	readTicket struct {
		id  string
		t   store.Ticket
		err error
	}
	readTicketKey struct{}
)

// ticket returns ticket id: as read beside the customer if it was, else
// from the store.
func (g *Gateway) ticket(ctx context.Context, id string) (store.Ticket, error) {
	if rt, ok := ctx.Value(readTicketKey{}).(readTicket); ok && rt.id == id {
		return rt.t, rt.err
	}
	return g.Store.Ticket(ctx, id)
}

// Search finds at most one customer by exact phone or account and returns
// it as Read would. The purpose must name the customer the search resolves
// to; a search that resolves to nothing is refused exactly like one for a
// customer the principal may not see.
func (g *Gateway) Search(ctx context.Context, p store.Principal, q Query, purpose string) (CustomerView, error) {
	g.init()
	if (q.Phone == nil) == (q.Account == nil) {
		return CustomerView{}, BadRequest(`give exactly one of "phone" or "account"`)
	}
	var c store.Customer
	var err error
	if q.Phone != nil {
		if strings.ContainsAny(*q.Phone, "*%?_") {
			return CustomerView{}, BadRequest("exact match only: wildcards are not allowed")
		}
		ph, perr := vault.NormalizePhone(*q.Phone)
		if perr != nil {
			return CustomerView{}, BadRequest("phone must be a full number, e.g. +8613800138000")
		}
		c, err = g.Vault.FindCustomer(ctx, g.Store, vault.IndexPhone, ph)
	} else {
		a := vault.NormalizeAccount(*q.Account)
		if a == "" || strings.ContainsAny(a, "*%?") || len(a) > 320 {
			return CustomerView{}, BadRequest("exact match only: give a whole account, no wildcards")
		}
		c, err = g.Vault.FindCustomer(ctx, g.Store, vault.IndexAccount, a)
	}
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return CustomerView{}, err
	}
	return g.guardedRead(ctx, p, policy.ActionSearch, event.ActionSearch, c.ID, c, found, purpose)
}

// RefuseBulk audits and refuses a bulk action (list or export): no role
// lists or exports customers by default, and custos serves neither.
func (g *Gateway) RefuseBulk(ctx context.Context, p store.Principal, action string) error {
	if _, err := g.Gate(ctx, p, action, event.ActionExport, policy.Request{}); err != nil {
		return err
	}
	return Forbidden("listing or exporting customers is not supported")
}

// ParsePurpose reads "ticket:<id>", "consent:<id>", "breakglass:<text>" or
// "legal:<ref>". An empty header is no purpose; anything else malformed is
// a purpose_invalid error.
func ParsePurpose(h string) (policy.Purpose, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return policy.Purpose{}, nil
	}
	kind, id, ok := strings.Cut(h, ":")
	id = strings.TrimSpace(id)
	if !ok || id == "" || len(id) > 200 {
		return policy.Purpose{}, &Error{Code: "purpose_invalid", Msg: "Custos-Purpose must be ticket:<id>, consent:<id> or breakglass:<reason>"}
	}
	switch kind = strings.ToLower(strings.TrimSpace(kind)); kind {
	case policy.PurposeTicket, policy.PurposeConsent, policy.PurposeBreakGlass, policy.PurposeLegal:
		return policy.Purpose{Kind: kind, ID: id}, nil
	}
	return policy.Purpose{}, &Error{Code: "purpose_invalid", Msg: "unknown purpose kind; use ticket, consent or breakglass"}
}

// purposeString is the purpose as the audit event records it. A
// break-glass reason given in the header instead of a request id is free
// text that may name third parties: the log records only that one was given.
func purposeString(pu policy.Purpose) string {
	switch {
	case pu.Kind == "":
		return ""
	case pu.Kind == policy.PurposeBreakGlass && !strings.HasPrefix(pu.ID, "bg-"):
		return policy.PurposeBreakGlass + ":-"
	}
	return pu.Kind + ":" + truncate(pu.ID, 64)
}

var denyMessages = map[string]string{
	"purpose_required": "send Custos-Purpose: ticket:<id> or consent:<id>",
	"purpose_invalid":  "the purpose does not cover this customer for you (ticket closed, expired, not yours, for another customer or site, or consent not confirmed)",
	"quota_exceeded":   "quota of distinct customers reached",
}

// guardedRead is the heart of custos: it decides whether p may read the
// customer (id known, or found by lookup), audits the decision, and returns
// the view to send. found is used only after a decision that reveals
// nothing.
func (g *Gateway) guardedRead(ctx context.Context, p store.Principal, action, evAction, id string, c store.Customer, found bool, purpose string) (CustomerView, error) {
	ev := g.event(p, evAction)
	ev.Customer = id
	if found {
		ev.CustomerRegion, ev.CustomerSite, ev.Canary = c.Region, c.Site, c.Canary
	}
	ev.Found = &found
	if p.Status == store.StatusSuspended {
		return CustomerView{}, g.deny(ctx, ev, "principal_suspended", msgSuspended, 0)
	}
	pu, err := ParsePurpose(purpose)
	if err != nil {
		ev.Purpose = "invalid"
		return CustomerView{}, g.deny(ctx, ev, "purpose_invalid", err.(*Error).Msg, 0)
	}
	ev.Purpose = purposeString(pu)
	var pc purposeCheck
	if id != "" {
		if pc, err = g.checkPurpose(ctx, p, &pu, id); err != nil {
			return CustomerView{}, err
		}
	}
	ev.PurposeValid = pu.Valid
	ev.Basis, ev.TicketAge = pc.basis, pc.ticketAge
	req := policy.Request{Principal: policyPrincipal(p), Action: action, Purpose: pu, Time: g.Now(),
		Resource: policy.Resource{ID: id}}
	if found {
		req.Resource = policy.Resource{ID: c.ID, Region: c.Region, Site: c.Site, Canary: c.Canary}
	}
	d := g.Policy.Authorize(ctx, req)
	if !d.Allow {
		code := denyCode(d.Reason)
		msg := denyMessages[code]
		if msg == "" {
			msg = "not permitted"
		}
		if pu.Kind == policy.PurposeBreakGlass && !pu.Valid {
			msg = "break-glass reads need a request approved by a second person: POST /v1/breakglass, then send Custos-Purpose: breakglass:<request id>"
		}
		return CustomerView{}, g.deny(ctx, ev, code, msg, 0)
	}
	if !found {
		// A valid purpose for this id; the customer simply does not exist.
		return CustomerView{}, g.deny(ctx, ev, "not_found", "no such customer", 0)
	}
	if res, err := g.chargeQuota(ctx, p, c.ID); err != nil {
		return CustomerView{}, err
	} else if !res.Allowed {
		return CustomerView{}, g.deny(ctx, ev, "quota_exceeded", "quota of distinct customers reached for your role", res.RetryAfter)
	}
	v, shown, masked, err := g.view(c, d)
	if err != nil {
		return CustomerView{}, err
	}
	ev.Fields, ev.Masked = shown, masked
	if err := g.allow(ctx, ev); err != nil {
		return CustomerView{}, err
	}
	if pc.breakGlass != "" && g.Alerts != nil {
		g.Alerts.Raise(ctx, store.Alert{Actor: p.ID, Time: ev.Time, Score: 0.5, Kind: "breakglass",
			Reasons: []string{"break-glass read under request " + pc.breakGlass}, Records: 1})
	}
	return v, nil
}

// chargeQuota charges p's distinct-customer quota for customer (a customer
// already counted in the window costs nothing). Roles without a quota are
// always allowed.
func (g *Gateway) chargeQuota(ctx context.Context, p store.Principal, customer string) (store.QuotaResult, error) {
	q := g.Config.Quotas[p.Role]
	if q.CustomersPerHour == 0 && q.CustomersPerDay == 0 {
		return store.QuotaResult{Allowed: true}, nil
	}
	return g.Store.ChargeQuota(ctx, p.ID, customer, g.Now(), store.QuotaLimits{PerHour: q.CustomersPerHour, PerDay: q.CustomersPerDay})
}

// view decrypts and masks c's fields as d says; it returns the view and the
// names of the fields shown and of those among them shown masked (for the
// audit event).
func (g *Gateway) view(c store.Customer, d policy.Decision) (CustomerView, []string, []string, error) {
	v := CustomerView{ID: c.ID, Site: c.Site, Fields: make(map[string]string, len(policy.Fields))}
	rec, err := g.Vault.Record(c.ID, c.Key) // one unwrap per read
	if err != nil {
		return CustomerView{}, nil, nil, err
	}
	var shown, masked []string
	for _, f := range policy.Fields {
		mode := d.Fields[f]
		v.Fields[f] = mode.String()
		if mode == policy.Withheld {
			continue
		}
		val, err := field(rec, c, f, mode)
		if err != nil {
			return CustomerView{}, nil, nil, err
		}
		switch f {
		case "name":
			v.Name = &val
		case "phone":
			v.Phone = &val
		case "account":
			v.Account = &val
		case "region":
			v.Region = &val
		}
		shown = append(shown, f)
		if mode == policy.Masked {
			masked = append(masked, f)
		}
	}
	return v, shown, masked, nil
}

// field returns one field of c, unsealed with its record key rec and
// masked as mode says.
func field(rec vault.Record, c store.Customer, f string, mode policy.FieldMode) (string, error) {
	if f == "region" {
		return c.Region, nil
	}
	val, err := rec.Field(c, f)
	if err != nil || mode != policy.Masked {
		return val, err
	}
	switch f {
	case "phone":
		return vault.MaskPhone(val), nil
	case "account":
		return vault.MaskAccount(val), nil
	}
	if r := []rune(val); len(r) > 0 {
		return string(r[0]) + "•••", nil
	}
	return val, nil
}
