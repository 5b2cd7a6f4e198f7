package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/internal/row"
)

// EraseCustomer deletes the customer's row and record key and keeps a
// tombstone, then VACUUMs customer_keys (a small table) so that the key's
// dead tuple is pruned now, not when autovacuum comes by. PostgreSQL does
// not scrub what it prunes, and the deleted row's tuples stay in customers'
// pages until VACUUM reclaims them; without the key they are ciphertexts
// no one can open (docs/THREATS.md). A failed VACUUM is not a failed
// erasure: autovacuum prunes the key later.
func (s *Store) EraseCustomer(ctx context.Context, id, by, reason string, at time.Time) error {
	defer s.cache.ForgetCustomer(id)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return row.Erase(ctx, pgTx{tx}, id, by, reason, at)
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("erase customer: %w", err)
	}
	if err == nil {
		s.pool.Exec(ctx, `VACUUM customer_keys`) //nolint:errcheck // best effort, see above
	}
	return err
}
