package httpapi

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if _, err := s.gate(r, p, policy.ActionAuditRead, event.ActionAuditRead, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.AuditReader == nil {
		s.fail(w, r, &apiError{http.StatusServiceUnavailable, "unavailable", "audit log not served", 0})
		return
	}
	cp, err := s.AuditReader.Checkpoint(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(cp)
}

func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request, p store.Principal) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		s.fail(w, r, errBadRequest("index must be a non-negative integer"))
		return
	}
	if _, err := s.gate(r, p, policy.ActionAuditRead, event.ActionAuditRead, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.AuditReader == nil {
		s.fail(w, r, &apiError{http.StatusServiceUnavailable, "unavailable", "audit log not served", 0})
		return
	}
	e, err := s.AuditReader.Entry(r.Context(), idx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no entry at this index", 0})
		return
	case errors.Is(err, ErrPending):
		s.fail(w, r, &apiError{http.StatusServiceUnavailable, "pending", "entry is durable but not yet in a published checkpoint; retry shortly", time.Second})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// Subject (customer) sign-in: a one-time code to the customer's own phone,
// then a session token bound to that customer. Sessions are stateless: the
// token is "<customer>.<expiry>.<mac>" under the deployment's secret, so
// every gateway on the same store accepts it.

const subjectSession = 30 * time.Minute

type loginRequest struct {
	Phone string `json:"phone"`
}

func (s *Server) subjectLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	src := sourceOf(r)
	if s.fails.blocked(src, s.Now()) {
		s.fail(w, r, &apiError{http.StatusTooManyRequests, "rate_limited", "too many attempts from this address; wait a minute", failWindow})
		return
	}
	phone, err := vault.NormalizePhone(req.Phone)
	if err != nil {
		s.fail(w, r, errBadRequest("phone must be a full number, e.g. +8613800138000"))
		return
	}
	ctx := r.Context()
	now := s.Now().UTC()
	// Per phone, whether or not it is a customer's (the same answer either
	// way): a few codes per quarter hour, so nobody can flood a phone.
	phoneKey := string(s.Vault.BlindIndex(vault.IndexPhone, phone))
	if s.codes.blocked(phoneKey, now) {
		s.fail(w, r, &apiError{http.StatusTooManyRequests, "rate_limited", "too many codes requested for this number; try again later", codesWindow})
		return
	}
	s.codes.fail(phoneKey, now)
	id := newID("L-")
	code := sixDigits()
	cust, err := s.Store.CustomerByPhone(ctx, s.Vault.BlindIndex(vault.IndexPhone, phone))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	// Unknown numbers get a consent that can never be confirmed: the answer
	// looks the same, so sign-in is no existence oracle.
	subject := "subject:"
	if err == nil {
		subject += cust.ID
	}
	c := store.Consent{ID: id, Customer: cust.ID, Principal: subject, CodeHash: s.Vault.SecretHash(id, code),
		CreatedAt: now, ExpiresAt: now.Add(s.Config.ConsentTTL.Duration)}
	if err := s.Store.CreateConsent(ctx, c); err != nil {
		s.fail(w, r, err)
		return
	}
	if cust.ID != "" {
		text := fmt.Sprintf("custos: your sign-in code is %s. Valid %d minutes. Nobody from a store will ask for it.", code, int(s.Config.ConsentTTL.Minutes()))
		if err := s.Notifier.Notify(ctx, phone, text); err != nil {
			s.fail(w, r, &apiError{http.StatusServiceUnavailable, "unavailable", "could not deliver the code; try again", 0})
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "expires_at": c.ExpiresAt})
}

func (s *Server) subjectConfirm(w http.ResponseWriter, r *http.Request) {
	var req codeRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	src := sourceOf(r)
	now := s.Now().UTC()
	if s.fails.blocked(src, now) {
		s.fail(w, r, &apiError{http.StatusTooManyRequests, "rate_limited", "too many attempts from this address; wait a minute", failWindow})
		return
	}
	c, err := s.Store.Consent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.HasPrefix(c.Principal, "subject:")) {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such sign-in", 0})
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case !c.ConfirmedAt.IsZero():
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "this code was already used", 0})
		return
	case c.Attempts >= s.Config.ConsentMaxAttempts:
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "too many wrong codes: start again", 0})
		return
	case !now.Before(c.ExpiresAt):
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "the code has expired: start again", 0})
		return
	}
	if c.Principal == "subject:" || !s.Vault.SecretMatches(id, strings.TrimSpace(req.Code), c.CodeHash) {
		s.fails.fail(src, now)
		if _, err := s.Store.ConsentFailed(ctx, id); err != nil {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "wrong code", 0})
		return
	}
	if err := s.Store.ConfirmConsent(ctx, id, now, now.Add(subjectSession)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "this code was already used", 0})
			return
		}
		s.fail(w, r, err)
		return
	}
	ev := event.Event{Time: now, Actor: "subject", Action: event.ActionSubjectLogin, Customer: c.Customer, Decision: event.Allow}
	if err := s.record(ctx, ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": s.subjectToken(c.Customer, now.Add(subjectSession)),
		"customer": c.Customer, "expires_at": now.Add(subjectSession)})
}

