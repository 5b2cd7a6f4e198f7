// Package store defines custos's storage in domain terms. Implementations
// live in sub-packages (sqlite, the embedded default; postgres, for many
// gateways on one database) and must pass the storetest conformance suite.
//
// Personal fields reach a Store only encrypted (see package vault); lookups
// go through blind indexes. A Store never sees a plain phone number.
//
// All methods are safe for concurrent use. Close releases the store; no
// method may be called after it.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Callers branch on them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrConflict = errors.New("conflict")
)

// Principal statuses.
const (
	StatusActive    = "active"
	StatusStepUp    = "stepup"    // reads need a confirmed consent
	StatusSuspended = "suspended" // every call gets 423
)

// Status sources: who made a principal's last status change.
const (
	SourceDetect  = "detect"  // the detectors' containment
	SourceAnalyst = "analyst" // a security analyst by hand
	SourceCase    = "case"    // a case closed as confirmed (lifting it takes two analysts)
	SourceSCIM    = "scim"    // the identity provider's SCIM client
	SourceOIDC    = "oidc"    // a sign-in through OIDC
	SourceImport  = "import"  // principals.csv
)

// NormStatus returns status with "" read as StatusActive.
func NormStatus(status string) string {
	if status == "" {
		return StatusActive
	}
	return status
}

// ReservedID reports whether id is reserved for custos itself as a
// principal id: it starts with "custos" or "subject", in any case. Such ids
// MUST be refused wherever principals are created (import, SCIM, OIDC).
func ReservedID(id string) bool {
	for _, p := range []string{"custos", "subject"} {
		if len(id) >= len(p) && strings.EqualFold(id[:len(p)], p) {
			return true
		}
	}
	return false
}

// ValidID reports whether s is an id custos accepts for customers,
// principals, tickets and sites: 1 to 128 printable ASCII bytes, no spaces,
// slashes, quotes or wildcard characters. Imports and the API both hold ids
// to it, so no id can reach the store that a lookup would treat as a pattern.
func ValidID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("*%?/\\\"'", c) >= 0 {
			return false
		}
	}
	return true
}

// Customer is one customer record as stored: personal fields sealed by the
// vault, lookups by blind index. Region and Site are not secret: policy
// decides on them.
type Customer struct {
	ID     string
	Region string
	Site   string
	// Sealed personal fields (vault ciphertexts).
	Name, Phone, Account []byte
	// Key is the record's own data key, wrapped by the vault (vault.Record);
	// nil for a record written before record keys, sealed with the data
	// key itself. Stores keep it apart from the record (customer_keys), so
	// that erasing it makes every other copy of the ciphertexts unreadable.
	Key []byte
	// Blind indexes (the first IndexSize bytes of a keyed HMAC of the
	// normalised value); nil when empty. Stores keep them as integers
	// (IndexKey): one longer than IndexSize reads back cut to its first
	// IndexSize bytes.
	PhoneIndex, AccountIndex, NameIndex []byte
	// Canary marks a synthetic record planted to catch leaks; Scope is the
	// org or site it was shown to ("org:dist-017", "site:store-0931").
	Canary bool
	Scope  string
}

// Principal is a person or system that calls custos.
type Principal struct {
	ID      string
	Name    string
	Org     string
	OrgKind string
	Role    string
	Site    string
	Region  string
	// TokenHash is the keyed hash of the API token; nil when none is set.
	TokenHash []byte
	Status    string
	// StatusSource says who set Status: "" (never changed), "detect",
	// "analyst", "scim", "oidc" or "import" (see the Source constants);
	// StatusBy is that actor's id and StatusReason why. Only a new
	// principal takes them from PutPrincipal or Import; afterwards only
	// ChangeStatus (and SetPrincipalStatus) changes them.
	StatusSource string
	StatusBy     string
	StatusReason string
	// Notice is the last day of a person who has given notice (zero if none).
	Notice time.Time
}

// CustomerTicket is a customer and a ticket read together, as a guarded
// read under a ticket needs both (see postgres.Store.CustomerTicket). Each
// error is the one its own lookup would have returned (ErrNotFound when
// missing).
type CustomerTicket struct {
	Customer    Customer
	CustomerErr error
	Ticket      Ticket
	TicketErr   error
}

