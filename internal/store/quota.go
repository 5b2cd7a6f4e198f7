package store

import (
	"sync/atomic"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// QuotaWindows returns the hour and day window keys for t ("h:2026030209",
// "d:20260302", UTC) and when each ends. Every Store counts quotas in these
// windows, so gateways on different stores agree.
func QuotaWindows(t time.Time) (hour, day string, hourEnd, dayEnd time.Time) {
	// Every charge asks for the current hour's windows: the last answer is
	// kept, so the keys are formatted once an hour, not once a read.
	if w := lastWindows.Load(); w != nil && !t.Before(w.hourStart) && t.Before(w.hourEnd) {
		return w.hour, w.day, w.hourEnd, w.dayEnd
	}
	t = t.UTC()
	h := t.Truncate(time.Hour)
	d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	w := &windows{hourStart: h, hourEnd: h.Add(time.Hour), dayEnd: d.AddDate(0, 0, 1),
		hour: "h:" + h.Format("2006010215"), day: "d:" + d.Format("20060102")}
	lastWindows.Store(w)
	return w.hour, w.day, w.hourEnd, w.dayEnd
}

// windows is one answer of QuotaWindows, for any time in [hourStart,
// hourEnd).
type windows struct {
	hourStart, hourEnd, dayEnd time.Time
	hour, day                  string
}

var lastWindows atomic.Pointer[windows]

// QuotaCharged reports whether an audited event was charged against its
// actor's quota (an allowed read or search that returned a customer): the
// stores recount a day's quotas from the audit log with it.
func QuotaCharged(ev event.Event) bool {
	return ev.Decision == event.Allow && ev.Customer != "" &&
		(ev.Action == event.ActionRead || ev.Action == event.ActionSearch)
}

// Lookup collects the answers of a batched customer lookup: for each key
// asked, the customer found (the smallest id when several share a key),
// whether it is a canary, and whether several customers share the key
// (Shared: a collision of 64-bit blind indexes, which the caller resolves
// by the opened values).
type Lookup struct {
	IDs    []string
	Canary []bool
	Shared []bool
	pos    map[string][]int
}

// NewLookup prepares answers for keys: ids for kind "id", blind indexes
// otherwise (compared as stored: IndexKey).
func NewLookup(kind string, keys [][]byte) *Lookup {
	l := &Lookup{IDs: make([]string, len(keys)), Canary: make([]bool, len(keys)), Shared: make([]bool, len(keys)),
		pos: make(map[string][]int, len(keys))}
	for i, k := range keys {
		if kind != "id" && len(k) > 0 {
			k = IndexBytes(IndexInt(k))
		}
		l.pos[string(k)] = append(l.pos[string(k)], i)
	}
	return l
}

// Found records that key (an id, or a blind index as IndexBytes returns
// it) belongs to customer id.
func (l *Lookup) Found(key []byte, id string, canary bool) {
	for _, i := range l.pos[string(key)] {
		if l.IDs[i] != "" && l.IDs[i] != id {
			l.Shared[i] = true
		}
		if l.IDs[i] == "" || id < l.IDs[i] {
			l.IDs[i], l.Canary[i] = id, canary
		}
	}
}

// FoundIndex is Found for a blind index as stored (IndexKey).
func (l *Lookup) FoundIndex(key int64, id string, canary bool) {
	l.Found(IndexBytes(key), id, canary)
}

// RateWindow returns the fixed window of length window that holds now:
// windows start at multiples of window since the Unix epoch, so every
// gateway agrees on them. Store.Hit counts in these windows.
func RateWindow(now time.Time, window time.Duration) (start, end time.Time) {
	if window <= 0 {
		window = time.Second
	}
	n := now.UnixNano()
	s := n - n%int64(window)
	if n < 0 && n%int64(window) != 0 {
		s -= int64(window)
	}
	return time.Unix(0, s).UTC(), time.Unix(0, s+int64(window)).UTC()
}

// RateRetention is how long the stores keep a rate-limit window after it
// ends before pruning it.
const RateRetention = 24 * time.Hour