// SubjectTokenPrefix marks customer session tokens.
const SubjectTokenPrefix = "cst_"

func (s *Server) subjectToken(customer string, exp time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp.Unix()))
	payload := base64.RawURLEncoding.EncodeToString([]byte(customer)) + "." + base64.RawURLEncoding.EncodeToString(b[:])
	mac := s.Vault.SecretHash("subject-session", payload)
	return SubjectTokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// subjectOf returns the customer a subject token is for, if it is valid.
func (s *Server) subjectOf(tok string) (string, bool) {
	rest, ok := strings.CutPrefix(tok, SubjectTokenPrefix)
	if !ok {
		return "", false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 {
		return "", false
	}
	payload, macB64 := rest[:i], rest[i+1:]
	mac, err := base64.RawURLEncoding.DecodeString(macB64)
	if err != nil || !s.Vault.SecretMatches("subject-session", payload, mac) {
		return "", false
	}
	cB64, expB64, ok := strings.Cut(payload, ".")
	if !ok {
		return "", false
	}
	cust, err1 := base64.RawURLEncoding.DecodeString(cB64)
	exp, err2 := base64.RawURLEncoding.DecodeString(expB64)
	if err1 != nil || err2 != nil || len(exp) != 8 {
		return "", false
	}
	if s.Now().Unix() >= int64(binary.BigEndian.Uint64(exp)) {
		return "", false
	}
	return string(cust), true
}

// accessView is one line of a customer's access history.
type accessView struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Org      string    `json:"org"`
	Role     string    `json:"role"`
	Site     string    `json:"site"`
	Action   string    `json:"action"`
	Purpose  string    `json:"purpose"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	Fields   []string  `json:"fields"`
	// Proof is the entry with its inclusion proof, as GET /v1/audit/entries
	// returns it, when the log serves proofs.
	Proof any `json:"proof,omitempty"`
}

// subjectAccesses lists every access to one customer's record: for that
// customer (own session token) or the privacy role.
func (s *Server) subjectAccesses(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer := r.PathValue("customer")
	if !store.ValidID(customer) {
		s.fail(w, r, errBadRequest("customer must be an id"))
		return
	}
	tok := bearer(r)
	if cust, ok := s.subjectOf(tok); ok {
		if cust != customer {
			s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "you can see only your own record's history", 0})
			return
		}
		ev := event.Event{Time: s.Now().UTC(), Actor: "subject", Action: event.ActionSubjectView, Customer: customer, Decision: event.Allow}
		if err := s.record(ctx, ev); err != nil {
			s.fail(w, r, err)
			return
		}
	} else {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if _, err := s.gate(r, p, policy.ActionAccessesRead, event.ActionSubjectView, policy.Request{Resource: policy.Resource{ID: customer}}); err != nil {
			s.fail(w, r, err)
			return
		}
		ev := s.baseEvent(p, event.ActionSubjectView)
		ev.Customer, ev.Decision = customer, event.Allow
		if err := s.record(ctx, ev); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// One read of the customer's entries: with proofs from the log, or
	// (no log attached) the bare records.
	var recs []CustomerEntry
	if s.AuditReader != nil {
		es, err := s.AuditReader.ByCustomer(ctx, customer)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		recs = es
	} else {
		rs, err := s.Store.AuditByCustomer(ctx, customer)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, rec := range rs {
			recs = append(recs, CustomerEntry{Index: rec.Index, Event: rec.Event})
		}
	}
	out := make([]accessView, 0, len(recs))
	for _, rec := range recs {
		ev, err := event.Parse(rec.Event)
		if err != nil {
			s.fail(w, r, fmt.Errorf("audit record %d: %w", rec.Index, err))
			return
		}
		switch ev.Action {
		case event.ActionRead, event.ActionSearch, event.ActionExport:
		default:
			continue // sign-ins, history views and tickets are not accesses to the data
		}
		if strings.HasPrefix(ev.Purpose, policy.PurposeLegal+":") && s.Now().Before(ev.Time.Add(s.Config.LegalDisclosureDelay.Duration)) {
			continue // disclosed to the customer only after the legal delay; not even counted
		}
		out = append(out, accessView{Index: rec.Index, Time: ev.Time, Org: ev.Org, Role: ev.Role, Site: ev.Site,
			Action: ev.Action, Purpose: purposeKind(ev.Purpose), Decision: ev.Decision, Reason: ev.Reason, Fields: ev.Fields,
			Proof: rec.Proof})
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": customer, "accesses": out})
}

// purposeKind shows the customer the kind of purpose and the ticket or
// consent id, never a break-glass free text (it may name third parties).
func purposeKind(p string) string {
	if k, _, ok := strings.Cut(p, ":"); ok && (k == policy.PurposeBreakGlass || k == policy.PurposeLegal) {
		return k
	}
	return p
}

type objectionRequest struct {
	Index   uint64 `json:"index"`
	Comment string `json:"comment"`
}

// subjectObject lets a customer flag an access ("I was not there"): it
// raises an alert on the person who made it.
func (s *Server) subjectObject(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer := r.PathValue("customer")
	cust, ok := s.subjectOf(bearer(r))
	if !ok {
		s.fail(w, r, &apiError{http.StatusUnauthorized, "unauthenticated", "sign in at /my first", 0})
		return
	}
	if cust != customer {
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "you can object only to accesses to your own record", 0})
		return
	}
	var req objectionRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.Store.AuditRange(ctx, req.Index, req.Index+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(recs) != 1 || recs[0].Customer != customer {
		s.fail(w, r, &apiError{http.StatusNotFound, "not_found", "no such access to your record", 0})
		return
	}
	ev, err := event.Parse(recs[0].Event)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Alerts != nil {
		if err := s.Alerts.Raise(ctx, store.Alert{Actor: ev.Actor, Time: s.Now().UTC(), Score: 0.7, Kind: "objection", Records: 1,
			Reasons: []string{fmt.Sprintf("customer objects to access #%d: I was not there / I did not ask for this", req.Index)}}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"index": req.Index, "status": "reported to the security team"})
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if _, err := s.gate(r, p, policy.ActionTrace, event.ActionTrace, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Tracer == nil {
		s.fail(w, r, &apiError{http.StatusServiceUnavailable, "unavailable", "trace is not available on this server", 0})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.Tracer.TraceCSV(r.Context(), body)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, errBadRequest("leak file: "+truncate(err.Error(), 200)))
		return
	}
	ev := s.baseEvent(p, event.ActionTrace)
	ev.Decision = event.Allow
	if err := s.record(r.Context(), ev); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