// Ticket is a service ticket: the purpose that lets its holder read
// Customer while it is open and not expired.
type Ticket struct {
	ID       string
	Customer string
	Site     string
	OpenedBy string
	OpenedAt time.Time
	ClosedAt time.Time // zero while open
	// Assignee holds the ticket now; empty means the opener (OpenedBy) does.
	Assignee string
	// ExpiresAt is when the ticket stops serving; zero means never (rows
	// from before tickets expired).
	ExpiresAt time.Time
	// CRM marks a ticket opened by the CRM integration (a trace of a real
	// visit), not by staff.
	CRM bool
}

// Holder returns who holds the ticket: the assignee, or else the opener.
func (t Ticket) Holder() string {
	if t.Assignee != "" {
		return t.Assignee
	}
	return t.OpenedBy
}

// Consent is a customer-present proof in progress or confirmed.
type Consent struct {
	ID          string
	Customer    string
	Principal   string
	CodeHash    []byte
	CreatedAt   time.Time
	ExpiresAt   time.Time // the code's expiry
	Attempts    int       // wrong codes so far
	ConfirmedAt time.Time // zero until confirmed
	GrantUntil  time.Time // access granted until (set on confirmation)
}

// Batch is one import: all of it is stored, or none.
type Batch struct {
	Customers  []Customer
	Principals []Principal
	Tickets    []Ticket
}

// QuotaLimits are a role's limits in distinct customers; 0 means unlimited.
type QuotaLimits struct {
	PerHour int
	PerDay  int
}

// QuotaResult is the outcome of ChargeQuota.
type QuotaResult struct {
	Allowed    bool
	HourCount  int           // distinct customers this hour, after the charge
	DayCount   int           // distinct customers today, after the charge
	RetryAfter time.Duration // when !Allowed: until the window that bit resets
}

// AuditRecord is one audit-log entry as the store keeps it: the event's
// canonical bytes and its salt stay here; only the leaf (a commitment to
// both) goes to the public log.
type AuditRecord struct {
	Index    uint64 // position in the log, assigned by AppendAudit
	Time     time.Time
	Actor    string
	Customer string
	Event    []byte // event.Event.Canonical()
	Salt     []byte
}

// Checkpoint is a signed checkpoint the log has issued.
type Checkpoint struct {
	Size uint64
	Note []byte // signed-note text
	Time time.Time
}

// Alert is a detector's (or the gateway's) finding about one actor, as
// stored and as GET /v1/alerts lists it.
type Alert struct {
	ID      int64     `json:"id"`
	Actor   string    `json:"actor"`
	Time    time.Time `json:"time"`
	Score   float64   `json:"score"`
	Reasons []string  `json:"reasons"`
	Records int       `json:"records"`
	Kind    string    `json:"kind"`   // detector name, e.g. "volume", "canary"
	Action  string    `json:"action"` // containment taken: "", "stepup", "suspend"
	// Detail is the alert's full JSON (implementation-defined extras).
	Detail []byte `json:"-"`
}

// BreakGlass is a request to read a customer without a normal purpose.
type BreakGlass struct {
	ID         string
	Principal  string
	Customer   string
	Reason     string
	CreatedAt  time.Time
	ApprovedBy string
	ApprovedAt time.Time
	ExpiresAt  time.Time // access ends (set on approval)
}

