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

// purposeCheck is what checkPurpose found out besides validity.
type purposeCheck struct {
	basis      string // event.Basis*, when the purpose holds
	ticketAge  int64  // seconds, for ticket purposes
	breakGlass string // the approved request's id, for break-glass reads
}

// checkPurpose establishes whether purpose pu holds for principal p reading
// customer. It never depends on whether the customer exists, so its answer
// reveals nothing about existence.
func (g *Gateway) checkPurpose(ctx context.Context, p store.Principal, pu *policy.Purpose, customer string) (purposeCheck, error) {
	now := g.Now()
	var pc purposeCheck
	switch pu.Kind {
	case policy.PurposeTicket:
		t, err := g.ticket(ctx, pu.ID)
		if errors.Is(err, store.ErrNotFound) {
			return pc, nil
		}
		if err != nil {
			return pc, err
		}
		pc.basis = ticketBasis(t, p, customer, now)
		pu.Valid = pc.basis != ""
		if pu.Valid {
			pc.ticketAge = int64(now.Sub(t.OpenedAt) / time.Second)
		}
	case policy.PurposeConsent:
		c, err := g.Store.Consent(ctx, pu.ID)
		if errors.Is(err, store.ErrNotFound) {
			return pc, nil
		}
		if err != nil {
			return pc, err
		}
		pu.Valid = !c.ConfirmedAt.IsZero() && c.Principal == p.ID && c.Customer == customer && now.Before(c.GrantUntil)
		if pu.Valid {
			pc.basis = event.BasisConsent
		}
	case policy.PurposeLegal:
		// A legal request is checked by policy alone (the case reference is
		// recorded); the default pack grants nothing under it.
		pu.Valid, pc.basis = true, event.BasisLegal
	case policy.PurposeBreakGlass:
		// The reason may name an approved request; otherwise none holds.
		if !strings.HasPrefix(pu.ID, "bg-") {
			return pc, nil
		}
		b, err := g.Store.BreakGlass(ctx, pu.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return pc, err
		}
		if err == nil && b.Principal == p.ID && b.Customer == customer && b.ApprovedBy != "" && now.Before(b.ExpiresAt) {
			pu.Valid, pc.basis, pc.breakGlass = true, event.BasisBreakGlass, b.ID
		}
	}
	return pc, nil
}

// ticketBasis returns how ticket t serves p for customer at now, or "" if
// it does not: the ticket must be open, unexpired, for this customer, at
// p's own site, and held by p — its assignee, or (unassigned) its opener. A
// CRM ticket nobody was named on serves the staff of its site.
func ticketBasis(t store.Ticket, p store.Principal, customer string, now time.Time) string {
	switch {
	case !t.ClosedAt.IsZero(), !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return ""
	case t.Customer != customer, p.Site == "", t.Site != p.Site:
		return ""
	}
	holder := t.Assignee
	if holder == "" && !t.CRM {
		holder = t.OpenedBy
	}
	switch {
	case holder != "" && holder != p.ID:
		return ""
	case t.CRM:
		return event.BasisCRMTicket
	case t.OpenedBy == p.ID:
		return event.BasisOwnTicket
	}
	return event.BasisAssignedTicket
}
