package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// PurposeHeader carries the purpose of an access.
const PurposeHeader = "Custos-Purpose"

// parsePurpose reads "ticket:<id>", "consent:<id>" or "breakglass:<text>".
// An empty header is no purpose; anything else malformed is an error.
func parsePurpose(h string) (policy.Purpose, error) {
	h = strings.TrimSpace(h)
	if h == "" {
		return policy.Purpose{}, nil
	}
	kind, id, ok := strings.Cut(h, ":")
	id = strings.TrimSpace(id)
	if !ok || id == "" || len(id) > 200 {
		return policy.Purpose{}, &apiError{http.StatusForbidden, "purpose_invalid", "Custos-Purpose must be ticket:<id>, consent:<id> or breakglass:<reason>", 0}
	}
	switch kind = strings.ToLower(strings.TrimSpace(kind)); kind {
	case policy.PurposeTicket, policy.PurposeConsent, policy.PurposeBreakGlass, policy.PurposeLegal:
		return policy.Purpose{Kind: kind, ID: id}, nil
	}
	return policy.Purpose{}, &apiError{http.StatusForbidden, "purpose_invalid", "unknown purpose kind; use ticket, consent or breakglass", 0}
}

// checkPurpose establishes whether purpose pu holds for principal p reading
// customer id. It never depends on whether the customer exists, so its
// answer reveals nothing about existence.
func (s *Server) checkPurpose(ctx context.Context, p store.Principal, pu *policy.Purpose, customer string) (breakGlassID string, err error) {
	now := s.Now()
	switch pu.Kind {
	case policy.PurposeTicket:
		t, err := s.Store.Ticket(ctx, pu.ID)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		pu.Valid = t.ClosedAt.IsZero() && t.Customer == customer && t.Site == p.Site && p.Site != ""
	case policy.PurposeConsent:
		c, err := s.Store.Consent(ctx, pu.ID)
		if errors.Is(err, store.ErrNotFound) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		pu.Valid = !c.ConfirmedAt.IsZero() && c.Principal == p.ID && c.Customer == customer && now.Before(c.GrantUntil)
	case policy.PurposeLegal:
		// A legal request is checked by policy alone (the case reference is
		// recorded); the default pack grants nothing under it.
		pu.Valid = true
	case policy.PurposeBreakGlass:
		// The reason may name an approved request; otherwise none holds.
		if strings.HasPrefix(pu.ID, "bg-") {
			b, err := s.Store.BreakGlass(ctx, pu.ID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return "", err
			}
			if err == nil && b.Principal == p.ID && b.Customer == customer && b.ApprovedBy != "" && now.Before(b.ExpiresAt) {
				pu.Valid = true
				return b.ID, nil
			}
		}
	}
	return "", nil
}

// customerView is a customer record as one principal may see it.
type customerView struct {
	ID      string            `json:"id"`
	Name    *string           `json:"name,omitempty"`
	Phone   *string           `json:"phone,omitempty"`
	Account *string           `json:"account,omitempty"`
	Region  *string           `json:"region,omitempty"`
	Site    string            `json:"site,omitempty"`
	Fields  map[string]string `json:"fields"`
}

