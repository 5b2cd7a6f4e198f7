package gateway

import (
	"context"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
)

// CustomerInput is a customer record as the CRM sends it (the body of
// PUT /v1/customers/{id}): the fields of a customers.csv row but the id.
type CustomerInput struct {
	Name    string `json:"name"`
	Phone   string `json:"phone"`
	Account string `json:"account"`
	Region  string `json:"region"`
	Site    string `json:"site"`
}

// CustomerWrite is the outcome of PutCustomer. It repeats no personal
// data.
type CustomerWrite struct {
	ID string `json:"id"`
	// Created is true when the record is new, false when it replaced one.
	Created bool `json:"created"`
}

// writtenFields are the fields a write sets, as its audit event lists them.
var writtenFields = []string{"name", "phone", "account", "region", "site"}

// PutCustomer creates customer id, or replaces it, with in: the CRM
// integration keeping the vault current. Only the integration role may
// write (any other principal is refused, and the refusal audited); the
// record is checked, sealed and blind-indexed exactly as an import does
// (importer.SealCustomer), and a bad one is refused with invalid_request
// before anything is recorded or changed. The write is audited as
// customer.write, with the customer's id, region and site and the names of
// the fields written but none of their values, before it takes effect. A
// replaced phone number or account stays resolvable to the customer for
// leak tracing (store.FormerIndexes). Every gateway sees the new record
// once PutCustomer returns (store.CustomerWriter).
func (g *Gateway) PutCustomer(ctx context.Context, p store.Principal, id string, in CustomerInput) (CustomerWrite, error) {
	g.init()
	if !store.ValidID(id) {
		return CustomerWrite{}, BadRequest("customer id must be an exact id: no wildcards, spaces or slashes")
	}
	ev := g.event(p, event.ActionWrite)
	ev.Customer = id
	switch {
	case p.Status == store.StatusSuspended:
		return CustomerWrite{}, g.deny(ctx, ev, "principal_suspended", msgSuspended, 0)
	case p.Role != RoleIntegration:
		return CustomerWrite{}, g.refuse(ctx, ev, "forbidden", "only the CRM integration writes customer records")
	}
	w, ok := g.Store.(store.CustomerWriter)
	if !ok {
		return CustomerWrite{}, Unavailable("this store cannot write customer records")
	}
	c, err := importer.SealCustomer(g.Vault, importer.CustomerFields{ID: id, Name: in.Name, Phone: in.Phone,
		Account: in.Account, Region: in.Region, Site: in.Site})
	if err != nil {
		return CustomerWrite{}, BadRequest(err.Error())
	}
	ev.CustomerRegion, ev.CustomerSite, ev.Fields = c.Region, c.Site, writtenFields
	if erased, err := g.Store.Erased(ctx, id); err != nil {
		return CustomerWrite{}, err
	} else if erased {
		return CustomerWrite{}, g.deny(ctx, ev, "conflict", "this customer was erased at their request; a record under this id is not brought back", 0)
	}
	if err := g.allow(ctx, ev); err != nil {
		return CustomerWrite{}, err
	}
	created, err := w.PutCustomer(ctx, c, g.Now())
	if err != nil {
		g.Logger.Error("customer write failed after it was audited", "customer", id, "err", err)
		return CustomerWrite{}, Unavailable("the record could not be stored; it is unchanged")
	}
	return CustomerWrite{ID: id, Created: created}, nil
}
