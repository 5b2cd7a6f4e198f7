package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// Who changed a principal's status (store.Principal.StatusSource).
const (
	SourceDetect  = store.SourceDetect
	SourceAnalyst = store.SourceAnalyst
	SourceCase    = store.SourceCase
	SourceSCIM    = store.SourceSCIM
	SourceOIDC    = store.SourceOIDC
)

// DetectActor is the audit actor of automatic containment.
const DetectActor = "custos:detect"

// approvalTTL is how long a first analyst's request waits for a second.
const approvalTTL = time.Hour

// companyRoles are the brand's own roles: changing their status, either
// way, takes two analysts.
var companyRoles = map[string]bool{
	"security_analyst": true, "privacy_officer": true, "auditor": true, "integration": true, "provisioner": true,
}

// CompanyRole reports whether role is one of the brand's own roles rather
// than a partner-staff role.
func CompanyRole(role string) bool { return companyRoles[role] }

// StatusResult is the outcome of ChangeStatus.
type StatusResult struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Pending is set when the change waits for a second analyst.
	Pending bool `json:"-"`
}

// ChangeStatus suspends or reinstates target on an analyst's word. Reason
// is required (kept with the principal, not in the public log). Reinstating
// someone the detectors contained, and any change to a company role, takes
// two analysts: the first call returns a pending result, the same call by a
// different analyst carries it out. The change is audited before it takes
// effect, and applies only if the status is still what this call read.
func (g *Gateway) ChangeStatus(ctx context.Context, p store.Principal, target, status, reason string) (StatusResult, error) {
	g.init()
	reason = strings.TrimSpace(reason)
	if reason == "" || len(reason) > 500 {
		return StatusResult{}, BadRequest(`give "reason" (free text, at most 500 bytes)`)
	}
	action, evAction := policy.ActionSuspend, event.ActionSuspend
	if status == store.StatusActive {
		action, evAction = policy.ActionReinstate, event.ActionReinstate
	}
	t, err := g.Store.Principal(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return StatusResult{}, NotFound("no such principal")
	}
	if err != nil {
		return StatusResult{}, err
	}
	if _, err := g.Gate(ctx, p, action, evAction, policy.Request{TargetRole: t.Role}); err != nil {
		return StatusResult{}, err
	}
	ev := g.event(p, evAction)
	ev.Target = target
	if target == p.ID {
		return StatusResult{}, g.refuse(ctx, ev, "forbidden", "you cannot change your own status")
	}
	if status == statusOf(t) {
		return StatusResult{ID: target, Status: status}, nil
	}
	if CompanyRole(t.Role) || (status == store.StatusActive && (t.StatusSource == SourceDetect || t.StatusSource == SourceCase)) {
		key := evAction + ":" + target
		first, done, err := g.Store.Approve(ctx, key, p.ID, g.Now(), approvalTTL)
		if err != nil {
			return StatusResult{}, err
		}
		if !done {
			ev.Reason = "pending_approval"
			ev.Decision = event.Allow
			ev.Action = event.ActionApprovalRequest
			ev.Purpose = evAction
			if err := g.record(ctx, ev); err != nil {
				return StatusResult{}, err
			}
			return StatusResult{ID: target, Status: "pending_approval", Pending: true}, nil
		}
		reason = reason + " (second analyst; first: " + first + ")"
	}
	if err := g.setStatus(ctx, ev, t, status, SourceAnalyst, p.ID, reason); err != nil {
		return StatusResult{}, err
	}
	return StatusResult{ID: target, Status: status}, nil
}

// statusOf is p's status, "" read as active.
func statusOf(p store.Principal) string {
	if p.Status == "" {
		return store.StatusActive
	}
	return p.Status
}

// setStatus audits ev (the change, by source) and then applies it, only if
// t's status is unchanged since it was read.
func (g *Gateway) setStatus(ctx context.Context, ev event.Event, t store.Principal, status, source, by, reason string) error {
	ev.Reason = source
	if source == SourceDetect {
		ev.Reason = truncate(reason, 300)
	}
	if err := g.allow(ctx, ev); err != nil {
		return err
	}
	err := g.Store.ChangeStatus(ctx, t.ID, statusOf(t), status, source, by, reason)
	if errors.Is(err, store.ErrConflict) {
		return g.deny(ctx, ev, "conflict", "the principal's status changed meanwhile; look again", 0)
	}
	if err != nil {
		return err
	}
	g.cache.invalidate()
	return nil
}

// Contain applies the detectors' containment (store.StatusStepUp or
// store.StatusSuspended) to actor, audited as custos:detect before it takes
// effect. A principal already suspended stays as they are.
func (g *Gateway) Contain(ctx context.Context, actor, status, reason string) error {
	g.init()
	t, err := g.Store.Principal(ctx, actor)
	if err != nil {
		return err
	}
	if t.Status == store.StatusSuspended || t.Status == status {
		return nil
	}
	action := event.ActionSuspend
	if status == store.StatusStepUp {
		action = event.ActionStepUp
	}
	ev := event.Event{Time: g.Now().UTC(), Actor: DetectActor, Action: action, Target: actor}
	return g.setStatus(ctx, ev, t, status, SourceDetect, DetectActor, reason)
}

// ErrNotLifted is returned by SystemStatus when asked to reinstate a
// principal whom another source (the detectors, an analyst) suspended.
var ErrNotLifted = errors.New("suspension was not made by this source; it stays")

// SystemStatus changes target's status on behalf of an identity system
// (SourceSCIM, SourceOIDC) whose client is by (audited as by, or as
// "custos:<source>" when by is zero). A system lifts only a suspension it
// made itself (ErrNotLifted otherwise).
func (g *Gateway) SystemStatus(ctx context.Context, source string, by store.Principal, target, status, reason string) error {
	g.init()
	t, err := g.Store.Principal(ctx, target)
	if err != nil {
		return err
	}
	if statusOf(t) == status {
		return nil
	}
	action := event.ActionSuspend
	if status == store.StatusActive {
		action = event.ActionReinstate
		if t.StatusSource != source {
			return ErrNotLifted
		}
	}
	if by.ID == "" {
		by.ID = "custos:" + source
	}
	ev := g.event(by, action)
	ev.Target = target
	return g.setStatus(ctx, ev, t, status, source, by.ID, reason)
}

// RecordSystem audits a change an identity system made to a principal
// (SCIM provisioning, an OIDC sign-in that updated claims), as actor
// "custos:<source>", before the caller applies it.
func (g *Gateway) RecordSystem(ctx context.Context, source, action, target string) error {
	g.init()
	return g.allow(ctx, event.Event{Time: g.Now().UTC(), Actor: "custos:" + source, Action: action, Target: target})
}

// Notice records that target has given notice (an input to the
// detectors): the event's actor is the person leaving.
func (g *Gateway) Notice(ctx context.Context, p store.Principal, target string, lastDay time.Time) error {
	g.init()
	t, err := g.Store.Principal(ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		return NotFound("no such principal")
	}
	if err != nil {
		return err
	}
	if _, err := g.Gate(ctx, p, policy.ActionSuspend, event.ActionNotice, policy.Request{TargetRole: t.Role}); err != nil {
		return err
	}
	ev := g.event(t, event.ActionNotice)
	ev.Reason, ev.Target = lastDay.Format("2006-01-02"), t.ID
	if err := g.allow(ctx, ev); err != nil {
		return err
	}
	t.Notice = lastDay
	return g.Store.PutPrincipal(ctx, t)
}
