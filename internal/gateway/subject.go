package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// A customer signs in to their own page (/my) with a one-time code sent to
// their own phone, and gets a session token bound to their customer id.
// Sessions are stateless: the token is "cst_<customer>.<expiry>.<mac>"
// under the deployment's secret, so every gateway on the store accepts it.

// SubjectTokenPrefix marks customer session tokens.
const SubjectTokenPrefix = "cst_"

// SubjectActor is the audit actor of a customer acting on their own record.
const SubjectActor = "subject"

const (
	subjectSession = 30 * time.Minute
	// At most sourceMax sign-ins start from one address per sourceWindow,
	// whatever numbers they name: the sign-in is no texting cannon.
	sourceWindow = 15 * time.Minute
	sourceMax    = 12
)

// SubjectLogin starts a customer's sign-in: a code goes to phone if it is a
// customer's. The answer, and the time it takes, are the same either way;
// sign-ins are limited per source address and per phone, with counters in
// the store that all gateways share.
func (g *Gateway) SubjectLogin(ctx context.Context, phone, source string) (ConsentView, error) {
	g.init()
	ph, err := vault.NormalizePhone(phone)
	if err != nil {
		return ConsentView{}, BadRequest("phone must be a full number, e.g. +8613800138000")
	}
	if g.fails.blocked(source, g.Now()) {
		return ConsentView{}, &Error{Code: "rate_limited", Msg: "too many attempts from this address; wait a minute", RetryAfter: failWindow}
	}
	if err := g.rateLimit(ctx, "my-source:"+source, sourceWindow, sourceMax,
		"too many sign-ins from this address; try again later"); err != nil {
		return ConsentView{}, err
	}
	index := g.Vault.BlindIndex(vault.IndexPhone, ph)
	if err := g.rateLimit(ctx, "my-phone:"+string(index), codesWindow, codesMax,
		"too many codes requested for this number; try again later"); err != nil {
		return ConsentView{}, err
	}
	cust, err := g.Vault.FindCustomer(ctx, g.Store, vault.IndexPhone, ph)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return ConsentView{}, err
	}
	// Unknown numbers get a sign-in that can never be confirmed.
	now := g.Now().UTC()
	id, code := newID("L-"), sixDigits()
	c := store.Consent{ID: id, Customer: cust.ID, Principal: SubjectActor + ":" + cust.ID, CodeHash: g.Vault.SecretHash(id, code),
		CreatedAt: now, ExpiresAt: now.Add(g.Config.ConsentTTL.Duration)}
	if err := g.Store.CreateConsent(ctx, c); err != nil {
		return ConsentView{}, err
	}
	if cust.ID != "" {
		g.deliver(ph, fmt.Sprintf("custos: your sign-in code is %s. Valid %d minutes. Nobody from a store will ask for it.",
			code, int(g.Config.ConsentTTL.Minutes())))
	}
	return ConsentView{ID: id, ExpiresAt: c.ExpiresAt}, nil
}

