package gateway

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
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
	cust, err := g.Store.CustomerByPhone(ctx, index)
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
