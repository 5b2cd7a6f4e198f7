package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// rowCache keeps customer and ticket rows (as stored: sealed) in memory, so
// the guarded read does not pay an SQLite read transaction for each. It is
// dropped whole when this process imports, and when another process commits
// to the database (PRAGMA data_version on the writer connection changes
// only for commits by other connections), checked every cacheCheckEvery.
type rowCache struct {
	mu        sync.RWMutex
	gen       uint64
	customers map[string]store.Customer
	tickets   map[string]store.Ticket
}

const (
	cacheMaxRows    = 200_000
	cacheCheckEvery = 200 * time.Millisecond
)

func newRowCache() *rowCache {
	return &rowCache{customers: map[string]store.Customer{}, tickets: map[string]store.Ticket{}}
}

func (c *rowCache) drop() {
	c.mu.Lock()
	c.gen++
	c.customers = map[string]store.Customer{}
	c.tickets = map[string]store.Ticket{}
	c.mu.Unlock()
}

// generation is the cache's generation, to hand to cachePut with rows read
// after it.
func (c *rowCache) generation() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

// cacheGet returns the row under id in m (one of c's maps) and the
// generation to hand to cachePut with a row read from the database.
func cacheGet[T any](c *rowCache, m *map[string]T, id string) (T, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := (*m)[id]
	return v, ok, c.gen
}

// cachePut keeps v under id in m unless the cache was dropped since gen
// (then the row read may be stale), and reports whether it did.
func cachePut[T any](c *rowCache, m *map[string]T, id string, v T, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return false
	}
	if len(*m) >= cacheMaxRows {
		*m = map[string]T{}
	}
	(*m)[id] = v
	return true
}

// cached returns the row under id in m (one of c's maps), or reads it with
// load and keeps it.
func cached[T any](c *rowCache, m *map[string]T, id string, load func() (T, error)) (T, error) {
	v, ok, gen := cacheGet(c, m, id)
	if ok {
		return v, nil
	}
	v, err := load()
	if err == nil {
		cachePut(c, m, id, v, gen)
	}
	return v, err
}

// forgetTicket drops ticket id after this process changed it. It also
// starts a new generation, so a read that began before the change cannot
// put the old row back.
func (c *rowCache) forgetTicket(id string) {
	c.mu.Lock()
	c.gen++
	delete(c.tickets, id)
	c.mu.Unlock()
}

// watchDataVersion drops the cache when another process commits. With
// warm, it fills the cache once the version is known (so a commit by
// another process during the warm-up drops what it read).
func (s *Store) watchDataVersion(stop <-chan struct{}, done chan<- struct{}, warm bool) {
	defer close(done)
	t := time.NewTicker(cacheCheckEvery)
	defer t.Stop()
	last := int64(-1)
	for {
		var v int64
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := s.w.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&v)
		cancel()
		if err != nil || v != last {
			if last != -1 || err != nil {
				s.cache.drop()
			}
			last = v
		}
		if warm && err == nil {
			warm = false
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			s.warm(ctx, time.Now())
			cancel()
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// cacheWarmRows bounds the warm-up: half the cache, so the misses after it
// have room before the cache is emptied.
const cacheWarmRows = cacheMaxRows / 2

// warm reads the open tickets, newest first, and their customers into the
// cache: the rows that the coming reads under a ticket ask for, which would
// otherwise each cost a read transaction on their first use. It stops at
// the first error, or when the cache is dropped or a row changed in this
// process (a newer generation: the rest could be stale).
func (s *Store) warm(ctx context.Context, now time.Time) {
	gen := s.cache.generation()
	const open = `FROM tickets WHERE closed_at = 0 AND (expires_at = 0 OR expires_at > ?) ORDER BY opened_at DESC LIMIT ?`
	warmRows(ctx, s, gen, &s.cache.tickets, `SELECT `+row.TicketCols+` `+open, row.Ticket,
		func(t store.Ticket) string { return t.ID }, row.Nanos(now), cacheWarmRows)
	warmRows(ctx, s, gen, &s.cache.customers, row.SelectCustomers+`WHERE c.id IN (SELECT customer `+open+`)`, row.Customer,
		func(c store.Customer) string { return c.ID }, row.Nanos(now), cacheWarmRows)
}

// warmRows puts the rows q selects into m under generation gen.
func warmRows[T any](ctx context.Context, s *Store, gen uint64, m *map[string]T, q string, scan func(row.Scanner) (T, error), id func(T) string, args ...any) {
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return
	}
	defer rows.Close()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil || !cachePut(s.cache, m, id(v), v, gen) {
			return
		}
	}
}
