package gateway_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// remoteStore is the fixture's store declared remote (as PostgreSQL is).
// Its customer read waits until the ticket lookup has begun: a gateway
// that does not overlap the two fails the read.
type remoteStore struct {
	*sqlite.Store
	once    *sync.Once
	started chan struct{}
}

func (r remoteStore) Remote() bool { return true }

func (r remoteStore) Ticket(ctx context.Context, id string) (store.Ticket, error) {
	r.once.Do(func() { close(r.started) })
	return r.Store.Ticket(ctx, id)
}

func (r remoteStore) Customer(ctx context.Context, id string) (store.Customer, error) {
	select {
	case <-r.started:
	case <-time.After(5 * time.Second):
		return store.Customer{}, errors.New("the customer read came before the ticket lookup began: no overlap")
	}
	return r.Store.Customer(ctx, id)
}

// TestReadOverlapsTicketOnRemoteStore checks that on a remote store the
// ticket lookup runs beside the customer read, and that the purpose is
// checked against the ticket so read exactly as before: allowed under
// one's own ticket, refused under a ticket for another customer.
func TestReadOverlapsTicketOnRemoteStore(t *testing.T) {
	f := newFixture(t, 0)
	ctx := context.Background()
	own := f.ticket(t, "clerk-1", "c-1")
	other := f.ticket(t, "clerk-1", "c-2")
	remote := func() {
		f.gw.Store = remoteStore{Store: f.st, once: new(sync.Once), started: make(chan struct{})}
	}

	remote()
	if _, err := f.gw.Read(ctx, f.principal(t, "clerk-1"), "c-1", "ticket:"+own); err != nil {
		t.Fatal(err)
	}
	if ev := f.last(t); ev.Decision != event.Allow || ev.Basis != event.BasisOwnTicket {
		t.Fatalf("audit %s/%s basis %q, want an allow under the own ticket", ev.Decision, ev.Reason, ev.Basis)
	}

	remote()
	_, err := f.gw.Read(ctx, f.principal(t, "clerk-1"), "c-1", "ticket:"+other)
	if gateway.Code(err) == "" {
		t.Fatalf("read under another customer's ticket: %v, want a denial", err)
	}
	if ev := f.last(t); ev.Decision != event.Deny || ev.PurposeValid {
		t.Fatalf("audit %s/%s purpose_valid %v, want a denial for an invalid purpose", ev.Decision, ev.Reason, ev.PurposeValid)
	}
}
