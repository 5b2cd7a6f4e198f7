package sqlite

import (
	"context"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
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

// cacheGet returns the row under id in m (one of c's maps) and the
// generation to hand to cachePut with a row read from the database.
func cacheGet[T any](c *rowCache, m *map[string]T, id string) (T, bool, uint64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := (*m)[id]
	return v, ok, c.gen
}

// cachePut keeps v under id in m unless the cache was dropped since gen
// (then the row read may be stale).
func cachePut[T any](c *rowCache, m *map[string]T, id string, v T, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(*m) >= cacheMaxRows {
		*m = map[string]T{}
	}
	(*m)[id] = v
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

// watchDataVersion drops the cache when another process commits.
func (s *Store) watchDataVersion(stop <-chan struct{}, done chan<- struct{}) {
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
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
