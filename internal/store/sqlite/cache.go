package sqlite

import (
	"context"
	"time"
)

// cacheCheckEvery is how often the store checks for commits by other
// processes, which drop its row cache (see watchDataVersion).
const cacheCheckEvery = 200 * time.Millisecond

// watchDataVersion drops the cache when another process commits, and
// warms it when StartRowCache asks, after it knows the version (so a
// commit by another process during the warm-up drops what it read).
func (s *Store) watchDataVersion(stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(cacheCheckEvery)
	defer t.Stop()
	last := int64(-1)
	for {
		var v int64
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		// A read: the writer's synchronous level does not matter to it,
		// so it leaves the level the audit log's commits keep (relaxed).
		err := s.w.QueryRowContext(relaxed(ctx), `PRAGMA data_version`).Scan(&v)
		cancel()
		if err != nil || v != last {
			if last != -1 || err != nil {
				s.cache.Drop()
			}
			last = v
		}
		select {
		case <-stop:
			return
		case <-s.warm:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-stop:
				case <-ctx.Done():
				}
				cancel()
			}()
			s.cache.Warm(ctx, sqlTx{s.r}, time.Now())
			cancel()
		case <-t.C:
		}
	}
}

// StartRowCache reads the open tickets and their customers into the row
// cache in the background, for a server whose first reads would otherwise
// each go to the database (see row.Cache.Warm).
func (s *Store) StartRowCache() {
	select {
	case s.warm <- struct{}{}:
	default:
	}
}
