package storetest

import (
	"errors"
	"fmt"
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

// testTicketAssignClose checks that a ticket is handed on and closed only
// while open, and that the change shows at once (stores may cache tickets).
func testTicketAssignClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	tk := store.Ticket{ID: "t-1", Customer: "c-1", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base,
		ExpiresAt: base.Add(72 * time.Hour), CRM: true}
	if err := s.CreateTicket(ctx, tk); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Ticket(ctx, tk.ID); err != nil || !equalTicket(got, tk) || got.Holder() != "emp-1" {
		t.Fatalf("Ticket = %+v, %v; want %+v held by emp-1", got, err, tk)
	}
	if err := s.AssignTicket(ctx, tk.ID, "emp-2"); err != nil {
		t.Fatalf("AssignTicket: %v", err)
	}
	tk.Assignee = "emp-2"
	if got, err := s.Ticket(ctx, tk.ID); err != nil || !equalTicket(got, tk) || got.Holder() != "emp-2" {
		t.Errorf("Ticket after assign = %+v, %v; want %+v held by emp-2", got, err, tk)
	}
	wantErr(t, "AssignTicket(missing)", s.AssignTicket(ctx, "t-missing", "emp-2"), store.ErrNotFound)
	wantErr(t, "CloseTicket(missing)", s.CloseTicket(ctx, "t-missing", base), store.ErrNotFound)

	closed := base.Add(time.Hour)
	if err := s.CloseTicket(ctx, tk.ID, closed); err != nil {
		t.Fatalf("CloseTicket: %v", err)
	}
	tk.ClosedAt = closed
	if got, err := s.Ticket(ctx, tk.ID); err != nil || !equalTicket(got, tk) {
		t.Errorf("Ticket after close = %+v, %v; want %+v", got, err, tk)
	}
	wantErr(t, "CloseTicket again", s.CloseTicket(ctx, tk.ID, closed.Add(time.Hour)), store.ErrConflict)
	wantErr(t, "AssignTicket(closed)", s.AssignTicket(ctx, tk.ID, "emp-3"), store.ErrConflict)
	if got, err := s.Ticket(ctx, tk.ID); err != nil || !equalTicket(got, tk) {
		t.Errorf("Ticket after refused changes = %+v, %v; want %+v", got, err, tk)
	}
}

// testTicketCloseConcurrent closes one ticket from many goroutines: exactly
// one close wins, every other gets ErrConflict.
func testTicketCloseConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.CreateTicket(ctx, store.Ticket{ID: "t-1", Customer: "c-1", Site: "store-0001", OpenedBy: "emp-1", OpenedAt: base}); err != nil {
		t.Fatal(err)
	}
	const n = 20
	errs := make([]error, n)
	parallel(n, func(i int) { errs[i] = s.CloseTicket(ctx, "t-1", base.Add(time.Duration(i+1)*time.Second)) })
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("close %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d closes succeeded, want 1", won)
	}
}

func testTicketsOpenedSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	for i := range 10 {
		who := "emp-1"
		if i%3 == 0 {
			who = "emp-2"
		}
		tk := store.Ticket{ID: fmt.Sprintf("t-%d", i), Customer: "c-1", Site: "store-0001", OpenedBy: who,
			OpenedAt: base.Add(time.Duration(i) * time.Minute)}
		if i == 9 {
			tk.ClosedAt = tk.OpenedAt.Add(time.Second) // closed ones count too
		}
		if err := s.CreateTicket(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	// emp-1 opened t-1 t-2 t-4 t-5 t-7 t-8; emp-2 t-0 t-3 t-6 t-9.
	for _, tc := range []struct {
		who   string
		since time.Time
		want  int
	}{
		{"emp-1", time.Time{}, 6},
		{"emp-1", base.Add(4 * time.Minute), 4}, // at since counts
		{"emp-1", base.Add(4*time.Minute + 1), 3},
		{"emp-2", base.Add(3 * time.Minute), 3},
		{"emp-2", base.Add(time.Hour), 0},
		{"emp-none", time.Time{}, 0},
	} {
		if n, err := s.CountTicketsOpenedSince(ctx, tc.who, tc.since); err != nil || n != tc.want {
			t.Errorf("CountTicketsOpenedSince(%s, %v) = %d, %v; want %d", tc.who, tc.since, n, err, tc.want)
		}
	}
}
