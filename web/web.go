// Package web is custos's browser front end: the security team's dashboard
// at "/" and the customer's own page at "/my". The pages are plain HTML, CSS
// and JavaScript embedded in the binary (no build step, no CDN); they talk
// only to the JSON API on the same origin.
//
// Routes served by Handler:
//
//	GET /                   the dashboard (sign-in with an API token)
//	GET /my                 the customer's page (sign-in with phone and code)
//	GET /assets/{file}      the pages' CSS and JavaScript
//	GET /assets/config.json the log's verifier key and origin, so that the
//	                        pages can check checkpoint signatures themselves
//
// Anything else under "/" is a 404 page.
package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// Options configures Handler.
type Options struct {
	// VerifierKey is the audit log's public verifier key in signed-note form
	// (name+hash+base64), as "custos audit key" prints it. When empty the
	// pages still check inclusion proofs but say that they could not check
	// the checkpoint's signature.
	VerifierKey string
	// Origin is the log's origin (the checkpoint's first line); optional.
	Origin string
}

// Handler returns the handler for the pages and their assets.
func Handler(opts Options) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic("web: embedded assets missing: " + err.Error()) // a build defect
	}
	cfg, err := json.Marshal(map[string]string{"verifier_key": opts.VerifierKey, "origin": opts.Origin})
	if err != nil {
		panic("web: encode config: " + err.Error())
	}
	return &handler{files: sub, config: cfg, modTime: time.Now()}
}

type handler struct {
	files   fs.FS
	config  []byte
	modTime time.Time
}

// pages maps page paths to their HTML files.
var pages = map[string]string{
	"/":           "index.html",
	"/index.html": "index.html",
	"/my":         "my.html",
	"/my/":        "my.html",
}

// contentSecurityPolicy allows only this origin's own scripts, styles and
// connections: no inline script, no third party, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if p == "/assets/config.json" {
		hd.Set("Content-Type", "application/json")
		hd.Set("Cache-Control", "no-store")
		w.Write(h.config)
		return
	}
	name, ok := pages[p]
	if !ok {
		rest, isAsset := strings.CutPrefix(p, "/assets/")
		if !isAsset || rest == "" || strings.Contains(rest, "/") || path.Clean(rest) != rest || strings.HasSuffix(rest, ".html") {
			h.notFound(w)
			return
		}
		name = rest
	}
	b, err := fs.ReadFile(h.files, name)
	if err != nil {
		h.notFound(w)
		return
	}
	// Small files: always revalidate, so that an upgrade shows at once.
	hd.Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, h.modTime, bytes.NewReader(b))
}

func (h *handler) notFound(w http.ResponseWriter) {
	b, err := fs.ReadFile(h.files, "404.html")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusNotFound)
	if err == nil {
		w.Write(b)
	}
}
