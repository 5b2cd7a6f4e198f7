package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

type meResponse struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Org     string    `json:"org"`
	OrgKind string    `json:"org_kind"`
	Role    string    `json:"role"`
	Site    string    `json:"site"`
	Region  string    `json:"region"`
	Status  string    `json:"status"`
	Quota   quotaView `json:"quota"`
}

type quotaView struct {
	PerHour       int `json:"customers_per_hour"`
	PerDay        int `json:"customers_per_day"`
	UsedHour      int `json:"used_hour"`
	UsedDay       int `json:"used_day"`
	RemainingHour int `json:"remaining_hour"`
	RemainingDay  int `json:"remaining_day"`
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p store.Principal) {
	q := s.Config.Quotas[p.Role]
	h, d, err := s.Store.QuotaUsage(r.Context(), p.ID, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rem := func(limit, used int) int {
		if limit == 0 {
			return -1 // unlimited
		}
		return max(limit-used, 0)
	}
	status := p.Status
	if status == "" {
		status = store.StatusActive
	}
	writeJSON(w, http.StatusOK, meResponse{ID: p.ID, Name: p.Name, Org: p.Org, OrgKind: p.OrgKind, Role: p.Role,
		Site: p.Site, Region: p.Region, Status: status,
		Quota: quotaView{PerHour: q.CustomersPerHour, PerDay: q.CustomersPerDay, UsedHour: h, UsedDay: d,
			RemainingHour: rem(q.CustomersPerHour, h), RemainingDay: rem(q.CustomersPerDay, d)}})
}

type ticketRequest struct {
	Customer string `json:"customer"`
	Site     string `json:"site"`
	ID       string `json:"id,omitempty"` // optional: the CRM's own ticket id
}

func (s *Server) createTicket(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req ticketRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !store.ValidID(req.Customer) {
		s.fail(w, r, errBadRequest(`"customer" must be a customer id`))
		return
	}
	if req.Site == "" {
		req.Site = p.Site
	}
	if !store.ValidID(req.Site) || (req.ID != "" && !store.ValidID(req.ID)) {
		s.fail(w, r, errBadRequest(`"site" and "id" must be plain ids`))
		return
	}
	if _, err := s.gate(r, p, policy.ActionTicketCreate, event.ActionTicketCreate,
		policy.Request{Resource: policy.Resource{ID: req.Customer, Site: req.Site}}); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := s.baseEvent(p, event.ActionTicketCreate)
	ev.Customer = req.Customer
	// Staff open tickets only at their own site; integrations (the CRM) at any.
	if p.Role != "integration" && req.Site != p.Site {
		ev.Decision, ev.Reason = event.Deny, "forbidden"
		if err := s.record(r.Context(), ev); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "you can open tickets only at your own site", 0})
		return
	}
	id := req.ID
	if id == "" {
		id = newID("T-")
	}
	ev.Purpose = "ticket:" + id
	ev.PurposeValid = true
	t := store.Ticket{ID: id, Customer: req.Customer, Site: req.Site, OpenedBy: p.ID, OpenedAt: s.Now().UTC()}
	if err := s.Store.CreateTicket(r.Context(), t); err != nil {
		if errors.Is(err, store.ErrExists) {
			s.fail(w, r, &apiError{http.StatusConflict, "conflict", "a ticket with this id exists", 0})
			return
		}
		s.fail(w, r, err)
		return
	}
	ev.Decision = event.Allow
	if err := s.record(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": id, "customer": t.Customer, "site": t.Site})
}

