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

// BreakGlassView is a break-glass request as the API answers it.
type BreakGlassView struct {
	ID         string    `json:"id"`
	Status     string    `json:"status,omitempty"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
}

// RequestBreakGlass asks to read customer without a normal purpose. The
// reason is kept with the request (not in the public log); a second person
// must approve it, and the request raises an alert.
func (g *Gateway) RequestBreakGlass(ctx context.Context, p store.Principal, customer, reason string) (BreakGlassView, error) {
	g.init()
	reason = strings.TrimSpace(reason)
	if !store.ValidID(customer) || reason == "" || len(reason) > 500 {
		return BreakGlassView{}, BadRequest(`give "customer" (an id) and "reason" (free text, at most 500 bytes)`)
	}
	if _, err := g.Gate(ctx, p, policy.ActionBreakGlassReq, event.ActionBreakGlassReq,
		policy.Request{Resource: policy.Resource{ID: customer}}); err != nil {
		return BreakGlassView{}, err
	}
	b := store.BreakGlass{ID: newID("bg-"), Principal: p.ID, Customer: customer, Reason: reason, CreatedAt: g.Now().UTC()}
	ev := g.event(p, event.ActionBreakGlassReq)
	ev.Customer, ev.Purpose = customer, "breakglass:"+b.ID
	if err := g.allow(ctx, ev); err != nil {
		return BreakGlassView{}, err
	}
	if err := g.Store.CreateBreakGlass(ctx, b); err != nil {
		return BreakGlassView{}, err
	}
	if g.Alerts != nil {
		g.Alerts.Raise(ctx, store.Alert{Actor: p.ID, Time: b.CreatedAt, Score: 0.5, Kind: "breakglass",
			Reasons: []string{"break-glass requested: " + truncate(reason, 120)}})
	}
	return BreakGlassView{ID: b.ID, Status: "pending approval"}, nil
}

// ApproveBreakGlass approves request id: a second person, never the
// requester; the access lasts the configured grant.
func (g *Gateway) ApproveBreakGlass(ctx context.Context, p store.Principal, id string) (BreakGlassView, error) {
	g.init()
	b, err := g.Store.BreakGlass(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return BreakGlassView{}, NotFound("no such break-glass request")
	}
	if err != nil {
		return BreakGlassView{}, err
	}
	requester, err := g.Store.Principal(ctx, b.Principal)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return BreakGlassView{}, err
	}
	if _, err := g.Gate(ctx, p, policy.ActionBreakGlassOK, event.ActionBreakGlassOK,
		policy.Request{Resource: policy.Resource{ID: b.Customer}, SelfApproval: b.Principal == p.ID, RequesterOrg: requester.Org}); err != nil {
		return BreakGlassView{}, err
	}
	ev := g.event(p, event.ActionBreakGlassOK)
	ev.Customer, ev.Purpose, ev.Target = b.Customer, "breakglass:"+b.ID, b.Principal
	if b.Principal == p.ID { // belt and braces: policy forbids it too
		return BreakGlassView{}, g.deny(ctx, ev, "forbidden", "a second person must approve break-glass", 0)
	}
	if b.ApprovedBy != "" {
		return BreakGlassView{}, errorf("conflict", "already approved")
	}
	now := g.Now().UTC()
	exp := now.Add(g.Config.BreakGlassGrant.Duration)
	if err := g.allow(ctx, ev); err != nil {
		return BreakGlassView{}, err
	}
	if err := g.Store.ApproveBreakGlass(ctx, id, p.ID, now, exp); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return BreakGlassView{}, g.deny(ctx, ev, "conflict", "already approved", 0)
		}
		return BreakGlassView{}, err
	}
	return BreakGlassView{ID: id, ApprovedBy: p.ID, ExpiresAt: exp}, nil
}
