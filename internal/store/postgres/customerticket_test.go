package postgres_test

import (
	"errors"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// TestCustomerTicket checks the one-trip read of a customer and a ticket
// against the two lookups it stands for, either one missing.
func TestCustomerTicket(t *testing.T) {
	s := gateways(t, 1)[0]
	ctx := t.Context()
	at := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	if err := s.Import(ctx, store.Batch{
		Customers: []store.Customer{{ID: "c-1", Region: "GD", Site: "store-1", Name: []byte("n"), Phone: []byte("p"), Account: []byte("a")}},
		Tickets:   []store.Ticket{{ID: "T-1", Customer: "c-1", Site: "store-1", OpenedBy: "crm", OpenedAt: at, CRM: true}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ customer, ticket string }{{"c-1", "T-1"}, {"c-1", "T-none"}, {"c-none", "T-1"}, {"c-none", "T-none"}} {
		got := s.CustomerTicket(ctx, tc.customer, tc.ticket)
		c, cerr, tk, terr := got.Customer, got.CustomerErr, got.Ticket, got.TicketErr
		wc, wcerr := s.Customer(ctx, tc.customer)
		wt, wterr := s.Ticket(ctx, tc.ticket)
		if !errors.Is(cerr, wcerr) || !errors.Is(terr, wterr) || (cerr == nil) != (wcerr == nil) || (terr == nil) != (wterr == nil) {
			t.Errorf("%+v: errors %v, %v; want %v, %v", tc, cerr, terr, wcerr, wterr)
		}
		if c.ID != wc.ID || string(c.Phone) != string(wc.Phone) || tk.ID != wt.ID || !tk.OpenedAt.Equal(wt.OpenedAt) || tk.Customer != wt.Customer {
			t.Errorf("%+v: got %+v, %+v; want %+v, %+v", tc, c, tk, wc, wt)
		}
	}
}