// sixDigits returns a uniformly random six-digit code.
func sixDigits() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		panic("httpapi: internal error: crypto/rand: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}

type consentRequest struct {
	Customer string `json:"customer"`
}

func (s *Server) startConsent(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req consentRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if !store.ValidID(req.Customer) {
		s.fail(w, r, errBadRequest(`"customer" must be a customer id`))
		return
	}
	if _, err := s.gate(r, p, policy.ActionConsentStart, event.ActionConsentStart,
		policy.Request{Resource: policy.Resource{ID: req.Customer}}); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.Now().UTC()
	// A few codes per customer per quarter hour, however many staff ask:
	// nobody can flood a customer's phone (the same answer whether or not
	// the customer exists).
	key := "customer:" + req.Customer
	if s.codes.blocked(key, now) {
		s.fail(w, r, &apiError{http.StatusTooManyRequests, "rate_limited", "too many codes sent to this customer; try again later", codesWindow})
		return
	}
	s.codes.fail(key, now)
	id := newID("K-")
	code := sixDigits()
	c := store.Consent{ID: id, Customer: req.Customer, Principal: p.ID, CodeHash: s.Vault.SecretHash(id, code),
		CreatedAt: now, ExpiresAt: now.Add(s.Config.ConsentTTL.Duration)}
	if err := s.Store.CreateConsent(r.Context(), c); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := s.baseEvent(p, event.ActionConsentStart)
	ev.Customer, ev.Purpose, ev.Decision = req.Customer, "consent:"+id, event.Allow
	if err := s.record(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	// The code goes to the customer's own phone. For an unknown customer
	// nothing is sent, but the answer is the same: no existence oracle.
	if cust, err := s.Store.Customer(r.Context(), req.Customer); err == nil {
		phone, err := s.Vault.Unseal(cust.ID, "phone", cust.Phone)
		if err == nil && phone != "" {
			text := fmt.Sprintf("custos: %s at %s asks to see your record. If you are at the counter, give them code %s. Valid %d minutes.",
				p.Org, p.Site, code, int(s.Config.ConsentTTL.Minutes()))
			if err := s.Notifier.Notify(r.Context(), phone, text); err != nil {
				s.Logger.Error("consent code not delivered", "consent", id, "err", err)
				s.fail(w, r, &apiError{http.StatusServiceUnavailable, "unavailable", "could not deliver the code; try again", 0})
				return
			}
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "expires_at": c.ExpiresAt})
}

type codeRequest struct {
	Code string `json:"code"`
}

func (s *Server) confirmConsent(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req codeRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	ctx := r.Context()
	c, err := s.Store.Consent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Principal != p.ID) {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such consent for you", 0})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.gate(r, p, policy.ActionConsentConfirm, event.ActionConsentConfirm,
		policy.Request{Resource: policy.Resource{ID: c.Customer}}); err != nil {
		s.fail(w, r, err)
		return
	}
	now := s.Now().UTC()
	ev := s.baseEvent(p, event.ActionConsentConfirm)
	ev.Customer, ev.Purpose = c.Customer, "consent:"+id
	deny := func(reason, msg string) {
		ev.Decision, ev.Reason = event.Deny, reason
		if err := s.record(ctx, ev); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", msg, 0})
	}
	switch {
	case !c.ConfirmedAt.IsZero():
		deny("consent_used", "this consent was already confirmed; codes are single-use")
		return
	case c.Attempts >= s.Config.ConsentMaxAttempts:
		deny("consent_locked", "too many wrong codes: this consent is locked; start a new one")
		return
	case !now.Before(c.ExpiresAt):
		deny("consent_expired", "the code has expired; start a new consent")
		return
	}
	if !s.Vault.SecretMatches(id, strings.TrimSpace(req.Code), c.CodeHash) {
		n, err := s.Store.ConsentFailed(ctx, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		left := s.Config.ConsentMaxAttempts - n
		if left <= 0 {
			deny("consent_locked", "wrong code; the consent is now locked")
			return
		}
		deny("wrong_code", "wrong code; "+strconv.Itoa(left)+" attempts left")
		return
	}
	grant := now.Add(s.Config.ConsentGrant.Duration)
	if err := s.Store.ConfirmConsent(ctx, id, now, grant); err != nil {
		if errors.Is(err, store.ErrConflict) {
			deny("consent_used", "this consent was already confirmed; codes are single-use")
			return
		}
		s.fail(w, r, err)
		return
	}
	ev.Decision, ev.PurposeValid = event.Allow, true
	if err := s.record(ctx, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "customer": c.Customer, "granted_until": grant})
}

type breakGlassRequest struct {
	Customer string `json:"customer"`
	Reason   string `json:"reason"`
}

func (s *Server) requestBreakGlass(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req breakGlassRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	req.Reason = strings.TrimSpace(req.Reason)
	if !store.ValidID(req.Customer) || req.Reason == "" || len(req.Reason) > 500 {
		s.fail(w, r, errBadRequest(`give "customer" (an id) and "reason" (free text, at most 500 bytes)`))
		return
	}
	if _, err := s.gate(r, p, policy.ActionBreakGlassReq, event.ActionBreakGlassReq,
		policy.Request{Resource: policy.Resource{ID: req.Customer}}); err != nil {
		s.fail(w, r, err)
		return
	}
	b := store.BreakGlass{ID: newID("bg-"), Principal: p.ID, Customer: req.Customer, Reason: req.Reason, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateBreakGlass(r.Context(), b); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := s.baseEvent(p, event.ActionBreakGlassReq)
	ev.Customer, ev.Purpose, ev.Decision = req.Customer, "breakglass:"+b.ID, event.Allow
	if err := s.record(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Alerts != nil {
		s.Alerts.Raise(r.Context(), store.Alert{Actor: p.ID, Time: b.CreatedAt, Score: 0.5, Kind: "breakglass",
			Reasons: []string{"break-glass requested: " + truncate(req.Reason, 120)}})
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": b.ID, "status": "pending approval"})
}

func (s *Server) approveBreakGlass(w http.ResponseWriter, r *http.Request, p store.Principal) {
	id := r.PathValue("id")
	ctx := r.Context()
	b, err := s.Store.BreakGlass(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such break-glass request", 0})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	requester, err := s.Store.Principal(ctx, b.Principal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	if _, err := s.gate(r, p, policy.ActionBreakGlassOK, event.ActionBreakGlassOK,
		policy.Request{Resource: policy.Resource{ID: b.Customer}, SelfApproval: b.Principal == p.ID, RequesterOrg: requester.Org}); err != nil {
		s.fail(w, r, err)
		return
	}
	ev := s.baseEvent(p, event.ActionBreakGlassOK)
	ev.Customer, ev.Purpose, ev.Target = b.Customer, "breakglass:"+b.ID, b.Principal
	if b.Principal == p.ID { // belt and braces: policy forbids it too
		ev.Decision, ev.Reason = event.Deny, "forbidden"
		if err := s.record(ctx, ev); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "a second person must approve break-glass", 0})
		return
	}
	now := s.Now().UTC()
	exp := now.Add(s.Config.BreakGlassGrant.Duration)
	if err := s.Store.ApproveBreakGlass(ctx, id, p.ID, now, exp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.fail(w, r, &apiError{http.StatusConflict, "conflict", "already approved", 0})
			return
		}
		s.fail(w, r, err)
		return
	}
	ev.Decision = event.Allow
	if err := s.record(ctx, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "approved_by": p.ID, "expires_at": exp})
}

