package gateway

import (
	"context"
	"errors"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// RoleIntegration is the role of the brand's own systems (the CRM): it
// may open tickets at any site, choose their ids and name their holder.
const RoleIntegration = "integration"

// RoleStoreManager may hand over and close the tickets of their own site.
const RoleStoreManager = "store_manager"

// TicketRequest opens a ticket. ID and Assignee are for the CRM
// integration only.
type TicketRequest struct {
	Customer string `json:"customer"`
	Site     string `json:"site"`
	ID       string `json:"id,omitempty"`
	Assignee string `json:"assignee,omitempty"`
}

// TicketView is a ticket as its holder sees it.
type TicketView struct {
	ID        string    `json:"id"`
	Customer  string    `json:"customer"`
	Site      string    `json:"site"`
	OpenedBy  string    `json:"opened_by"`
	Assignee  string    `json:"assignee,omitempty"`
	OpenedAt  time.Time `json:"opened_at"`
	ExpiresAt time.Time `json:"expires_at"`
	ClosedAt  time.Time `json:"closed_at,omitzero"`
}

func ticketView(t store.Ticket) TicketView {
	return TicketView{ID: t.ID, Customer: t.Customer, Site: t.Site, OpenedBy: t.OpenedBy, Assignee: t.Assignee,
		OpenedAt: t.OpenedAt, ExpiresAt: t.ExpiresAt, ClosedAt: t.ClosedAt}
}

// OpenTicket opens a service ticket. A ticket opened by staff is at their
// own site, gets an id custos chooses, serves its opener only and spends
// the opener's distinct-customer quota exactly as a read would, so opening
// tickets to make reads look explained gains nothing. The CRM integration
// opens tickets at any site, may give its own id and name the holder.
func (g *Gateway) OpenTicket(ctx context.Context, p store.Principal, req TicketRequest) (TicketView, error) {
	g.init()
	crm := p.Role == RoleIntegration
	if req.Site == "" {
		req.Site = p.Site
	}
	switch {
	case !store.ValidID(req.Customer):
		return TicketView{}, BadRequest(`"customer" must be a customer id`)
	case !store.ValidID(req.Site):
		return TicketView{}, BadRequest(`"site" must be a site id`)
	case req.ID != "" && !store.ValidID(req.ID):
		return TicketView{}, BadRequest(`"id" must be a plain id`)
	case req.Assignee != "" && !store.ValidID(req.Assignee):
		return TicketView{}, BadRequest(`"assignee" must be a principal id`)
	}
	if _, err := g.Gate(ctx, p, policy.ActionTicketCreate, event.ActionTicketCreate,
		policy.Request{Resource: policy.Resource{ID: req.Customer, Site: req.Site}}); err != nil {
		return TicketView{}, err
	}
	ev := g.event(p, event.ActionTicketCreate)
	ev.Customer = req.Customer
	if !crm {
		switch {
		case req.Site != p.Site:
			return TicketView{}, g.deny(ctx, ev, "forbidden", "you can open tickets only at your own site", 0)
		case req.ID != "":
			return TicketView{}, g.deny(ctx, ev, "forbidden", "ticket ids are chosen by custos (only the CRM integration gives its own)", 0)
		case req.Assignee != "" && req.Assignee != p.ID:
			return TicketView{}, g.deny(ctx, ev, "forbidden", "open the ticket yourself, then hand it over with POST /v1/tickets/{id}/assign", 0)
		}
		req.Assignee = ""
		res, err := g.chargeQuota(ctx, p, req.Customer)
		if err != nil {
			return TicketView{}, err
		}
		if !res.Allowed {
			return TicketView{}, g.deny(ctx, ev, "quota_exceeded", "quota of distinct customers reached for your role", res.RetryAfter)
		}
	} else if req.Assignee != "" {
		if err := g.checkHolder(ctx, req.Assignee, req.Site); err != nil {
			return TicketView{}, err
		}
	}
	now := g.Now().UTC()
	t := store.Ticket{ID: req.ID, Customer: req.Customer, Site: req.Site, OpenedBy: p.ID, OpenedAt: now,
		ExpiresAt: now.Add(g.Config.TicketTTL.Duration), Assignee: req.Assignee, CRM: crm}
	if t.ID == "" {
		t.ID = newID("T-")
	} else if _, err := g.Store.Ticket(ctx, t.ID); err == nil {
		return TicketView{}, errorf("conflict", "a ticket with this id exists")
	} else if !errors.Is(err, store.ErrNotFound) {
		return TicketView{}, err
	}
	ev.Purpose, ev.PurposeValid, ev.Target = "ticket:"+t.ID, true, t.Assignee
	if crm {
		ev.Basis = event.BasisCRMTicket
	}
	if err := g.allow(ctx, ev); err != nil {
		return TicketView{}, err
	}
	if err := g.Store.CreateTicket(ctx, t); err != nil {
		if errors.Is(err, store.ErrExists) {
			// Another request took the id between the check and now: the
			// allow above opened nothing, and the log says so.
			return TicketView{}, g.deny(ctx, ev, "conflict", "a ticket with this id exists", 0)
		}
		return TicketView{}, err
	}
	return ticketView(t), nil
}

// checkHolder makes sure id names an active principal at site who can hold
// a ticket there.
func (g *Gateway) checkHolder(ctx context.Context, id, site string) error {
	h, err := g.Store.Principal(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (h.Site != site || reserved(h.ID))) {
		return BadRequest("a ticket can be handed only to a principal at the ticket's site")
	}
	if err != nil {
		return err
	}
	if h.Status == store.StatusSuspended {
		return BadRequest("that principal is suspended and cannot hold a ticket")
	}
	return nil
}

// mayManage reports whether p may hand over or close ticket t: its holder
// or opener, a store manager of its site, or the integration.
func mayManage(p store.Principal, t store.Ticket) bool {
	switch {
	case p.Role == RoleIntegration:
		return true
	case p.Site == "" || p.Site != t.Site:
		return false
	case p.Role == RoleStoreManager, t.OpenedBy == p.ID, t.Assignee == p.ID:
		return true
	}
	return false
}

// ticketFor looks a ticket up for an action by p: a ticket p may not
// manage is refused as if it did not exist (audited).
func (g *Gateway) ticketFor(ctx context.Context, p store.Principal, id string, ev *event.Event) (store.Ticket, error) {
	if !store.ValidID(id) {
		return store.Ticket{}, BadRequest("ticket id must be a plain id")
	}
	ev.Purpose = "ticket:" + truncate(id, 64)
	if p.Status == store.StatusSuspended {
		return store.Ticket{}, g.deny(ctx, *ev, "principal_suspended", msgSuspended, 0)
	}
	t, err := g.Store.Ticket(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return t, err
	}
	if err != nil || !mayManage(p, t) {
		return t, g.deny(ctx, *ev, "not_found", "no such ticket for you", 0)
	}
	ev.Customer = t.Customer
	if !t.ClosedAt.IsZero() || (!t.ExpiresAt.IsZero() && !g.Now().Before(t.ExpiresAt)) {
		return t, g.deny(ctx, *ev, "conflict", "the ticket is closed or expired", 0)
	}
	return t, nil
}

// AssignTicket hands ticket id to colleague to at the ticket's site. The
// hand-over is audited before it takes effect; the previous holder keeps no
// access through the ticket.
func (g *Gateway) AssignTicket(ctx context.Context, p store.Principal, id, to string) (TicketView, error) {
	g.init()
	if !store.ValidID(to) {
		return TicketView{}, BadRequest(`"to" must be a principal id`)
	}
	ev := g.event(p, event.ActionTicketAssign)
	t, err := g.ticketFor(ctx, p, id, &ev)
	if err != nil {
		return TicketView{}, err
	}
	if err := g.checkHolder(ctx, to, t.Site); err != nil {
		return TicketView{}, err
	}
	ev.Target = to
	if err := g.allow(ctx, ev); err != nil {
		return TicketView{}, err
	}
	if err := g.Store.AssignTicket(ctx, id, to); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return TicketView{}, g.deny(ctx, ev, "conflict", "the ticket was closed meanwhile", 0)
		}
		return TicketView{}, err
	}
	t.Assignee = to
	return ticketView(t), nil
}

// CloseTicket closes ticket id: nothing reads under it afterwards.
func (g *Gateway) CloseTicket(ctx context.Context, p store.Principal, id string) (TicketView, error) {
	g.init()
	ev := g.event(p, event.ActionTicketClose)
	t, err := g.ticketFor(ctx, p, id, &ev)
	if err != nil {
		return TicketView{}, err
	}
	if err := g.allow(ctx, ev); err != nil {
		return TicketView{}, err
	}
	now := g.Now().UTC()
	if err := g.Store.CloseTicket(ctx, id, now); err != nil && !errors.Is(err, store.ErrConflict) {
		return TicketView{}, err
	}
	t.ClosedAt = now
	return ticketView(t), nil
}
