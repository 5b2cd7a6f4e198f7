package httpapi

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The dashboard's sign-in. POST /session with the form field "token" (an
// API token) checks it like any bearer token (failures are audited and
// rate-limited) and sets it as the session cookie: HttpOnly, SameSite=Strict,
// Path=/, Secure on TLS. The token never appears in a URL. POST
// /session/logout clears the cookie.
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
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "sign-in must come from this site's own page", 0})
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, errBadRequest("send the form field token (application/x-www-form-urlencoded)"))
		return
	}
	if r.URL.Query().Has("token") {
		s.fail(w, r, errBadRequest("never put a token in a URL; send it in the form body"))
		return
	}
	tok := strings.TrimSpace(r.PostForm.Get("token"))
	if tok == "" {
		s.fail(w, r, errBadRequest("send the form field token"))
		return
	}
	// Authenticate exactly as a bearer token would be.
	ar := r.Clone(r.Context())
	ar.Header = r.Header.Clone()
	ar.Header.Set("Authorization", "Bearer "+tok)
	p, err := s.authenticate(ar)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: tok, Path: "/",
		MaxAge: int(sessionTTL / time.Second), HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
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
	ar := r.Clone(r.Context())
	ar.Header = r.Header.Clone()
	ar.Header.Del("Authorization")
	p, err := s.authenticate(ar)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusUnauthorized {
			clearSession(w, r)
			writeJSON(w, http.StatusOK, sessionView{})
			return
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, sessionView{SignedIn: true, ID: p.ID, Name: p.Name, Role: p.Role, Org: p.Org, Status: p.Status})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
}

func (s *Server) sessionLogout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) && r.Header.Get(CSRFHeader) == "" {
		s.fail(w, r, &apiError{http.StatusForbidden, "forbidden", "sign-out must come from this site's own page", 0})
		return
	}
	clearSession(w, r)
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