// SetStatus changes a principal's status and audits it; actor is who did it
// (a principal, or "custos:detect" for automatic containment).
func (s *Server) SetStatus(r *http.Request, actor store.Principal, target, status, action, reason string) error {
	ctx := r.Context()
	ev := s.baseEvent(actor, action)
	ev.Target, ev.Reason = target, reason
	if err := s.Store.SetPrincipalStatus(ctx, target, status); err != nil {
		return err
	}
	s.cache.invalidate()
	ev.Decision = event.Allow
	return s.record(ctx, ev)
}

// Contain changes a person's status on the detectors' behalf (actor
// "custos:detect") and audits it. It is the watch.Contain the server uses.
func (s *Server) Contain(ctx context.Context, actor, status, reason string) error {
	s.init()
	action := event.ActionSuspend
	if status == store.StatusStepUp {
		action = event.ActionStepUp
	}
	if err := s.Store.SetPrincipalStatus(ctx, actor, status); err != nil {
		return err
	}
	s.cache.invalidate()
	ev := event.Event{Time: s.Now().UTC(), Actor: "custos:detect", Action: action, Target: actor,
		Decision: event.Allow, Reason: truncate(reason, 300), Fields: []string{}}
	return s.record(ctx, ev)
}

func (s *Server) changeStatus(w http.ResponseWriter, r *http.Request, p store.Principal, action, evAction, status string) {
	target := r.PathValue("id")
	t, err := s.Store.Principal(r.Context(), target)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such principal", 0})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.gate(r, p, action, evAction, policy.Request{TargetRole: t.Role, Resource: policy.Resource{ID: ""}}); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.SetStatus(r, p, target, status, evAction, ""); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": target, "status": status})
}

