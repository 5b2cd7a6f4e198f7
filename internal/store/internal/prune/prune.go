// Package prune paces the housekeeping deletes the stores run as a side
// effect of ordinary calls (old rate-limit windows, expired sessions), so
// that at most one in each period pays for it.
package prune

import (
	"sync/atomic"
	"time"
)

// Every tells when a periodic prune is due. The zero value is due at once.
// It is safe for concurrent use.
type Every struct {
	last atomic.Int64 // Unix nanoseconds of the last prune
}

// Period is how often Due says yes.
const Period = time.Minute

// Due reports whether a prune should run at now, and if so records that it
// does: of concurrent callers at most one gets true in each Period.
func (e *Every) Due(now time.Time) bool {
	last := e.last.Load()
	n := now.UnixNano()
	if n-last < int64(Period) && n >= last {
		return false
	}
	return e.last.CompareAndSwap(last, n)
}
