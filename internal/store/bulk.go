package store

import (
	"context"
	"fmt"
	"time"
)

// This file holds the optional interfaces for writing customers at the
// brand's scale: a staged bulk load (custos import) and a single write (the
// CRM's PUT). Both SQL stores implement them; callers find them with a type
// assertion.

// CustomerLoader is implemented by stores that can load customers in bulk
// without holding them in memory.
type CustomerLoader interface {
	// LoadCustomers begins a staged load. Rows added to it are invisible to
	// readers and change nothing until Commit; Abort (or a crash, however
	// hard) leaves the store as it was. The caller MUST call Abort if it
	// does not Commit. At most one load may be open per Store, and while
	// it is open the Store's other writes may wait for it.
	LoadCustomers(ctx context.Context, opt LoadOptions) (CustomerLoad, error)
}

// LoadOptions configure one bulk load.
type LoadOptions struct {
	// Upsert says the load is a set of changes applied to a live store:
	// the lookup indexes are kept and updated row by row. Otherwise (a full
	// load) the store may drop them and build them again after the load,
	// which is much faster for a load of many rows.
	Upsert bool
	// Now stamps the former blind indexes the load replaces (default
	// time.Now).
	Now time.Time
}

// StagedCustomer is one row of a bulk load with the line of the file it
// came from, so that a duplicate can be reported where it is.
type StagedCustomer struct {
	Customer
	Line int
}

// CustomerLoad is a bulk load in progress. Its methods MUST be called from
// one goroutine at a time.
type CustomerLoad interface {
	// Add stages rows. It keeps no reference to rows after it returns.
	Add(ctx context.Context, rows []StagedCustomer) error
	// Commit switches the staged rows in, in one transaction, with rest (the
	// principals and tickets of the same import, as Store.Import stores
	// them). It first checks that the staged ids are distinct, returning a
	// *DuplicateError (and changing nothing) if not. Rows with the id of a
	// stored customer replace it; before they do, the replaced customer's
	// phone and account blind indexes that change are kept as former
	// indexes (see FormerIndexes). Once Commit returns nil the load is
	// durable. The load is over after Commit, whatever it returns.
	Commit(ctx context.Context, rest Batch) (LoadResult, error)
	// Abort discards the staged rows. It is safe to call after Commit, and
	// more than once.
	Abort() error
}

// LoadResult counts what a committed load did.
type LoadResult struct {
	Created, Replaced int
	// Erased counts the rows left out because their customer was erased
	// (a tombstone): a load never brings an erased customer back.
	Erased int
}

// DuplicateError reports an id staged twice: on line First and again on
// line Line.
type DuplicateError struct {
	ID          string
	First, Line int
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("duplicate id %q on line %d (first on line %d)", e.ID, e.Line, e.First)
}

// CustomerWriter is implemented by stores that can create or replace one
// customer (the CRM integration's PUT).
type CustomerWriter interface {
	// PutCustomer creates customer c, or replaces the stored customer with
	// its id, in one transaction, and reports which. When it replaces, the
	// former phone and account blind indexes that change are kept (see
	// FormerIndexes), stamped at. Every reader of the store, in any
	// process, sees the new record once PutCustomer returns.
	PutCustomer(ctx context.Context, c Customer, at time.Time) (created bool, err error)
}

// Former blind-index kinds, as FormerIndexes and LookupCustomers name them.
const (
	FormerPhone   = "phone"
	FormerAccount = "account"
)

// FormerIndexes is implemented by stores that keep the blind indexes of
// replaced phone numbers and accounts, so that a leak of the old values
// still resolves to the customer in leak tracing (LookupCustomers falls
// back on them). Exact-match search does not use them: the old number may
// belong to someone else now.
type FormerIndexes interface {
	// CustomerByFormer returns the ids of the customers that once had the
	// blind index idx of kind (FormerPhone or FormerAccount), in order.
	CustomerByFormer(ctx context.Context, kind string, idx []byte) ([]string, error)
}
