package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// principalCache maps token hashes to principals. It is dropped whenever the
// store's principals version changes, which Refresh checks; a background
// loop calls Refresh often enough that a suspension on any gateway is
// enforced everywhere within a second.
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

// RefreshPrincipals keeps the principal cache in step with the store until
// ctx ends. Run it in its own goroutine.
func (s *Server) RefreshPrincipals(ctx context.Context, every time.Duration) {
	s.init()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := s.cache.refresh(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Warn("principal cache refresh failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// failLimiter counts events per key (failed sign-ins per source, codes
// sent per phone) in a sliding window; at max a key is refused (429) until
// its oldest event leaves the window. Zero window and max mean failWindow
// and failMax.
type failLimiter struct {
	mu     sync.Mutex
	fails  map[string][]time.Time
	window time.Duration
	max    int
}

const (
	failWindow = time.Minute
	failMax    = 20
	// At most codesMax one-time codes go to one phone per codesWindow, so
	// the unauthenticated sign-in cannot be used to flood a phone.
	codesWindow = 15 * time.Minute
	codesMax    = 5
)

func (l *failLimiter) limits() (time.Duration, int) {
	if l.window == 0 {
		return failWindow, failMax
	}
	return l.window, l.max
}

func (l *failLimiter) blocked(src string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	window, max := l.limits()
	ts := prune(l.fails[src], now, window)
	l.fails[src] = ts
	if len(ts) == 0 {
		delete(l.fails, src)
	}
	return len(ts) >= max
}

func (l *failLimiter) fail(src string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fails == nil {
		l.fails = map[string][]time.Time{}
	}
	if len(l.fails) > 100000 { // bound memory under a spray of sources
		for k := range l.fails {
			delete(l.fails, k)
			break
		}
	}
	window, _ := l.limits()
	l.fails[src] = append(prune(l.fails[src], now, window), now)
}

func prune(ts []time.Time, now time.Time, window time.Duration) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return ts[i:]
}

func (s *Server) limiter() *failLimiter { return s.fails }

type authedHandler func(w http.ResponseWriter, r *http.Request, p store.Principal)

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// SessionCookie is the dashboard's session cookie: it holds the API token
// and is HttpOnly and SameSite=Strict.
const SessionCookie = "custos_session"

// authenticate resolves the caller's token to a principal. Failures are
// audited and rate-limited per source.
func (s *Server) authenticate(r *http.Request) (store.Principal, error) {
	now := s.Now()
	src := sourceOf(r)
	lim := s.limiter()
	if lim.blocked(src, now) {
		return store.Principal{}, &apiError{http.StatusTooManyRequests, "rate_limited", "too many failed sign-ins from this address; wait a minute", failWindow}
	}
	tok := bearer(r)
	if tok == "" || len(tok) > 8192 {
		return store.Principal{}, &apiError{http.StatusUnauthorized, "unauthenticated", "send Authorization: Bearer <token>", 0}
	}
	hash := s.Vault.TokenHash(tok)
	p, err := s.cache.lookup(r.Context(), hash)
	if err == nil && !s.Vault.TokenMatches(tok, p.TokenHash) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) && s.External != nil {
		ep, ok, xerr := s.External.Authenticate(r.Context(), tok)
		if xerr != nil && !ok {
			s.Logger.Debug("external token refused", "err", xerr)
		}
		if ok && xerr == nil {
			return ep, nil
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		lim.fail(src, now)
		ev := event.Event{Time: now, Actor: "-", Action: event.ActionAuthFail, Decision: event.Deny, Reason: "unauthenticated", Source: src}
		idx, aerr := s.Audit.Append(r.Context(), ev)
		if aerr != nil {
			s.Logger.Error("audit append failed", "action", ev.Action, "err", aerr)
			return store.Principal{}, &apiError{http.StatusServiceUnavailable, "unavailable", "audit log unavailable", 0}
		}
		noteIndex(r.Context(), idx)
		s.metrics.decisions.WithLabelValues(ev.Action, ev.Decision, ev.Reason).Inc()
		return store.Principal{}, &apiError{http.StatusUnauthorized, "unauthenticated", "unknown or revoked token", 0}
	}
	if err != nil {
		return store.Principal{}, err
	}
	return p, nil
}

// Authenticate resolves the request's caller (bearer token or dashboard
// session cookie); failures are audited. For handlers mounted outside the
// API (the dashboard).
func (s *Server) Authenticate(r *http.Request) (store.Principal, error) {
	s.init()
	return s.authenticate(r)
}

// Fail writes err as the contract's JSON error.
func (s *Server) Fail(w http.ResponseWriter, r *http.Request, err error) { s.fail(w, r, err) }

func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, p)
	}
}

func asPolicyPrincipal(p store.Principal) policy.Principal {
	return policy.Principal{ID: p.ID, Org: p.Org, OrgKind: p.OrgKind, Role: p.Role, Site: p.Site, Region: p.Region, Status: p.Status}
}

// baseEvent fills an event's actor fields from p.
func (s *Server) baseEvent(p store.Principal, action string) event.Event {
	return event.Event{Time: s.Now().UTC(), Actor: p.ID, Org: p.Org, Role: p.Role, Site: p.Site, Region: p.Region, Action: action}
}

// record appends ev to the audit log; the caller answers only if it
// succeeds.
func (s *Server) record(ctx context.Context, ev event.Event) error {
	if ev.Fields == nil {
		ev.Fields = []string{}
	}
	idx, err := s.Audit.Append(ctx, ev)
	if err != nil {
		s.Logger.Error("audit append failed", "action", ev.Action, "err", err)
		return &apiError{http.StatusServiceUnavailable, "unavailable", "audit log unavailable; nothing was done", 0}
	}
	noteIndex(ctx, idx)
	s.metrics.decisions.WithLabelValues(ev.Action, ev.Decision, ev.Reason).Inc()
	return nil
}

// gate denies with 423 (audited) if p is suspended, and otherwise asks
// policy for a non-customer action; it records denials. On allow the caller
// records its own allow event.
func (s *Server) gate(r *http.Request, p store.Principal, action, evAction string, req policy.Request) (policy.Decision, error) {
	if p.Status == store.StatusSuspended {
		ev := s.baseEvent(p, evAction)
		ev.Decision, ev.Reason = event.Deny, "principal_suspended"
		if err := s.record(r.Context(), ev); err != nil {
			return policy.Decision{}, err
		}
		return policy.Decision{}, &apiError{http.StatusLocked, "principal_suspended", "this principal is suspended; contact your security team", 0}
	}
	req.Principal = asPolicyPrincipal(p)
	req.Action = action
	req.Time = s.Now()
	d := s.Policy.Authorize(r.Context(), req)
	if !d.Allow {
		ev := s.baseEvent(p, evAction)
		ev.Decision, ev.Reason = event.Deny, denyCode(d.Reason)
		ev.Target = req.Resource.ID
		if err := s.record(r.Context(), ev); err != nil {
			return d, err
		}
		return d, &apiError{statusFor(ev.Reason), ev.Reason, "not permitted for your role", 0}
	}
	return d, nil
}

func denyCode(reason string) string {
	switch reason {
	case "purpose_required", "purpose_invalid", "quota_exceeded", "principal_suspended", "not_found":
		return reason
	}
	return "forbidden"
}

func noteIndex(ctx context.Context, idx uint64) {
	if n, ok := ctx.Value(auditNoteKey{}).(*auditNote); ok {
		n.mu.Lock()
		n.index, n.set = idx, true
		n.mu.Unlock()
	}
}
