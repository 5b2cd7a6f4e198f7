package gateway

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// ConsentView is a consent as the API answers it.
type ConsentView struct {
	ID           string    `json:"id"`
	Customer     string    `json:"customer,omitempty"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	GrantedUntil time.Time `json:"granted_until,omitzero"`
}

// Limits on one-time codes. At most codesMax codes go to one customer (or
// one phone, for the customer's own sign-in) per codesWindow, whoever asks;
// failWindow and failMax bound failed sign-ins per source address.
const (
	codesWindow = 15 * time.Minute
	codesMax    = 5
	failWindow  = time.Minute
	failMax     = 20
)

// sixDigits returns a uniformly random six-digit code.
func sixDigits() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1000000))
	if err != nil {
		panic("gateway: internal error: crypto/rand: " + err.Error())
	}
	return fmt.Sprintf("%06d", n.Int64())
}

// rateLimit counts one event against key in the store, shared by every
// gateway on the database; it refuses (429 rate_limited) once max events
// fell in the window. Keys are hashed first: no phone number or address
// reaches the store.
func (g *Gateway) rateLimit(ctx context.Context, key string, window time.Duration, max int, msg string) error {
	h := g.Vault.SecretHash("rate-limit", key)
	ok, retry, err := g.Store.Hit(ctx, string(h), g.Now(), window, max)
	if err != nil {
		return err
	}
	if !ok {
		return &Error{Code: "rate_limited", Msg: msg, RetryAfter: max64(retry, time.Second)}
	}
	return nil
}

func max64(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}

// StartConsent starts a customer-present proof: a one-time code goes to
// the customer's own phone. The answer is the same, and takes the same
// time, whether or not the customer exists: the code is queued for
// delivery, never sent while the caller waits.
func (g *Gateway) StartConsent(ctx context.Context, p store.Principal, customer string) (ConsentView, error) {
	g.init()
	if !store.ValidID(customer) {
		return ConsentView{}, BadRequest(`"customer" must be a customer id`)
	}
	if _, err := g.Gate(ctx, p, policy.ActionConsentStart, event.ActionConsentStart,
		policy.Request{Resource: policy.Resource{ID: customer}}); err != nil {
		return ConsentView{}, err
	}
	ev := g.event(p, event.ActionConsentStart)
	ev.Customer = customer
	if err := g.rateLimit(ctx, "consent-customer:"+customer, codesWindow, codesMax,
		"too many codes sent to this customer; try again later"); err != nil {
		if Code(err) == "rate_limited" {
			ev.Decision, ev.Reason = event.Deny, "rate_limited"
			if aerr := g.record(ctx, ev); aerr != nil {
				return ConsentView{}, aerr
			}
		}
		return ConsentView{}, err
	}
	now := g.Now().UTC()
	id, code := newID("K-"), sixDigits()
	c := store.Consent{ID: id, Customer: customer, Principal: p.ID, CodeHash: g.Vault.SecretHash(id, code),
		CreatedAt: now, ExpiresAt: now.Add(g.Config.ConsentTTL.Duration)}
	ev.Purpose = "consent:" + id
	if err := g.allow(ctx, ev); err != nil {
		return ConsentView{}, err
	}
	if err := g.Store.CreateConsent(ctx, c); err != nil {
		return ConsentView{}, err
	}
	phone := ""
	if cust, err := g.Store.Customer(ctx, customer); err == nil {
		phone, _ = g.Vault.Unseal(cust, "phone")
	}
	g.deliver(phone, fmt.Sprintf("custos: %s at %s asks to see your record. If you are at the counter, give them code %s. Valid %d minutes.",
		p.Org, p.Site, code, int(g.Config.ConsentTTL.Minutes())))
	return ConsentView{ID: id, ExpiresAt: c.ExpiresAt}, nil
}

// ConfirmConsent checks the customer's code. Each attempt is reserved in
// the store before the code is compared, atomically and across gateways,
// so a burst of guesses sent at once gets no more tries than guesses sent
// one by one; a locked, used or expired consent never confirms. Every
// attempt, right or wrong, is audited.
func (g *Gateway) ConfirmConsent(ctx context.Context, p store.Principal, id, code string) (ConsentView, error) {
	g.init()
	c, err := g.Store.Consent(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Principal != p.ID) {
		return ConsentView{}, NotFound("no such consent for you")
	}
	if err != nil {
		return ConsentView{}, err
	}
	if _, err := g.Gate(ctx, p, policy.ActionConsentConfirm, event.ActionConsentConfirm,
		policy.Request{Resource: policy.Resource{ID: c.Customer}}); err != nil {
		return ConsentView{}, err
	}
	ev := g.event(p, event.ActionConsentConfirm)
	ev.Customer, ev.Purpose = c.Customer, "consent:"+id
	max := g.Config.ConsentMaxAttempts
	now := g.Now().UTC()
	cur, ok, err := g.Store.ReserveAttempt(ctx, id, max, now)
	if err != nil {
		return ConsentView{}, err
	}
	if !ok {
		reason, msg := closedCode(cur, max, now)
		return ConsentView{}, g.refuse(ctx, ev, reason, msg)
	}
	if !g.Vault.SecretMatches(id, strings.TrimSpace(code), c.CodeHash) {
		if left := max - cur.Attempts; left > 0 {
			return ConsentView{}, g.refuse(ctx, ev, "wrong_code", "wrong code; "+strconv.Itoa(left)+" attempts left")
		}
		return ConsentView{}, g.refuse(ctx, ev, "wrong_code", "wrong code; the consent is now locked")
	}
	grant := now.Add(g.Config.ConsentGrant.Duration)
	ev.PurposeValid, ev.Basis = true, event.BasisConsent
	if err := g.allow(ctx, ev); err != nil {
		return ConsentView{}, err
	}
	if err := g.Store.ConfirmConsent(ctx, id, now, grant); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return ConsentView{}, g.refuse(ctx, ev, "consent_used", "this consent was already confirmed; codes are single-use")
		}
		return ConsentView{}, err
	}
	return ConsentView{ID: id, Customer: c.Customer, GrantedUntil: grant}, nil
}

// closedCode says why a consent takes no more attempts.
func closedCode(c store.Consent, max int, now time.Time) (reason, msg string) {
	switch {
	case !c.ConfirmedAt.IsZero():
		return "consent_used", "this consent was already confirmed; codes are single-use"
	case c.Attempts >= max:
		return "consent_locked", "too many wrong codes: this consent is locked; start a new one"
	}
	return "consent_expired", "the code has expired; start a new consent"
}

// deliver queues text for phone; an empty phone (no such customer) queues
// nothing but costs the caller the same. Delivery happens in the
// background; failures are logged without the number or the text.
func (g *Gateway) deliver(phone, text string) {
	if phone == "" {
		return
	}
	select {
	case g.outbox <- message{phone, text}:
	default:
		g.Logger.Error("notification queue full; message dropped")
	}
}

type message struct{ to, text string }

// deliverLoop sends queued messages until the queue is closed.
func (g *Gateway) deliverLoop() {
	defer close(g.delivered)
	for m := range g.outbox {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := g.Notifier.Notify(ctx, m.to, m.text); err != nil {
			g.Logger.Error("one-time code not delivered", "err", err)
		}
		cancel()
	}
}

// Close delivers the messages still queued and stops delivery. Call it
// after the transports stopped calling the gateway.
func (g *Gateway) Close() {
	g.init()
	g.closeOnce.Do(func() {
		close(g.outbox)
		<-g.delivered
	})
}
