package store

import (
	"testing"
	"time"
)

// TestQuotaWindows checks the window keys and ends, including the answer
// kept from the last call: times in the same hour, across an hour, a day
// and back, and in another time zone, each get their own hour's windows.
func TestQuotaWindows(t *testing.T) {
	cst := time.FixedZone("CST", 8*3600)
	for _, c := range []struct {
		at        time.Time
		hour, day string
		hourEnd   time.Time
	}{
		{time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), "h:2026030209", "d:20260302", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 2, 9, 59, 59, 999999999, time.UTC), "h:2026030209", "d:20260302", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC), "h:2026030210", "d:20260302", time.Date(2026, 3, 2, 11, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 2, 23, 30, 0, 0, time.UTC), "h:2026030223", "d:20260302", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC), "h:2026030300", "d:20260303", time.Date(2026, 3, 3, 1, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC), "h:2026030209", "d:20260302", time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 3, 7, 30, 0, 0, cst), "h:2026030223", "d:20260302", time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC)},
	} {
		for range 2 { // computed, then kept
			hour, day, hourEnd, dayEnd := QuotaWindows(c.at)
			wantDayEnd := time.Date(c.at.UTC().Year(), c.at.UTC().Month(), c.at.UTC().Day()+1, 0, 0, 0, 0, time.UTC)
			if hour != c.hour || day != c.day || !hourEnd.Equal(c.hourEnd) || !dayEnd.Equal(wantDayEnd) {
				t.Errorf("QuotaWindows(%v) = %s %s %v %v; want %s %s %v %v", c.at, hour, day, hourEnd, dayEnd, c.hour, c.day, c.hourEnd, wantDayEnd)
			}
		}
	}
}
