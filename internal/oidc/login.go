package oidc

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"strings"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/custos-dev/custos/internal/store"
)

// Paths of the dashboard's sign-in with the provider.
const (
	LoginPath    = "/auth/oidc/login"
	CallbackPath = "/auth/oidc/callback"
)

// stateCookie carries the flow's state, PKCE verifier and nonce from login
// to callback. It is SameSite=Lax: it must come back on the provider's
// redirect.
const stateCookie = "custos_oidc_flow"

const flowTTL = 10 * time.Minute

// LoginEnabled reports whether the dashboard's sign-in flow is configured.
func (a *Authenticator) LoginEnabled() bool { return a.cfg.RedirectURL != "" }

// LoginHandler returns the handler for GET LoginPath and GET CallbackPath:
// the authorization-code flow with PKCE, state and nonce. On success it
// calls startSession with the signed-in principal (the dashboard opens its
// server-side session and sets its cookie) and sends the browser to "/".
func (a *Authenticator) LoginHandler(startSession func(w http.ResponseWriter, r *http.Request, p store.Principal) error) (http.Handler, error) {
	if !a.LoginEnabled() {
		return nil, errors.New("oidc: redirect_url is not set")
	}
	secret := a.cfg.ClientSecret
	if a.cfg.ClientSecretFile != "" {
		b, err := os.ReadFile(a.cfg.ClientSecretFile)
		if err != nil {
			return nil, fmt.Errorf("oidc: client_secret_file: %w", err)
		}
		secret = strings.TrimRight(string(b), "\r\n")
	}
	scopes := a.cfg.Scopes
	if scopes == nil {
		scopes = []string{"profile", "email"}
	}
	secure := strings.HasPrefix(a.cfg.RedirectURL, "https://")
	conf := func() (*oauth2.Config, error) {
		if _, err := a.getVerifier(); err != nil {
			return nil, err
		}
		a.mu.Lock()
		ep := a.provider.Endpoint()
		a.mu.Unlock()
		return &oauth2.Config{ClientID: a.cfg.ClientID, ClientSecret: secret, RedirectURL: a.cfg.RedirectURL,
			Endpoint: ep, Scopes: append([]string{gooidc.ScopeOpenID}, scopes...)}, nil
	}
	fail := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LoginPath, func(w http.ResponseWriter, r *http.Request) {
		c, err := conf()
		if err != nil {
			a.logger.Warn("oidc: sign-in unavailable", "err", err)
			fail(w, http.StatusServiceUnavailable, "unavailable", "the identity provider is unreachable; try again")
			return
		}
		state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Value: state + "." + nonce + "." + verifier,
			Path: "/auth/oidc/", MaxAge: int(flowTTL / time.Second), HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		w.Header().Set("Cache-Control", "no-store")
		http.Redirect(w, r, c.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), http.StatusFound)
	})
	mux.HandleFunc("GET "+CallbackPath, func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(stateCookie)
		parts := []string{}
		if err == nil {
			parts = strings.Split(ck.Value, ".")
		}
		http.SetCookie(w, &http.Cookie{Name: stateCookie, Path: "/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
		q := r.URL.Query()
		if len(parts) != 3 || subtle.ConstantTimeCompare([]byte(parts[0]), []byte(q.Get("state"))) != 1 {
			fail(w, http.StatusBadRequest, "invalid_request", "sign-in expired or was not started here; start again at "+LoginPath)
			return
		}
		if e := q.Get("error"); e != "" {
			fail(w, http.StatusUnauthorized, "unauthenticated", "the identity provider refused the sign-in")
			return
		}
		c, err := conf()
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "unavailable", "the identity provider is unreachable; try again")
			return
		}
		ctx := gooidc.ClientContext(r.Context(), a.hc)
		tok, err := c.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(parts[2]))
		if err != nil {
			a.logger.Warn("oidc: code exchange failed", "err", err)
			fail(w, http.StatusUnauthorized, "unauthenticated", "the sign-in could not be completed; start again")
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		idt, err := a.verify(r.Context(), raw)
		if err != nil || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(parts[1])) != 1 {
			a.logger.Warn("oidc: ID token refused at sign-in", "err", err)
			fail(w, http.StatusUnauthorized, "unauthenticated", "the identity provider's token was not valid for custos")
			return
		}
		p, ok, err := a.Authenticate(r.Context(), raw)
		if !ok {
			a.logger.Info("oidc: signed-in person has no custos access", "err", err)
			fail(w, http.StatusForbidden, "forbidden", "you have no custos role; ask your administrator")
			return
		}
		if err := startSession(w, r, p); err != nil {
			a.logger.Error("oidc: could not open a session", "err", err)
			fail(w, http.StatusServiceUnavailable, "unavailable", "the sign-in could not be completed; try again")
			return
		}
		// A SameSite=Strict cookie is not sent on a navigation that started
		// at the provider; a same-site hop makes the first page load carry it.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		hop.Execute(w, nil)
	})
	return mux, nil
}

var hop = template.Must(template.New("hop").Parse(`<!doctype html><meta charset="utf-8"><title>custos</title>` +
	`<meta http-equiv="refresh" content="0;url=/"><p>Signed in. <a href="/">Continue to custos</a>.</p>`))

func random() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("oidc: internal error: crypto/rand: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}