func (s *Server) suspend(w http.ResponseWriter, r *http.Request, p store.Principal) {
	s.changeStatus(w, r, p, policy.ActionSuspend, event.ActionSuspend, store.StatusSuspended)
}

func (s *Server) reinstate(w http.ResponseWriter, r *http.Request, p store.Principal) {
	s.changeStatus(w, r, p, policy.ActionReinstate, event.ActionReinstate, store.StatusActive)
}

type noticeRequest struct {
	LastDay string `json:"last_day"` // YYYY-MM-DD
}

// notice records that HR was told the person is leaving (an input to the
// detectors); it is the HR integration's or a security analyst's call.
func (s *Server) notice(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var req noticeRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	day, err := time.Parse("2006-01-02", req.LastDay)
	if err != nil {
		s.fail(w, r, errBadRequest(`"last_day" must be a date, YYYY-MM-DD`))
		return
	}
	target := r.PathValue("id")
	t, err := s.Store.Principal(r.Context(), target)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such principal", 0})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if _, err := s.gate(r, p, policy.ActionSuspend, event.ActionNotice, policy.Request{TargetRole: t.Role}); err != nil {
		s.fail(w, r, err)
		return
	}
	t.Notice = day
	if err := s.Store.PutPrincipal(r.Context(), t); err != nil {
		s.fail(w, r, err)
		return
	}
	// The notice event is about the leaver: actor is the person leaving.
	ev := s.baseEvent(t, event.ActionNotice)
	ev.Reason, ev.Decision, ev.Target = req.LastDay, event.Allow, t.ID
	if err := s.record(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": t.ID, "last_day": req.LastDay})
}

type alertView struct {
	ID      int64     `json:"id"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
	Score   float64   `json:"score"`
	Reasons []string  `json:"reasons"`
	Records int       `json:"records"`
	Kind    string    `json:"kind"`
	Action  string    `json:"action"`
	Status  string    `json:"actor_status,omitempty"`
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if _, err := s.gate(r, p, policy.ActionAlertsRead, event.ActionAlertsRead, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	limit := 200
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			s.fail(w, r, errBadRequest("limit must be 1..10000"))
			return
		}
		limit = n
	}
	as, err := s.Store.Alerts(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]alertView, 0, len(as))
	status := map[string]string{}
	for _, a := range as {
		st, ok := status[a.Actor]
		if !ok {
			if pr, err := s.Store.Principal(r.Context(), a.Actor); err == nil {
				st = pr.Status
			}
			status[a.Actor] = st
		}
		out = append(out, alertView{ID: a.ID, Actor: a.Actor, Time: a.Time, Score: a.Score, Reasons: a.Reasons,
			Records: a.Records, Kind: a.Kind, Action: a.Action, Status: st})
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}
