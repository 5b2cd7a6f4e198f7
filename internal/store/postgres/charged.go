package postgres

import "sync"

// charged remembers the customers each principal has been charged for in
// the current hour by this gateway, with the principal's counts after its
// last charge here. A customer already counted in the hour and the day
// costs nothing and changes nothing, and no quota row of a current window
// is ever deleted (only windows that ended long ago are pruned), so
// charging it again needs no round trip: the answer is "allowed", with the
// counts this gateway last saw (other gateways may have counted more
// customers since; no caller reads the counts of a free charge as more
// than that).
type charged struct {
	mu     sync.Mutex
	hw, dw string // the windows remembered; others start over
	seen   map[chargeKey]struct{}
	counts map[string][2]int // principal: hour and day counts
}

type chargeKey struct{ principal, customer string }

// chargedMax bounds what charged remembers; past it, it starts over.
const chargedMax = 1 << 20

// free reports whether principal was charged for customer in windows hw
// and dw by this gateway, and the principal's counts then.
func (c *charged) free(hw, dw, principal, customer string) (hour, day int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hw != hw || c.dw != dw {
		return 0, 0, false
	}
	if _, ok := c.seen[chargeKey{principal, customer}]; !ok {
		return 0, 0, false
	}
	n := c.counts[principal]
	return n[0], n[1], true
}

// add remembers an allowed charge.
func (c *charged) add(hw, dw, principal, customer string, hour, day int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hw != hw || c.dw != dw || len(c.seen) >= chargedMax {
		c.hw, c.dw = hw, dw
		c.seen, c.counts = map[chargeKey]struct{}{}, map[string][2]int{}
	}
	c.seen[chargeKey{principal, customer}] = struct{}{}
	c.counts[principal] = [2]int{hour, day}
}
