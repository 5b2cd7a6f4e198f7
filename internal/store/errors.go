package store

import (
	"errors"
	"time"
)

// ErrUnavailable means the store could not do what was asked for a reason
// that is not the caller's and may pass: the database cannot be reached or
// has shut down, the disk is full or failing, the connection pool is
// exhausted. Nothing was changed that the caller was told about, and the
// same call may succeed later. Implementations wrap their driver's error
// with Unavailable so that callers test it with errors.Is; the HTTP API
// answers it with 503 "unavailable" and a Retry-After.
var ErrUnavailable = errors.New("store unavailable")

// DefaultRetryAfter is how long a caller refused with ErrUnavailable is
// told to wait before trying again.
const DefaultRetryAfter = 2 * time.Second

// Unavailable returns err marked as ErrUnavailable: errors.Is(result,
// ErrUnavailable) holds and errors.Unwrap gives err back, so the driver's
// error stays inspectable. It returns nil for nil and err itself if it is
// already marked.
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err}
}

// Classify returns err marked as ErrUnavailable (see Unavailable) when
// unavailable, a store's test of its driver's errors, says it is one, and
// err unchanged otherwise.
func Classify(err error, unavailable func(error) bool) error {
	if err != nil && unavailable(err) {
		return Unavailable(err)
	}
	return err
}

type unavailableError struct{ err error }

func (e *unavailableError) Error() string {
	return "store unavailable: " + e.err.Error()
}

func (e *unavailableError) Unwrap() error { return e.err }

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
