package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

type authedHandler func(w http.ResponseWriter, r *http.Request, p store.Principal)

// bearer returns the request's bearer token, or "".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// SessionCookie is the dashboard's session cookie: it holds a server-side
// session id (never the API token) and is HttpOnly and SameSite=Strict.
const SessionCookie = "custos_session"

// authenticate resolves the caller: a bearer token, else the dashboard's
// session cookie. Failures are audited and rate-limited per source.
func (s *Server) authenticate(r *http.Request) (store.Principal, error) {
	if tok := bearer(r); tok != "" || r.Header.Get("Authorization") != "" {
		return s.Gateway.Authenticate(r.Context(), tok, sourceOf(r))
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return s.sessionPrincipal(r, c.Value)
	}
	return s.Gateway.Authenticate(r.Context(), "", sourceOf(r))
}

// Authenticate resolves the request's caller (bearer token or dashboard
// session cookie); failures are audited. For handlers mounted outside the
// API (SCIM).
func (s *Server) Authenticate(r *http.Request) (store.Principal, error) {
	s.Init()
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

// gated is authed plus the policy's word on a non-customer action (reading
// alerts, the audit log, policies): a denial is audited as evAction.
func (s *Server) gated(action, evAction string, h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, p store.Principal) {
		if _, err := s.Gateway.Gate(r.Context(), p, action, evAction, policy.Request{}); err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r, p)
	})
}

// isUnauthenticated reports whether err is a 401.
func isUnauthenticated(err error) bool {
	var e *gateway.Error
	return errors.As(err, &e) && e.Code == "unauthenticated"
}
