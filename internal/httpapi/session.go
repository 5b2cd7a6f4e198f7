package httpapi

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// The dashboard's sign-in. POST /session with the form field "token" (an
// API token) checks it like any bearer token (failures are audited and
// rate-limited), opens a server-side session in the store (so every gateway
// knows it) and sets its random id as the session cookie: HttpOnly,
// SameSite=Strict, Path=/, Secure on TLS or when Config.SecureCookies says
// a proxy terminates TLS. Neither the token nor the session id appears in a
// URL, and the cookie never holds the token. POST /session/logout ends the
// session.
//
// Cookies ride along on cross-site requests a browser is tricked into
// sending, so every state-changing request authenticated by the cookie must
// also prove it came from the dashboard itself; see CSRFGuard.

// CSRFHeader is the header the dashboard's scripts send on every
// state-changing request. A cross-site page cannot set it without a CORS
// preflight, which custos never grants.
const CSRFHeader = "X-Custos-CSRF"

// sessionTTL is how long the dashboard's cookie lives.
const sessionTTL = 8 * time.Hour

type sessionView struct {
	SignedIn bool   `json:"signed_in"`
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Org      string `json:"org"`
	Status   string `json:"status"`
}

func (s *Server) sessionLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		s.fail(w, r, gateway.Forbidden("sign-in must come from this site's own page"))
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, gateway.BadRequest("send the form field token (application/x-www-form-urlencoded)"))
		return
	}
	if r.URL.Query().Has("token") {
		s.fail(w, r, gateway.BadRequest("never put a token in a URL; send it in the form body"))
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" {
		s.fail(w, r, gateway.BadRequest("send the form field token"))
		return
	}
	// Authenticate exactly as a bearer token would be.
	p, err := s.Gateway.Authenticate(r.Context(), tok, sourceOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.StartSession(w, r, p); err != nil {
		s.fail(w, r, err)
		return
	}
	if r.Header.Get(CSRFHeader) == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		// A plain form post (no script): back to the dashboard.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, sessionView{SignedIn: true, ID: p.ID, Name: p.Name, Role: p.Role, Org: p.Org, Status: p.Status})
}

// sessionState answers GET /session: who the session cookie signs in, or
// {"signed_in": false}. It lets the dashboard decide what to show without
// provoking a 401.
func (s *Server) sessionState(w http.ResponseWriter, r *http.Request) {
	if _, err := r.Cookie(SessionCookie); err != nil {
		writeJSON(w, http.StatusOK, sessionView{})
		return
	}
	c, _ := r.Cookie(SessionCookie)
	p, err := s.sessionPrincipal(r, c.Value)
	if err != nil {
		if isUnauthenticated(err) {
			s.clearSession(w, r)
			writeJSON(w, http.StatusOK, sessionView{})
			return
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionView{SignedIn: true, ID: p.ID, Name: p.Name, Role: p.Role, Org: p.Org, Status: p.Status})
}

// StartSession opens a dashboard session for p and sets its cookie (the
// dashboard's sign-in, and OIDC's after the provider's redirect).
func (s *Server) StartSession(w http.ResponseWriter, r *http.Request, p store.Principal) error {
	s.Init()
	var raw [32]byte
	rand.Read(raw[:])
	sid := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := s.Store.PutSession(r.Context(), s.sessionHash(sid), p.ID, s.Now().Add(sessionTTL)); err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: sid, Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: s.secure(r),
		SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// sessionHash is the key a session is stored under: a keyed hash, so a
// copy of the database holds no usable session id.
func (s *Server) sessionHash(sid string) []byte { return s.Vault.SecretHash("dashboard-session", sid) }

// sessionPrincipal resolves a session cookie's principal.
func (s *Server) sessionPrincipal(r *http.Request, sid string) (store.Principal, error) {
	id, _, err := s.Store.Session(r.Context(), s.sessionHash(sid))
	if errors.Is(err, store.ErrNotFound) {
		id = "-" // no such session: fails, audited, like a bad token
	} else if err != nil {
		return store.Principal{}, err
	}
	return s.Gateway.SessionPrincipal(r.Context(), id, sourceOf(r))
}

func (s *Server) secure(r *http.Request) bool { return r.TLS != nil || s.Config.SecureCookies }

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		s.Store.DeleteSession(r.Context(), s.sessionHash(c.Value))
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) sessionLogout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) && r.Header.Get(CSRFHeader) == "" {
		s.fail(w, r, gateway.Forbidden("sign-out must come from this site's own page"))
		return
	}
	s.clearSession(w, r)
	if r.Header.Get(CSRFHeader) == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "signed out"})
}

// sameOrigin reports whether a browser request says it came from this
// site: Sec-Fetch-Site same-origin, or an Origin (else Referer) whose host
// is the request's Host. A request with none of them (not a browser) is
// accepted: it cannot carry a victim's cookie by accident.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "cross-site", "same-site":
		return false
	}
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return r.Header.Get("Origin") != "null"
	}
	u, err := url.Parse(src)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// cookieAuthed reports whether the request's credential is the session
// cookie (no Authorization header).
func cookieAuthed(r *http.Request) bool {
	if r.Header.Get("Authorization") != "" {
		return false
	}
	_, err := r.Cookie(SessionCookie)
	return err == nil
}

// CSRFGuard refuses (403, JSON) state-changing requests that are
// authenticated by the dashboard's session cookie unless they carry the
// X-Custos-CSRF header or a same-origin Origin/Referer/Sec-Fetch-Site.
// Requests with an Authorization header (API clients, the customer page)
// and safe methods pass untouched. Wrap the whole API handler in it.
func CSRFGuard(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			h.ServeHTTP(w, r)
			return
		}
		if cookieAuthed(r) && r.URL.Path != "/session" {
			if r.Header.Get(CSRFHeader) == "" || !sameOrigin(r) {
				writeError(w, http.StatusForbidden, "forbidden", "cross-site request refused: send "+CSRFHeader+" from the dashboard")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}
