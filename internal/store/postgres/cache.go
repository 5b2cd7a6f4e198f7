package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/custos-dev/custos/internal/store/internal/row"
)

const (
	// rowsChannel is where the database announces changed and deleted
	// customer and ticket rows (migration 0012), and listenerName the
	// application_name of the connection that listens (as
	// pg_stat_activity shows it).
	rowsChannel, listenerName = "custos_rows", "custos row cache"
	// The listener waits listenPing for an announcement before it checks
	// that its connection is alive, and backs off up to listenBackoffMax
	// between attempts to listen.
	listenPing, listenBackoffMax = 10 * time.Second, 5 * time.Second
)

// StartRowCache has the store keep customer and ticket rows in memory until
// it closes. The cache is on only while a connection of its own listens on
// rowsChannel, so no change committed by another gateway goes unseen: when
// that connection fails the cache turns off (and empties) until a new one
// listens again. Each time it listens, it warms the cache with the open
// tickets and their customers.
func (s *Store) StartRowCache() {
	s.listening.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		s.stopListening = func() { cancel(); <-done }
		go func() {
			defer close(done)
			s.listen(ctx)
		}()
	})
}

func (s *Store) listen(ctx context.Context) {
	wait := 100 * time.Millisecond
	for {
		listened := s.listenOnce(ctx)
		s.cache.SetOn(false)
		if listened {
			wait = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenBackoffMax)
	}
}

// listenOnce listens on rowsChannel and forgets each row announced, until
// its connection fails or ctx ends. It reports whether it listened.
func (s *Store) listenOnce(ctx context.Context) bool {
	cc := s.connConfig.Copy()
	cc.RuntimeParams["application_name"] = listenerName
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return false
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `LISTEN `+rowsChannel); err != nil {
		return false
	}
	// From here on every change is announced to this connection; a read
	// that began before is not kept (SetOn starts a new generation). The
	// warm-up runs beside the announcements, which must not wait for it.
	s.cache.SetOn(true)
	wctx, stopWarm := context.WithCancel(ctx)
	warmed := make(chan struct{})
	go func() {
		defer close(warmed)
		s.cache.Warm(wctx, pgTx{s.pool}, time.Now())
	}()
	defer func() { stopWarm(); <-warmed }()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			pctx, cancel := context.WithTimeout(ctx, listenPing)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
		}
		if err != nil {
			return true
		}
		forget(s.cache, n.Payload)
	}
}

// forget forgets the row an announcement names; one it cannot read drops
// the whole cache.
func forget(c *row.Cache, payload string) {
	switch kind, id, _ := strings.Cut(payload, ":"); kind {
	case "customer":
		c.ForgetCustomer(id)
	case "ticket":
		c.ForgetTicket(id)
	default:
		c.Drop()
	}
}
