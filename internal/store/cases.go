package store

import (
	"context"
	"time"
)

// AuditTerms are what audit search filters on, for one audit record: kept
// in a search index beside the audit table by a consumer of the audit feed
// (never by the hot append).
type AuditTerms struct {
	Index    uint64
	Time     time.Time
	Actor    string
	Customer string
	Org      string
	Site     string
	Action   string
	Decision string
}

// AuditQuery selects audit records: every non-empty field must match.
type AuditQuery struct {
	Actor, Customer, Org, Site, Action, Decision string
	// Since and Until bound the record's time: Since inclusive, Until
	// exclusive; zero means unbounded.
	Since, Until time.Time
	// Before, when non-zero, keeps records with an index below it (the
	// cursor of the page before).
	Before uint64
	// Limit is the most records returned (1 to 1000; 100 if 0).
	Limit int
}

// Case statuses and outcomes.
const (
	CaseOpen          = "open"
	CaseInvestigating = "investigating"
	CaseClosed        = "closed"

	OutcomeConfirmed = "confirmed"
	OutcomeBenign    = "benign"
)

// Case is an investigation of one person, opened from an alert.
type Case struct {
	ID      int64
	AlertID int64
	// Person is the principal investigated (the alert's actor).
	Person   string
	Status   string // CaseOpen, CaseInvestigating or CaseClosed
	Assignee string
	Outcome  string // "", OutcomeConfirmed or OutcomeBenign
	// From is where the person's activity the case covers (its evidence)
	// begins; it runs to the present.
	From      time.Time
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
	// Notes are the analysts' notes, oldest first (Case only; Cases
	// leaves them out).
	Notes []CaseNote
}

// CaseNote is one analyst's note on a case. Notes are free text: they are
// kept in the store and never put in the audit log.
type CaseNote struct {
	Time   time.Time
	Author string
	Text   string
}

// Investigations is the store's part in audit search and cases.
type Investigations interface {
	// IndexAudit adds search terms for audit records; terms already
	// indexed are left as they are.
	IndexAudit(ctx context.Context, terms []AuditTerms) error
	// AuditIndexed returns the index of the first record not yet in the
	// search index (records are indexed in order).
	AuditIndexed(ctx context.Context) (uint64, error)
	// SearchAudit returns the indexed audit records that match q, newest
	// first.
	SearchAudit(ctx context.Context, q AuditQuery) ([]AuditRecord, error)

	// Alert returns one alert (ErrNotFound if none).
	Alert(ctx context.Context, id int64) (Alert, error)
	// CreateCase opens c (its ID, CreatedAt and UpdatedAt are set) unless
	// its alert already has a case: then it returns that case and
	// created false.
	CreateCase(ctx context.Context, c Case) (out Case, created bool, err error)
	// Case returns a case with its notes (ErrNotFound if none).
	Case(ctx context.Context, id int64) (Case, error)
	// Cases returns up to limit cases, most recently updated first,
	// without their notes.
	Cases(ctx context.Context, limit int) ([]Case, error)
	// UpdateCase stores c's status, assignee, outcome and UpdatedAt and,
	// if note is not nil, appends it, in one transaction.
	UpdateCase(ctx context.Context, c Case, note *CaseNote) error
}

// ClampLimit returns limit within [1, max], def when it is 0 or less.
func ClampLimit(limit, def, max int) int {
	switch {
	case limit <= 0:
		return def
	case limit > max:
		return max
	}
	return limit
}
