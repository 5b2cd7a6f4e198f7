package storetest

import (
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

func testTickets(t *testing.T, s store.Store) {
	ctx := t.Context()
	tks := []store.Ticket{
		{ID: "t-3", Customer: "c-1", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base.Add(2 * time.Hour)},
		{ID: "t-1", Customer: "c-1", Site: "store-0002", OpenedBy: "emp-2", OpenedAt: base, ClosedAt: base.Add(time.Hour)},
		{ID: "t-2", Customer: "c-2", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base.Add(time.Hour)},
	}
	for _, tk := range tks {
		if err := s.CreateTicket(ctx, tk); err != nil {
			t.Fatalf("CreateTicket(%s): %v", tk.ID, err)
		}
	}
	dup := tks[0]
	dup.Customer = "c-9"
	wantErr(t, "CreateTicket(duplicate)", s.CreateTicket(ctx, dup), store.ErrExists)
	got, err := s.Ticket(ctx, "t-1")
	if err != nil || !equalTicket(got, tks[1]) {
		t.Errorf("Ticket(t-1) = %+v, %v; want %+v", got, err, tks[1])
	}
	if got, err := s.Ticket(ctx, "t-3"); err != nil || !got.ClosedAt.IsZero() || got.Customer != "c-1" {
		t.Errorf("Ticket(t-3) = %+v, %v; want open ticket on c-1", got, err)
	}
	_, err = s.Ticket(ctx, "t-missing")
	wantErr(t, "Ticket(missing)", err, store.ErrNotFound)

	list, err := s.TicketsByCustomer(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || !equalTicket(list[0], tks[1]) || !equalTicket(list[1], tks[0]) {
		t.Errorf("TicketsByCustomer(c-1) = %+v, want oldest first [t-1 t-3]", list)
	}
	if list, err := s.TicketsByCustomer(ctx, "c-none"); err != nil || len(list) != 0 {
		t.Errorf("TicketsByCustomer(c-none) = %v, %v; want none", list, err)
	}
}
