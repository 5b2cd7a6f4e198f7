package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// Authenticate resolves a bearer token to its principal: a custos API
// token (compared as a keyed hash, in constant time), or else one the
// External authenticator accepts. Failures are audited and limited per
// source address (429 after failMax a minute).
func (g *Gateway) Authenticate(ctx context.Context, token, source string) (store.Principal, error) {
	g.init()
	now := g.Now()
	if g.fails.blocked(source, now) {
		return store.Principal{}, &Error{Code: "rate_limited", Msg: "too many failed sign-ins from this address; wait a minute", RetryAfter: failWindow}
	}
	if token == "" || len(token) > 8192 {
		return store.Principal{}, &Error{Code: "unauthenticated", Msg: "send Authorization: Bearer <token>"}
	}
	hash := g.Vault.TokenHash(token)
	p, err := g.cache.lookup(ctx, hash)
	if err == nil && !g.Vault.TokenMatches(token, p.TokenHash) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) && g.External != nil {
		if ep, ok, xerr := g.External.Authenticate(ctx, token); ok && xerr == nil {
			return ep, nil
		} else if xerr != nil {
			g.Logger.Debug("external token refused", "err", xerr)
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		g.fails.add(source, now)
		ev := event.Event{Time: now.UTC(), Actor: "-", Action: event.ActionAuthFail, Source: source}
		return store.Principal{}, g.deny(ctx, ev, "unauthenticated", "unknown or revoked token", 0)
	}
	return p, err
}

// RefreshPrincipals keeps the principal cache in step with the store until
// ctx ends, so that a suspension on any gateway is enforced everywhere
// within one interval. Run it in its own goroutine.
func (g *Gateway) RefreshPrincipals(ctx context.Context, every time.Duration) {
	g.init()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := g.cache.refresh(ctx); err != nil && ctx.Err() == nil {
			g.Logger.Warn("principal cache refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// principalCache maps token hashes to principals. It is dropped whenever
// the store's principals version changes.
type principalCache struct {
	st      store.Store
	mu      sync.RWMutex
	version int64
	gen     uint64 // bumped whenever the cache is dropped
	byToken map[string]store.Principal
}

func newPrincipalCache(st store.Store) *principalCache {
	return &principalCache{st: st, byToken: map[string]store.Principal{}, version: -1}
}

func (c *principalCache) lookup(ctx context.Context, hash []byte) (store.Principal, error) {
	c.mu.RLock()
	p, ok := c.byToken[string(hash)]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := c.st.PrincipalByToken(ctx, hash)
	if err != nil {
		return store.Principal{}, err
	}
	// Cache only if no refresh or invalidation happened meanwhile: else a
	// suspension committed during the read could be overwritten by the
	// stale "active" copy and never enforced.
	c.mu.Lock()
	if c.gen == gen {
		c.byToken[string(hash)] = p
	}
	c.mu.Unlock()
	return p, nil
}

// refresh drops the cache if principals changed in the store.
func (c *principalCache) refresh(ctx context.Context) error {
	v, err := c.st.PrincipalsVersion(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	if v != c.version {
		c.version = v
		c.gen++
		c.byToken = map[string]store.Principal{}
	}
	c.mu.Unlock()
	return nil
}

func (c *principalCache) invalidate() {
	c.mu.Lock()
	c.byToken = map[string]store.Principal{}
	c.gen++
	c.version = -1
	c.mu.Unlock()
}

// limiter counts events per key in a sliding window, in memory; at max a
// key is refused until its oldest event leaves the window.
type limiter struct {
	mu     sync.Mutex
	events map[string][]time.Time
	window time.Duration
	max    int
}

func (l *limiter) blocked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := prune(l.events[key], now, l.window)
	if len(ts) == 0 {
		delete(l.events, key)
	} else {
		l.events[key] = ts
	}
	return len(ts) >= l.max
}

func (l *limiter) add(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.events == nil {
		l.events = map[string][]time.Time{}
	}
	if len(l.events) > 100000 { // bound memory under a spray of sources
		for k := range l.events {
			delete(l.events, k)
			break
		}
	}
	l.events[key] = append(prune(l.events[key], now, l.window), now)
}

func prune(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return ts[i:]
}

// SessionPrincipal resolves the principal of a server-side session (the
// dashboard's cookie), which the transport found in the store. A session
// whose principal is gone is a failed sign-in, audited like a bad token.
func (g *Gateway) SessionPrincipal(ctx context.Context, id, source string) (store.Principal, error) {
	g.init()
	p, err := g.Store.Principal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		g.fails.add(source, g.Now())
		ev := event.Event{Time: g.Now().UTC(), Actor: "-", Action: event.ActionAuthFail, Source: source}
		return store.Principal{}, g.deny(ctx, ev, "unauthenticated", "your session has ended; sign in again", 0)
	}
	return p, err
}