// view decrypts and masks c's fields as d says; it returns the view and the
// names of the fields shown (for the audit event).
func (s *Server) view(c store.Customer, d policy.Decision) (customerView, []string, error) {
	v := customerView{ID: c.ID, Site: c.Site, Fields: make(map[string]string, len(policy.Fields))}
	var shown []string
	for _, f := range policy.Fields {
		mode := d.Fields[f]
		v.Fields[f] = mode.String()
		if mode == policy.Withheld {
			continue
		}
		var val string
		var err error
		switch f {
		case "name":
			val, err = s.Vault.Unseal(c.ID, "name", c.Name)
		case "phone":
			val, err = s.Vault.Unseal(c.ID, "phone", c.Phone)
			if mode == policy.Masked {
				val = vault.MaskPhone(val)
			}
		case "account":
			val, err = s.Vault.Unseal(c.ID, "account", c.Account)
			if mode == policy.Masked {
				val = vault.MaskAccount(val)
			}
		case "region":
			val = c.Region
		}
		if err != nil {
			return customerView{}, nil, err
		}
		if f == "name" && mode == policy.Masked {
			if r := []rune(val); len(r) > 0 {
				val = string(r[0]) + "•••"
			}
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
	}
	return v, shown, nil
}

// guardedRead is the heart of custos: it decides whether p may read the
// customer (id known, or found by lookup), audits the decision, and returns
// the view to send. found reports whether the customer exists; it is used
// only after a decision that reveals nothing.
func (s *Server) guardedRead(r *http.Request, p store.Principal, action, evAction, id string, c store.Customer, found bool) (customerView, error) {
	ctx := r.Context()
	ev := s.baseEvent(p, evAction)
	ev.Customer = id
	if found {
		ev.CustomerRegion, ev.CustomerSite, ev.Canary = c.Region, c.Site, c.Canary
	}
	ev.Found = &found
	deny := func(code, msg string, retry time.Duration) (customerView, error) {
		ev.Decision, ev.Reason = event.Deny, code
		if err := s.record(ctx, ev); err != nil {
			return customerView{}, err
		}
		return customerView{}, &apiError{statusFor(code), code, msg, retry}
	}
	if p.Status == store.StatusSuspended {
		return deny("principal_suspended", "this principal is suspended; contact your security team", 0)
	}
	pu, err := parsePurpose(r.Header.Get(PurposeHeader))
	if err != nil {
		ev.Purpose = "invalid"
		return deny("purpose_invalid", err.(*apiError).msg, 0)
	}
	ev.Purpose = purposeString(pu)
	bgID := ""
	if id != "" {
		if bgID, err = s.checkPurpose(ctx, p, &pu, id); err != nil {
			return customerView{}, err
		}
	}
	ev.PurposeValid = pu.Valid
	req := policy.Request{
		Principal: asPolicyPrincipal(p),
		Action:    action,
		Purpose:   pu,
		Time:      s.Now(),
	}
	if found {
		req.Resource = policy.Resource{ID: c.ID, Region: c.Region, Site: c.Site, Canary: c.Canary}
	} else {
		req.Resource = policy.Resource{ID: id}
	}
	d := s.Policy.Authorize(ctx, req)
	if !d.Allow {
		code := denyCode(d.Reason)
		msg := map[string]string{
			"purpose_required": "send Custos-Purpose: ticket:<id> or consent:<id>",
			"purpose_invalid":  "the purpose does not cover this customer for you (ticket closed, for another customer or site, or consent not confirmed)",
			"quota_exceeded":   "quota of distinct customers reached",
		}[code]
		if msg == "" {
			msg = "not permitted"
		}
		if pu.Kind == policy.PurposeBreakGlass && !pu.Valid {
			msg = "break-glass reads need a request approved by a second person: POST /v1/breakglass, then send Custos-Purpose: breakglass:<request id>"
		}
		return deny(code, msg, 0)
	}
	if !found {
		// The principal holds a valid purpose for this id; the customer
		// simply does not exist.
		return deny("not_found", "no such customer", 0)
	}
	q := s.Config.Quotas[p.Role]
	if q.CustomersPerHour > 0 || q.CustomersPerDay > 0 {
		res, err := s.Store.ChargeQuota(ctx, p.ID, c.ID, s.Now(), store.QuotaLimits{PerHour: q.CustomersPerHour, PerDay: q.CustomersPerDay})
		if err != nil {
			return customerView{}, err
		}
		if !res.Allowed {
			return deny("quota_exceeded", "quota of distinct customers reached for your role", res.RetryAfter)
		}
	}
	v, shown, err := s.view(c, d)
	if err != nil {
		return customerView{}, err
	}
	ev.Fields = shown
	ev.Decision = event.Allow
	if err := s.record(ctx, ev); err != nil {
		return customerView{}, err
	}
	if bgID != "" && s.Alerts != nil {
		s.Alerts.Raise(ctx, store.Alert{Actor: p.ID, Time: ev.Time, Score: 0.5, Kind: "breakglass",
			Reasons: []string{"break-glass read under request " + bgID}, Records: 1})
	}
	return v, nil
}

// purposeString is the purpose as the audit event records it. A
// break-glass reason given in the header instead of a request id is free
// text that may name third parties: the log records only that one was given
// (the reason of a real request is kept with the request).
func purposeString(pu policy.Purpose) string {
	switch {
	case pu.Kind == "":
		return ""
	case pu.Kind == policy.PurposeBreakGlass && !strings.HasPrefix(pu.ID, "bg-"):
		return policy.PurposeBreakGlass + ":-"
	}
	return pu.Kind + ":" + truncate(pu.ID, 64)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func (s *Server) readCustomer(w http.ResponseWriter, r *http.Request, p store.Principal) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		s.fail(w, r, errBadRequest("customer id must be an exact id: no wildcards, spaces or slashes"))
		return
	}
	c, err := s.Store.Customer(r.Context(), id)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	v, err := s.guardedRead(r, p, policy.ActionRead, event.ActionRead, id, c, found)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

type searchRequest struct {
	Phone   *string `json:"phone"`
	Account *string `json:"account"`
}

func (s *Server) searchCustomer(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req searchRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if (req.Phone == nil) == (req.Account == nil) {
		s.fail(w, r, errBadRequest(`give exactly one of "phone" or "account"`))
		return
	}
	var c store.Customer
	var err error
	switch {
	case req.Phone != nil:
		if strings.ContainsAny(*req.Phone, "*%?_") {
			s.fail(w, r, errBadRequest("exact match only: wildcards are not allowed"))
			return
		}
		ph, perr := vault.NormalizePhone(*req.Phone)
		if perr != nil {
			s.fail(w, r, errBadRequest("phone must be a full number, e.g. +8613800138000"))
			return
		}
		c, err = s.Store.CustomerByPhone(r.Context(), s.Vault.BlindIndex(vault.IndexPhone, ph))
	default:
		a := vault.NormalizeAccount(*req.Account)
		if a == "" || strings.ContainsAny(a, "*%?") || len(a) > 320 {
			s.fail(w, r, errBadRequest("exact match only: give a whole account, no wildcards"))
			return
		}
		c, err = s.Store.CustomerByAccount(r.Context(), s.Vault.BlindIndex(vault.IndexAccount, a))
	}
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	// The purpose must name the customer the search resolves to; when it
	// resolves to nothing, the purpose cannot hold, and the caller learns
	// no more than for a customer they may not see.
	id := ""
	if found {
		id = c.ID
	}
	v, err := s.guardedRead(r, p, policy.ActionSearch, event.ActionSearch, id, c, found)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// listCustomers and exportCustomers exist only to be refused (and audited):
// no role lists or exports customers by default.
func (s *Server) listCustomers(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if _, err := s.gate(r, p, policy.ActionList, event.ActionExport, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "listing customers is not supported", 0})
}

func (s *Server) exportCustomers(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if _, err := s.gate(r, p, policy.ActionExport, event.ActionExport, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "export is not supported", 0})
}
