package gateway_test

import (
	"context"
	"testing"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// pairStore is the fixture's store with PostgreSQL's one-trip read of a
// customer and a ticket; it counts the lookups the gateway makes.
type pairStore struct {
	*sqlite.Store
	pairs, singles *int
}

func (s pairStore) CustomerTicket(ctx context.Context, id, tid string) store.CustomerTicket {
	*s.pairs++
	var ct store.CustomerTicket
	ct.Customer, ct.CustomerErr = s.Store.Customer(ctx, id)
	ct.Ticket, ct.TicketErr = s.Store.Ticket(ctx, tid)
	return ct
}

func (s pairStore) Customer(ctx context.Context, id string) (store.Customer, error) {
	*s.singles++
	return s.Store.Customer(ctx, id)
}

func (s pairStore) Ticket(ctx context.Context, id string) (store.Ticket, error) {
	*s.singles++
	return s.Store.Ticket(ctx, id)
}

// TestReadTakesTicketWithCustomer checks that on a store that reads a
// customer and a ticket together, a read under a ticket makes that one
// lookup, and decides exactly as with two: allowed under one's own ticket,
// refused under another customer's or a missing one.
func TestReadTakesTicketWithCustomer(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	own := f.ticket(t, "clerk-1", "c-1")
	other := f.ticket(t, "clerk-1", "c-2")
	var pairs, singles int
	f.gw.Store = pairStore{Store: f.st, pairs: &pairs, singles: &singles}
	tests := []struct {
		name, purpose string
		allow         bool
	}{
		{"own ticket", "ticket:" + own, true},
		{"another customer's ticket", "ticket:" + other, false},
		{"a missing ticket", "ticket:T-missing", false},
	}
	for _, tt := range tests {
		pairs, singles = 0, 0
		_, err := f.gw.Read(ctx, f.principal(t, "clerk-1"), "c-1", tt.purpose)
		if (err == nil) != tt.allow {
			t.Errorf("%s: err %v, want allowed %v", tt.name, err, tt.allow)
		}
		if pairs != 1 || singles != 0 {
			t.Errorf("%s: %d paired and %d single lookups, want 1 and 0", tt.name, pairs, singles)
		}
		ev := f.last(t)
		if want := map[bool]string{true: event.Allow, false: event.Deny}[tt.allow]; ev.Decision != want || ev.PurposeValid != tt.allow {
			t.Errorf("%s: audit %s/%s purpose_valid %v", tt.name, ev.Decision, ev.Reason, ev.PurposeValid)
		}
		if !tt.allow && gateway.Code(err) == "" {
			t.Errorf("%s: %v is not a denial", tt.name, err)
		}
	}
}