// Store is custos's persistent state.
type Store interface {
	Investigations
	Incidents
	Candidates

	// Import stores a whole batch in one transaction: all or nothing.
	// Existing rows with the same id are replaced, except that an existing
	// principal keeps its status (see PutPrincipal).
	Import(ctx context.Context, b Batch) error

	Customer(ctx context.Context, id string) (Customer, error)
	// CustomerByPhone and CustomerByAccount look up by blind index and
	// return the customer with the smallest id among those that have it. A
	// blind index can collide (see IndexSize): a caller that acts on the
	// match MUST use CustomersByIndex and check the opened value instead
	// (vault.Vault.FindCustomer does).
	CustomerByPhone(ctx context.Context, index []byte) (Customer, error)
	CustomerByAccount(ctx context.Context, index []byte) (Customer, error)
	// CustomerIDsByName returns every customer whose name index matches.
	CustomerIDsByName(ctx context.Context, index []byte) ([]string, error)
	// CustomerCount returns the number of customers.
	CustomerCount(ctx context.Context) (int, error)

	Principal(ctx context.Context, id string) (Principal, error)
	PrincipalByToken(ctx context.Context, tokenHash []byte) (Principal, error)
	Principals(ctx context.Context) ([]Principal, error)
	// PutPrincipal creates or replaces one principal. For a principal that
	// exists it never changes Status, StatusSource, StatusBy or
	// StatusReason (only ChangeStatus does); a new one gets p's (an empty
	// Status is StatusActive). Import treats principals the same way.
	PutPrincipal(ctx context.Context, p Principal) error
	// SetPrincipalStatus sets the status unconditionally. Deprecated: it
	// overwrites what it did not read; use ChangeStatus.
	SetPrincipalStatus(ctx context.Context, id, status string) error
	// ChangeStatus sets principal id's status to to, recording source (one
	// of the Source constants), by (the actor) and reason, if and only if
	// its status is from when the update runs (compare and set, in one
	// atomic statement; "" and StatusActive are the same status). It
	// returns ErrConflict if the status is something else (someone changed
	// it since the caller read it) and ErrNotFound if there is no such
	// principal. It changes PrincipalsVersion in the same transaction.
	ChangeStatus(ctx context.Context, id, from, to, source, by, reason string) error
	// PrincipalsVersion changes whenever any principal changes; gateways use
	// it to invalidate caches (across processes on a shared database).
	PrincipalsVersion(ctx context.Context) (int64, error)

	// CreateTicket returns ErrExists if the id is taken.
	CreateTicket(ctx context.Context, t Ticket) error
	Ticket(ctx context.Context, id string) (Ticket, error)
	// TicketsByCustomer lists a customer's tickets, oldest first.
	TicketsByCustomer(ctx context.Context, customer string) ([]Ticket, error)
	// AssignTicket hands ticket id to principal to (who then holds it
	// alone), in one atomic update. It returns ErrNotFound if there is no
	// such ticket and ErrConflict if the ticket is closed.
	AssignTicket(ctx context.Context, id, to string) error
	// CloseTicket closes ticket id at time at (which MUST NOT be zero), in
	// one atomic update: of two concurrent closes one succeeds. It returns
	// ErrNotFound if there is no such ticket and ErrConflict if it is
	// already closed.
	CloseTicket(ctx context.Context, id string, at time.Time) error
	// CountTicketsOpenedSince returns how many tickets principal opened
	// (OpenedBy) at or after since, closed or not.
	CountTicketsOpenedSince(ctx context.Context, principal string, since time.Time) (int, error)

	CreateConsent(ctx context.Context, c Consent) error
	Consent(ctx context.Context, id string) (Consent, error)
	// ConsentFailed atomically counts one wrong code and returns the count.
	ConsentFailed(ctx context.Context, id string) (int, error)
	// ConfirmConsent marks it confirmed once; ErrConflict if it already was.
	ConfirmConsent(ctx context.Context, id string, at, grantUntil time.Time) error
	// ReserveAttempt reserves one attempt at consent id's code before the
	// code is compared: in one atomic statement it adds one to Attempts if
	// Attempts < max, the consent is not confirmed and ExpiresAt is after
	// now, and returns the updated consent with ok true. Otherwise nothing
	// changes and ok is false, with c the consent as stored, so the caller
	// can tell why (locked: Attempts >= max; ConfirmedAt set; expired).
	// However many calls race, on however many gateways sharing the
	// database, at most max of them get ok. It returns ErrNotFound if there
	// is no such consent.
	ReserveAttempt(ctx context.Context, id string, max int, now time.Time) (c Consent, ok bool, err error)

	CreateBreakGlass(ctx context.Context, b BreakGlass) error
	BreakGlass(ctx context.Context, id string) (BreakGlass, error)
	// ApproveBreakGlass sets the approver once; ErrConflict if already set.
	ApproveBreakGlass(ctx context.Context, id, approver string, at, expires time.Time) error

	// ChargeQuota atomically checks and records that principal reads
	// customer at time at. A customer already counted in the current window
	// costs nothing. Windows are the clock hour and the UTC day. Counts are
	// durable and hold across every gateway on the same database.
	ChargeQuota(ctx context.Context, principal, customer string, at time.Time, l QuotaLimits) (QuotaResult, error)
	// QuotaUsage returns the distinct customers counted in at's hour and day.
	QuotaUsage(ctx context.Context, principal string, at time.Time) (hour, day int, err error)

	// Hit counts one event against key in a fixed window of length window
	// (windows start at multiples of window since the Unix epoch) and
	// reports whether it is allowed: at most max events a window are. A
	// denied event is not counted. When it is denied, retryAfter is the
	// time from now until the window ends (zero when allowed). max < 1
	// allows nothing. The check and the count are one atomic statement and
	// the counter lives in the store, so every gateway on the database
	// shares it. Keys are opaque (callers hash addresses and phone numbers
	// before they get here). Windows that ended a day ago are pruned as
	// hits go.
	Hit(ctx context.Context, key string, now time.Time, window time.Duration, max int) (allowed bool, retryAfter time.Duration, err error)

	// Approve records one approval of the two-person action key (such as
	// "reinstate:emp-1") by by. With no pending approval of key, or one
	// older than ttl, it stores {key, by, now} and returns done false. With
	// a pending approval by the same by it changes nothing and returns done
	// false. With a pending approval by someone else it deletes it and
	// returns done true: the action may go ahead. firstBy is the first
	// approver of the pending action in every case. Concurrent calls
	// (across gateways, too) are serialised: each pending approval
	// completes at most one action.
	Approve(ctx context.Context, key, by string, now time.Time, ttl time.Duration) (firstBy string, done bool, err error)

	// AppendAudit durably appends records in order and assigns them
	// consecutive indexes, returning the first. It returns only once the
	// records are committed: an acknowledged index survives a crash.
	AppendAudit(ctx context.Context, recs []AuditRecord) (first uint64, err error)
	// AuditSize is the number of records appended.
	AuditSize(ctx context.Context) (uint64, error)
	// AuditRange returns records with from <= Index < to, in order.
	AuditRange(ctx context.Context, from, to uint64) ([]AuditRecord, error)
	// AuditByCustomer returns a customer's records, in order.
	AuditByCustomer(ctx context.Context, customer string) ([]AuditRecord, error)
	// AuditByActor returns an actor's records with Index >= from, in order.
	AuditByActor(ctx context.Context, actor string, from uint64) ([]AuditRecord, error)

	// AddCheckpoint keeps a checkpoint the log issued. Checkpoints are never
	// deleted: audit verify checks every one of them.
	AddCheckpoint(ctx context.Context, c Checkpoint) error
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
	LatestCheckpoint(ctx context.Context) (Checkpoint, error)

	// AddAlert stores an alert and returns its id.
	AddAlert(ctx context.Context, a Alert) (int64, error)
	// Alerts returns up to limit alerts, newest first.
	Alerts(ctx context.Context, limit int) ([]Alert, error)
	SetAlertAction(ctx context.Context, id int64, action string) error

	// PutSession stores a dashboard session under the hash of its id,
	// replacing any with the same hash; it ends at expires.
	PutSession(ctx context.Context, idHash []byte, principal string, expires time.Time) error
	// Session returns the principal and expiry of the session; ErrNotFound
	// if there is none or it has expired (by the store's wall clock).
	// Expired sessions are pruned as new ones are put.
	Session(ctx context.Context, idHash []byte) (principal string, expires time.Time, err error)
	// DeleteSession ends a session; deleting one that does not exist is
	// not an error.
	DeleteSession(ctx context.Context, idHash []byte) error

	// SampleCustomers returns up to n customers drawn at random from those
	// that are not canaries (fewer if there are fewer), without holding the
	// whole table in memory. Canary generation uses it.
	SampleCustomers(ctx context.Context, n int) ([]Customer, error)

	// Meta reads a small named value (ErrNotFound if unset). SetMetaOnce
	// sets it only if unset and returns the value now stored, so several
	// gateways starting at once agree on one value.
	Meta(ctx context.Context, key string) ([]byte, error)
	SetMetaOnce(ctx context.Context, key string, value []byte) ([]byte, error)
	SetMeta(ctx context.Context, key string, value []byte) error

	Close() error
}

// StartRowCache has st keep customer and ticket rows in memory, warmed with
// the open tickets and their customers, until it closes, if it can: for a
// serving gateway (a command that reads a few rows needs no cache).
func StartRowCache(st Store) {
	if c, ok := st.(interface{ StartRowCache() }); ok {
		c.StartRowCache()
	}
}

// Leader is implemented by stores that many processes share. TryLead makes
// this process the one that runs a singleton job (the detectors) while it
// holds the lease; ok is false if another process holds it. The lease ends
// when release is called, or when the process or its connection dies. A
// store without Leader is used by one process, which always leads.
type Leader interface {
	// lost is closed if the lease ends without release (the connection
	// that holds it died: a database restart or failover).
	TryLead(ctx context.Context, job string) (release func(), lost <-chan struct{}, ok bool, err error)
}
