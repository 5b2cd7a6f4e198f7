package postgres

import (
	"context"
	"fmt"

	"github.com/custos-dev/custos/internal/store"
)

var _ store.Leader = (*Store)(nil)

// TryLead takes a session-level advisory lock on a connection held for the
// lease: the lock is released by release, or by PostgreSQL when the
// connection or the process dies.
func (s *Store) TryLead(ctx context.Context, job string) (func(), bool, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(7263, hashtext($1))`, job).Scan(&ok); err != nil {
		conn.Release()
		return nil, false, fmt.Errorf("lead %s: %w", job, err)
	}
	if !ok {
		conn.Release()
		return nil, false, nil
	}
	release := func() {
		conn.Exec(context.Background(), `SELECT pg_advisory_unlock(7263, hashtext($1))`, job)
		conn.Release()
	}
	return release, true, nil
}
