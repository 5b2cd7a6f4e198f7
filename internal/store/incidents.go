package store

import (
	"context"
	"time"
)

// Incident is a data incident: a leaked list that resolved to customers,
// each of whom is told.
type Incident struct {
	ID      int64
	Title   string
	FoundAt time.Time
	// Fields are the customer fields the leaked list held.
	Fields []string
	// Notice is the text sent to each affected customer.
	Notice string
	// LeakHash identifies the resolved set of customers, so that the same
	// list posted again is the same incident.
	LeakHash  []byte
	CreatedBy string
	CreatedAt time.Time
	// Report is the trace report behind the incident (JSON).
	Report []byte
	// Customers and Notified count the affected customers and those told
	// so far (read only).
	Customers, Notified int
}

// IncidentCustomer is one affected customer and when they were told (zero:
// not yet).
type IncidentCustomer struct {
	Customer   string
	NotifiedAt time.Time
}

// ErasureRequest is a customer's request, from their own page, to be
// erased; the privacy role carries it out.
type ErasureRequest struct {
	Customer string
	At       time.Time
}

// Notice is one customer to tell about one incident.
type Notice struct {
	Incident int64
	Customer string
}

// Incidents is the store's part in data incidents and erasure.
type Incidents interface {
	// CreateIncident records inc with its affected customers, unless an
	// incident with the same LeakHash exists: then it returns that one
	// and created false.
	CreateIncident(ctx context.Context, inc Incident, customers []string) (out Incident, created bool, err error)
	// Incident returns one incident with its counts (ErrNotFound if none).
	Incident(ctx context.Context, id int64) (Incident, error)
	// ListIncidents returns up to limit incidents, newest first, with
	// their counts.
	ListIncidents(ctx context.Context, limit int) ([]Incident, error)
	// IncidentsOf returns the incidents customer was affected by, newest
	// first.
	IncidentsOf(ctx context.Context, customer string) ([]Incident, error)
	// IncidentCustomers returns an incident's customers, in id order.
	IncidentCustomers(ctx context.Context, id int64) ([]IncidentCustomer, error)
	// PendingNotices returns up to limit notices not yet sent, oldest
	// incident first.
	PendingNotices(ctx context.Context, limit int) ([]Notice, error)
	// MarkNotified records that n was sent at at; false if it already was
	// (by this or another gateway), in which case it must not be sent.
	MarkNotified(ctx context.Context, n Notice, at time.Time) (bool, error)

	// EraseCustomer deletes a customer's record (its sealed fields and
	// blind indexes, former ones included) for good and keeps a
	// tombstone. ErrNotFound if there is none.
	// reason (free text) stays with the tombstone, never in the audit log.
	EraseCustomer(ctx context.Context, id, by, reason string, at time.Time) error
	// KeepTombstone records that id was erased without touching any
	// record: for a customer erased after the backup a store was restored
	// from and created after it, so that the store refuses them as it does
	// every erased customer. A tombstone already there is kept.
	KeepTombstone(ctx context.Context, id, by, reason string, at time.Time) error
	// Erased reports whether id was erased.
	Erased(ctx context.Context, id string) (bool, error)
	// RequestErasure records a customer's own request to be erased
	// (once; false if it was already pending).
	RequestErasure(ctx context.Context, customer string, at time.Time) (bool, error)
	// ErasureRequests returns the requests not yet carried out, oldest
	// first.
	ErasureRequests(ctx context.Context) ([]ErasureRequest, error)
}
