package row

import (
	"context"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// Cache keeps customer and ticket rows (as stored: sealed) in memory, so a
// guarded read does not pay a database round trip for each. Its store
// forgets a row when it changes it, and drops the whole cache, or forgets
// the row, when another process does (each store learns of that its own
// way). A row read from the database is kept only if nothing was forgotten
// or dropped since the read began (the generation), so a read that raced
// a change never puts the old row back.
//
// A cache that is off keeps nothing and finds nothing: a store turns it
// off while it cannot learn of other processes' changes.
type Cache struct {
	mu        sync.RWMutex
	gen       uint64
	off       bool
	customers map[string]store.Customer
	tickets   map[string]store.Ticket
}

// cacheMaxRows bounds each of a Cache's maps; a full map is emptied.
const cacheMaxRows = 200_000

// NewCache returns an empty cache, on or off.
func NewCache(on bool) *Cache {
	return &Cache{off: !on, customers: map[string]store.Customer{}, tickets: map[string]store.Ticket{}}
}

// Drop forgets every row.
func (c *Cache) Drop() {
	c.mu.Lock()
	c.drop()
	c.mu.Unlock()
}

// SetOn forgets every row and turns the cache on or off.
func (c *Cache) SetOn(on bool) {
	c.mu.Lock()
	c.drop()
	c.off = !on
	c.mu.Unlock()
}

func (c *Cache) drop() {
	c.gen++
	c.customers = map[string]store.Customer{}
	c.tickets = map[string]store.Ticket{}
}

// ForgetCustomer forgets customer id, after a change to it.
func (c *Cache) ForgetCustomer(id string) { forget(c, &c.customers, id) }

// ForgetTicket forgets ticket id, after a change to it.
func (c *Cache) ForgetTicket(id string) { forget(c, &c.tickets, id) }

// Customer returns customer id from the cache, or reads it with load and
// keeps it. A customer without a record key is not kept: its key may yet be
// inserted, and a store announces only changes and deletions.
func (c *Cache) Customer(id string, load func() (store.Customer, error)) (store.Customer, error) {
	return cached(c, &c.customers, id, load, func(v store.Customer) bool { return len(v.Key) > 0 })
}

// Ticket returns ticket id from the cache, or reads it with load and keeps
// it.
func (c *Cache) Ticket(id string, load func() (store.Ticket, error)) (store.Ticket, error) {
	return cached(c, &c.tickets, id, load, func(store.Ticket) bool { return true })
}

// CustomerTicket returns customer id and ticket tid from the cache, or
// reads both with load (in one round trip) when it lacks either, and keeps
// what it read as Customer and Ticket would.
func (c *Cache) CustomerTicket(id, tid string, load func() store.CustomerTicket) store.CustomerTicket {
	cv, cok, gen := get(c, &c.customers, id)
	tv, tok, _ := get(c, &c.tickets, tid)
	if cok && tok {
		return store.CustomerTicket{Customer: cv, Ticket: tv}
	}
	ct := load()
	if ct.CustomerErr == nil && len(ct.Customer.Key) > 0 {
		put(c, &c.customers, id, ct.Customer, gen)
	}
	if ct.TicketErr == nil {
		put(c, &c.tickets, tid, ct.Ticket, gen)
	}
	return ct
}

// Has reports whether the cache holds customer or ticket id ("customer" or
// "ticket" for kind), for tests.
func (c *Cache) Has(kind, id string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if kind == "customer" {
		_, ok := c.customers[id]
		return ok
	}
	_, ok := c.tickets[id]
	return ok
}

func forget[T any](c *Cache, m *map[string]T, id string) {
	c.mu.Lock()
	c.gen++
	delete(*m, id)
	c.mu.Unlock()
}

// get returns the row under id in m (one of c's maps) and the generation
// to hand to put with a row read from the database.
func get[T any](c *Cache, m *map[string]T, id string) (T, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := (*m)[id]
	return v, ok && !c.off, c.gen
}

// put keeps v under id in m unless the cache is off or was changed since
// gen (then v may be stale), and reports whether it did.
func put[T any](c *Cache, m *map[string]T, id string, v T, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || c.off {
		return false
	}
	if len(*m) >= cacheMaxRows {
		*m = map[string]T{}
	}
	(*m)[id] = v
	return true
}

func cached[T any](c *Cache, m *map[string]T, id string, load func() (T, error), keep func(T) bool) (T, error) {
	v, ok, gen := get(c, m, id)
	if ok {
		return v, nil
	}
	v, err := load()
	if err == nil && keep(v) {
		put(c, m, id, v, gen)
	}
	return v, err
}

// cacheWarmRows bounds the warm-up: half the cache, so the misses after it
// have room before the cache is emptied.
const cacheWarmRows = cacheMaxRows / 2

// Warm reads the open tickets at now, newest first, and their customers
// into the cache: the rows that the coming reads under a ticket ask for,
// and that would otherwise each cost a read on their first use. It stops at
// the first error, or once the cache changes (the rest could be stale).
func (c *Cache) Warm(ctx context.Context, tx Tx, now time.Time) {
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	const open = `FROM tickets WHERE closed_at = 0 AND (expires_at = 0 OR expires_at > ?) ORDER BY opened_at DESC LIMIT ?`
	warm(ctx, tx, c, gen, &c.tickets, `SELECT `+TicketCols+` `+open, Ticket,
		func(t store.Ticket) string { return t.ID }, Nanos(now), cacheWarmRows)
	warm(ctx, tx, c, gen, &c.customers, SelectCustomers+`WHERE c.id IN (SELECT customer `+open+`) AND k.wrapped IS NOT NULL`, Customer,
		func(v store.Customer) string { return v.ID }, Nanos(now), cacheWarmRows)
}

// warm puts the rows q selects into m under generation gen.
func warm[T any](ctx context.Context, tx Tx, c *Cache, gen uint64, m *map[string]T, q string, scan func(Scanner) (T, error), id func(T) string, args ...any) {
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil || !put(c, m, id(v), v, gen) {
			return
		}
	}
}
