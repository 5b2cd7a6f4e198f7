// Package gateway is custos's security core: every operation on customer
// data or on the people who may read it — read, search, tickets, consents,
// break-glass, containment, a customer's own sign-in — establishes its
// facts, asks the policy, records the decision in the audit log, and only
// then returns.
//
// The contract every exported method keeps: a decision, allow or deny, is
// durable in the audit log before the method returns, and a method that
// could not record its decision returns an *Error with code "unavailable"
// and no data. A state change (a ticket handed over, a status changed) is
// recorded before it takes effect, so a crash in between leaves an audited
// intention, never an unaudited change.
//
// Transports (the HTTP API, SCIM, OIDC, the detectors) decode their input,
// call one method and encode the result; errors they must show are *Error
// values carrying the contract's error code (see Code and Status).
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/notify"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// Auditor appends decisions to the audit log. Append MUST return only once
// the event is durable, and return its index.
type Auditor interface {
	Append(ctx context.Context, ev event.Event) (uint64, error)
}

// Alerter receives alerts the gateway raises itself (break-glass reads,
// customers' objections).
type Alerter interface {
	Raise(ctx context.Context, a store.Alert) error
}

// TokenAuthenticator resolves a bearer token that custos did not issue
// (an OIDC token, for example). ok is false when the token is not its kind.
type TokenAuthenticator interface {
	Authenticate(ctx context.Context, token string) (p store.Principal, ok bool, err error)
}

// Gateway is the security core. Set the fields, then call its methods; the
// fields must not change after the first call. Its methods are safe for
// concurrent use.
type Gateway struct {
	Store    store.Store
	Vault    *vault.Vault
	Policy   policy.Authorizer
	Audit    Auditor
	Notifier notify.Notifier
	Config   config.Config
	// Logger receives operational messages, never personal data. Optional.
	Logger *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Alerts receives the gateway's own alerts. Optional.
	Alerts Alerter
	// External resolves tokens custos did not issue. Optional.
	External TokenAuthenticator
	// Prover proves audit entries for evidence bundles. Optional.
	Prover Prover
	// Tracer resolves leaked lists for incidents. Optional.
	Tracer LeakTracer
	// OnDecision, if set, is called after every recorded decision (metrics).
	OnDecision func(ev *event.Event)

	once      sync.Once
	closeOnce sync.Once
	outbox    chan message
	delivered chan struct{}
	cache     *principalCache
	fails     *limiter // failed sign-ins per source address
	// noticeWake wakes RunNotices when an incident is recorded.
	noticeWake chan struct{}
}

func (g *Gateway) init() {
	g.once.Do(func() {
		if g.Now == nil {
			g.Now = time.Now
		}
		if g.Logger == nil {
			g.Logger = slog.New(slog.DiscardHandler)
		}
		g.cache = newPrincipalCache(g.Store)
		g.fails = &limiter{window: failWindow, max: failMax}
		g.outbox = make(chan message, 4096)
		g.delivered = make(chan struct{})
		g.noticeWake = make(chan struct{}, 1)
		go g.deliverLoop()
	})
}

// Error is a refusal or a failure the caller may show: Code is one of the
// contract's error codes ("purpose_required", "quota_exceeded", …), Msg
// says what to do about it, RetryAfter (when set) when to try again.
type Error struct {
	Code       string
	Msg        string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Code + ": " + e.Msg }

// errorf returns an *Error with code and message.
func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// BadRequest returns the contract's invalid_request error.
func BadRequest(msg string) *Error { return &Error{Code: "invalid_request", Msg: msg} }

// Unavailable returns the contract's unavailable error (HTTP 503), with
// store.DefaultRetryAfter as its RetryAfter.
func Unavailable(msg string) *Error {
	return &Error{Code: "unavailable", Msg: msg, RetryAfter: store.DefaultRetryAfter}
}

// AsError returns the *Error a transport shows for err: err's own *Error
// if it has one; Unavailable if the store could not be reached or written
// (store.ErrUnavailable: a database restarting or failing over, a full
// disk, an exhausted pool — nothing was done, the caller may retry); nil
// for anything else, which is a bug the transport reports as internal.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrUnavailable) {
		return Unavailable("the store is unavailable; nothing was done, try again shortly")
	}
	return nil
}

// NotFound returns the contract's not_found error.
func NotFound(msg string) *Error { return &Error{Code: "not_found", Msg: msg} }

// Forbidden returns the contract's forbidden error.
func Forbidden(msg string) *Error { return &Error{Code: "forbidden", Msg: msg} }

// Code returns err's contract code, or "" if err is no *Error.
func Code(err error) string {
	if e := AsError(err); e != nil {
		return e.Code
	}
	return ""
}

// The context carries, for a transport that wants it, the index of the
// last audit entry the request recorded.
type noteKey struct{}

// Note receives the index of the last audit entry recorded for a request.
type Note struct {
	mu    sync.Mutex
	index uint64
	set   bool
}

// Index returns the last recorded index and whether there was one.
func (n *Note) Index() (uint64, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.index, n.set
}

// WithNote returns a context whose recorded audit indexes go to the
// returned Note.
func WithNote(ctx context.Context) (context.Context, *Note) {
	n := &Note{}
	return context.WithValue(ctx, noteKey{}, n), n
}