// SubjectSession is a customer's signed-in session.
type SubjectSession struct {
	Token     string    `json:"token"`
	Customer  string    `json:"customer"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SubjectConfirm checks a sign-in code, reserving the attempt in the store
// first (as ConfirmConsent does), and returns a session. Wrong codes are
// audited and count against the source address.
func (g *Gateway) SubjectConfirm(ctx context.Context, id, code, source string) (SubjectSession, error) {
	g.init()
	now := g.Now().UTC()
	if g.fails.blocked(source, now) {
		return SubjectSession{}, &Error{Code: "rate_limited", Msg: "too many attempts from this address; wait a minute", RetryAfter: failWindow}
	}
	if !store.ValidID(id) {
		return SubjectSession{}, NotFound("no such sign-in")
	}
	c, err := g.Store.Consent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !strings.HasPrefix(c.Principal, SubjectActor+":")) {
		return SubjectSession{}, NotFound("no such sign-in")
	}
	if err != nil {
		return SubjectSession{}, err
	}
	ev := event.Event{Time: now, Actor: SubjectActor, Action: event.ActionSubjectLogin, Customer: c.Customer, Source: "-"}
	max := g.Config.ConsentMaxAttempts
	cur, ok, err := g.Store.ReserveAttempt(ctx, id, max, now)
	if err != nil {
		return SubjectSession{}, err
	}
	if !ok {
		reason, _ := closedCode(cur, max, now)
		return SubjectSession{}, g.refuse(ctx, ev, reason, "this code can no longer be used: start again")
	}
	if c.Customer == "" || !g.Vault.SecretMatches(id, strings.TrimSpace(code), c.CodeHash) {
		g.fails.add(source, now)
		return SubjectSession{}, g.refuse(ctx, ev, "wrong_code", "wrong code")
	}
	exp := now.Add(subjectSession)
	if err := g.allow(ctx, ev); err != nil {
		return SubjectSession{}, err
	}
	if err := g.Store.ConfirmConsent(ctx, id, now, exp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return SubjectSession{}, Forbidden("this code was already used")
		}
		return SubjectSession{}, err
	}
	return SubjectSession{Token: g.subjectToken(c.Customer, exp), Customer: c.Customer, ExpiresAt: exp}, nil
}

func (g *Gateway) subjectToken(customer string, exp time.Time) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(exp.Unix()))
	payload := base64.RawURLEncoding.EncodeToString([]byte(customer)) + "." + base64.RawURLEncoding.EncodeToString(b[:])
	mac := g.Vault.SecretHash("subject-session", payload)
	return SubjectTokenPrefix + payload + "." + base64.RawURLEncoding.EncodeToString(mac)
}

// SubjectOf returns the customer a subject session token is for, if the
// token is genuine and unexpired.
func (g *Gateway) SubjectOf(tok string) (string, bool) {
	g.init()
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
	if err != nil || !g.Vault.SecretMatches("subject-session", payload, mac) {
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
	if g.Now().Unix() >= int64(binary.BigEndian.Uint64(exp)) {
		return "", false
	}
	return string(cust), true
}

// RecordSubject audits a customer's own action on their record (viewing
// their history).
func (g *Gateway) RecordSubject(ctx context.Context, customer, action string) error {
	g.init()
	return g.allow(ctx, event.Event{Time: g.Now().UTC(), Actor: SubjectActor, Action: action, Customer: customer})
}

// RecordAccessesView audits p (the privacy role) viewing customer's
// access history.
func (g *Gateway) RecordAccessesView(ctx context.Context, p store.Principal, customer string) error {
	return g.RecordCustomerView(ctx, p, customer, event.ActionSubjectView)
}

// RecordCustomerView audits p's view of something about customer that is
// not the record itself (its access history, its incidents).
func (g *Gateway) RecordCustomerView(ctx context.Context, p store.Principal, customer, action string) error {
	g.init()
	ev := g.event(p, action)
	ev.Customer = customer
	return g.allow(ctx, ev)
}

// AccessView is one line of a customer's access history.
type AccessView struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor,omitempty"` // the privacy role's view only
	Org      string    `json:"org"`
	Role     string    `json:"role"`
	Site     string    `json:"site"`
	Action   string    `json:"action"`
	Purpose  string    `json:"purpose"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	Fields   []string  `json:"fields"`
	// Proof is the entry with its inclusion proof, as GET /v1/audit/entries
	// returns it (the customer's own view: its public form), when the log
	// serves proofs.
	Proof *auditlog.EntryProof `json:"proof,omitempty"`
}

// Accesses turns a customer's audit entries into their access history:
// reads, searches and exports only (sign-ins, history views and tickets
// are not accesses to the data), legal accesses only after the disclosure
// delay, and for the customer's own view (own) no staff id anywhere, proofs
// included. withProofs keeps each entry's proof.
func (g *Gateway) Accesses(entries []auditlog.EntryProof, own, withProofs bool) ([]AccessView, error) {
	g.init()
	out := make([]AccessView, 0, len(entries))
	for _, rec := range entries {
		ev, err := event.Parse(rec.Event)
		if err != nil {
			return nil, fmt.Errorf("audit record %d: %w", rec.Index, err)
		}
		switch ev.Action {
		case event.ActionRead, event.ActionSearch, event.ActionExport:
		default:
			continue
		}
		if strings.HasPrefix(ev.Purpose, policy.PurposeLegal+":") && g.Now().Before(ev.Time.Add(g.Config.LegalDisclosureDelay.Duration)) {
			continue // disclosed to the customer only after the legal delay; not even counted
		}
		v := AccessView{Index: rec.Index, Time: ev.Time, Org: ev.Org, Role: ev.Role, Site: ev.Site,
			Action: ev.Action, Purpose: purposeKind(ev.Purpose), Decision: ev.Decision, Reason: ev.Reason, Fields: ev.Fields}
		if withProofs {
			proof := rec
			if own {
				proof = rec.Public() // names the company, role and site, never the person
			}
			v.Proof = &proof
		}
		if !own {
			v.Actor = ev.Actor
		}
		out = append(out, v)
	}
	return out, nil
}

// purposeKind shows the customer the kind of purpose and the ticket or
// consent id, never a break-glass free text (it may name third parties).
func purposeKind(p string) string {
	if k, _, ok := strings.Cut(p, ":"); ok && (k == policy.PurposeBreakGlass || k == policy.PurposeLegal) {
		return k
	}
	return p
}
