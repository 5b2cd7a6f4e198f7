package client

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors, one per error code of the contract. Every error the
// client returns for an error answer is an *Error, which matches its code's
// sentinel with errors.Is:
//
//	_, err := c.Customer(ctx, "c-0001", client.Ticket(t))
//	switch {
//	case errors.Is(err, client.ErrPurposeRequired): // ask for a ticket
//	case errors.Is(err, client.ErrQuotaExceeded):   // wait e.RetryAfter
//	}
var (
	ErrInvalidRequest  = errors.New("custos: invalid request")     // 400 invalid_request
	ErrUnauthenticated = errors.New("custos: unauthenticated")     // 401 unauthenticated
	ErrForbidden       = errors.New("custos: forbidden")           // 403 forbidden
	ErrPurposeRequired = errors.New("custos: purpose required")    // 403 purpose_required
	ErrPurposeInvalid  = errors.New("custos: purpose invalid")     // 403 purpose_invalid
	ErrNotFound        = errors.New("custos: not found")           // 404 not_found
	ErrConflict        = errors.New("custos: conflict")            // 409 conflict
	ErrTooLarge        = errors.New("custos: request too large")   // 413 too_large
	ErrSuspended       = errors.New("custos: principal suspended") // 423 principal_suspended
	ErrQuotaExceeded   = errors.New("custos: quota exceeded")      // 429 quota_exceeded
	ErrRateLimited     = errors.New("custos: rate limited")        // 429 rate_limited
	ErrUnavailable     = errors.New("custos: unavailable")         // 503 unavailable
	ErrPending         = errors.New("custos: entry pending")       // 503 pending (audit entry not yet in a checkpoint)
)

var sentinels = map[string]error{
	"invalid_request":     ErrInvalidRequest,
	"unauthenticated":     ErrUnauthenticated,
	"forbidden":           ErrForbidden,
	"purpose_required":    ErrPurposeRequired,
	"purpose_invalid":     ErrPurposeInvalid,
	"not_found":           ErrNotFound,
	"conflict":            ErrConflict,
	"too_large":           ErrTooLarge,
	"principal_suspended": ErrSuspended,
	"quota_exceeded":      ErrQuotaExceeded,
	"rate_limited":        ErrRateLimited,
	"unavailable":         ErrUnavailable,
	"pending":             ErrPending,
}

// Error is an error answer from custos: the contract's
// {"error":{"code":…,"message":…}} with its HTTP status.
type Error struct {
	// Status is the HTTP status code.
	Status int
	// Code is the contract's error code, e.g. "purpose_required".
	Code string
	// Message is custos's explanation, meant for people.
	Message string
	// RetryAfter is the wait the server asked for (429, some 503); zero
	// when none.
	RetryAfter time.Duration
	// AuditIndex is the index of the audit-log entry that recorded the
	// denial, when Audited is set.
	AuditIndex uint64
	Audited    bool
}

func (e *Error) Error() string {
	return fmt.Sprintf("custos: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is reports whether target is the sentinel for e's code.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && s == target
}