func noteIndex(ctx context.Context, idx uint64) {
	if n, ok := ctx.Value(noteKey{}).(*Note); ok {
		n.mu.Lock()
		n.index, n.set = idx, true
		n.mu.Unlock()
	}
}

// baseEvent fills an event's actor fields from p.
func baseEvent(now time.Time, p store.Principal, action string) event.Event {
	return event.Event{Time: now.UTC(), Actor: p.ID, Org: p.Org, Role: p.Role, Site: p.Site, Region: p.Region, Action: action}
}

func (g *Gateway) event(p store.Principal, action string) event.Event {
	return baseEvent(g.Now(), p, action)
}

// record appends ev to the audit log; callers answer only if it succeeds.
func (g *Gateway) record(ctx context.Context, ev event.Event) error {
	if ev.Fields == nil {
		ev.Fields = []string{}
	}
	idx, err := g.Audit.Append(ctx, ev)
	if err != nil {
		g.Logger.Error("audit append failed", "action", ev.Action, "err", err)
		return Unavailable("audit log unavailable; nothing was done")
	}
	noteIndex(ctx, idx)
	if g.OnDecision != nil {
		g.OnDecision(&ev)
	}
	return nil
}

// deny records ev as a denial with reason code and returns the *Error to
// show (or the audit failure).
func (g *Gateway) deny(ctx context.Context, ev event.Event, code, msg string, retry time.Duration) error {
	ev.Decision, ev.Reason = event.Deny, code
	if err := g.record(ctx, ev); err != nil {
		return err
	}
	return &Error{Code: code, Msg: msg, RetryAfter: retry}
}

// refuse records ev as a denial for reason and returns a forbidden error:
// the log keeps the precise reason, the caller sees the contract's code.
func (g *Gateway) refuse(ctx context.Context, ev event.Event, reason, msg string) error {
	ev.Decision, ev.Reason = event.Deny, reason
	if err := g.record(ctx, ev); err != nil {
		return err
	}
	return Forbidden(msg)
}

// allow records ev as allowed.
func (g *Gateway) allow(ctx context.Context, ev event.Event) error {
	ev.Decision = event.Allow
	return g.record(ctx, ev)
}

func policyPrincipal(p store.Principal) policy.Principal {
	return policy.Principal{ID: p.ID, Org: p.Org, OrgKind: p.OrgKind, Role: p.Role, Site: p.Site, Region: p.Region, Status: p.Status}
}

// Gate refuses a suspended principal (423, audited) and otherwise asks the
// policy whether p may take action (a non-customer action such as reading
// alerts); a denial is audited as evAction. On allow the caller records its
// own allow event, if the action needs one.
func (g *Gateway) Gate(ctx context.Context, p store.Principal, action, evAction string, req policy.Request) (policy.Decision, error) {
	g.init()
	if p.Status == store.StatusSuspended {
		return policy.Decision{}, g.deny(ctx, g.event(p, evAction), "principal_suspended", msgSuspended, 0)
	}
	req.Principal = policyPrincipal(p)
	req.Action = action
	req.Time = g.Now()
	d := g.Policy.Authorize(ctx, req)
	if !d.Allow {
		ev := g.event(p, evAction)
		ev.Target = req.Resource.ID
		return d, g.deny(ctx, ev, denyCode(d.Reason), "not permitted for your role", 0)
	}
	return d, nil
}

// gatedGet passes p through the Gate of action (a denial audited as
// evAction) and then reads one object with get(ctx, key): a missing one is
// NotFound("no such "+what). The caller records the allowed access once it
// knows what the access touched.
func gatedGet[K, T any](ctx context.Context, g *Gateway, p store.Principal, action, evAction, what string,
	get func(context.Context, K) (T, error), key K) (T, error) {
	var zero T
	if _, err := g.Gate(ctx, p, action, evAction, policy.Request{}); err != nil {
		return zero, err
	}
	v, err := get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return zero, NotFound("no such " + what)
	}
	if err != nil {
		return zero, err
	}
	return v, nil
}

// gatedList passes p through the Gate of action, reads a list with
// list(ctx, arg) and records the access as evAction.
func gatedList[A, T any](ctx context.Context, g *Gateway, p store.Principal, action, evAction string,
	list func(context.Context, A) ([]T, error), arg A) ([]T, error) {
	if _, err := g.Gate(ctx, p, action, evAction, policy.Request{}); err != nil {
		return nil, err
	}
	vs, err := list(ctx, arg)
	if err != nil {
		return nil, err
	}
	if err := g.allow(ctx, g.event(p, evAction)); err != nil {
		return nil, err
	}
	return vs, nil
}

// Record appends an allow event for an action the transport carried out
// itself after Gate allowed it (reading alerts, running a trace).
func (g *Gateway) Record(ctx context.Context, p store.Principal, action string) error {
	g.init()
	return g.allow(ctx, g.event(p, action))
}

const msgSuspended = "this principal is suspended; contact your security team"

func denyCode(reason string) string {
	switch reason {
	case "purpose_required", "purpose_invalid", "quota_exceeded", "principal_suspended", "not_found":
		return reason
	}
	return "forbidden"
}

// newID returns prefix followed by 16 random hex digits.
func newID(prefix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("gateway: internal error: crypto/rand: " + err.Error())
	}
	return prefix + hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// reserved reports whether id is reserved for custos itself.
func reserved(id string) bool {
	l := strings.ToLower(id)
	return strings.HasPrefix(l, "custos") || strings.HasPrefix(l, "subject")
}
