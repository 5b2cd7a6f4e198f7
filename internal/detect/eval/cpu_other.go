//go:build !linux

package eval

import "time"

// threadClock falls back to wall time where thread CPU time is not known.
type threadClock struct{}

func (c *threadClock) start()                                {}
func (c *threadClock) stop(wall time.Duration) time.Duration { return wall }
