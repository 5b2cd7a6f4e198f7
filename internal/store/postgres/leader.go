package postgres

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

var _ store.Leader = (*Store)(nil)

// leaseCheck is how often a held lease's connection is checked.
const leaseCheck = 2 * time.Second

// TryLead takes a session-level advisory lock on a connection held for the
// lease: the lock is released by release, or by PostgreSQL when the
// connection or the process dies — which lost then reports (the
// connection is checked every leaseCheck).
func (s *Store) TryLead(ctx context.Context, job string) (func(), <-chan struct{}, bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(7263, hashtext($1))`, job).Scan(&ok); err != nil {
		conn.Release()
		return nil, nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	if !ok {
		conn.Release()
		return nil, nil, false, nil
	}
	lost, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(leaseCheck)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				pctx, cancel := context.WithTimeout(context.Background(), leaseCheck)
				err := conn.Ping(pctx)
				cancel()
				if err != nil {
					close(lost)
					return
				}
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			<-done
			conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7263, hashtext($1))`, job)
			conn.Release()
		})
	}
	return release, lost, true, nil
}
