package web

import (
	"encoding/json"
	"io/fs"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerRoutes(t *testing.T) {
	h := Handler(Options{VerifierKey: "custos.local/audit+01234567+AQID", Origin: "custos.local/audit"})
	cases := []struct {
		method, path string
		status       int
		ctype        string
		contains     string
	}{
		{"GET", "/", 200, "text/html", `name="token"`},
		{"GET", "/index.html", 200, "text/html", `name="token"`},
		{"GET", "/my", 200, "text/html", `id="phone"`},
		{"GET", "/my/", 200, "text/html", `id="phone"`},
		{"HEAD", "/", 200, "text/html", ""},
		{"GET", "/assets/app.css", 200, "text/css", ":root"},
		{"GET", "/assets/dashboard.js", 200, "javascript", "verifyEntry"},
		{"GET", "/assets/verify.js", 200, "javascript", "rootFromInclusionProof"},
		{"GET", "/assets/config.json", 200, "application/json", `"verifier_key":"custos.local/audit+01234567+AQID"`},
		{"GET", "/assets/", 404, "text/html", "Page not found"},
		{"GET", "/assets/index.html", 404, "text/html", ""},
		{"GET", "/assets/../web.go", 404, "text/html", ""},
		{"GET", "/assets/nope.js", 404, "text/html", ""},
		{"GET", "/static/app.css", 404, "text/html", ""},
		{"GET", "/admin", 404, "text/html", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d", w.Code, tc.status)
			}
			if ct := w.Header().Get("Content-Type"); tc.ctype != "" && !strings.Contains(ct, tc.ctype) {
				t.Errorf("Content-Type %q, want %q", ct, tc.ctype)
			}
			if tc.contains != "" && !strings.Contains(w.Body.String(), tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			csp := w.Header().Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("Content-Security-Policy %q", csp)
			}
			if w.Header().Get("X-Content-Type-Options") != "nosniff" {
				t.Errorf("no nosniff")
			}
		})
	}
}

func TestConfigJSON(t *testing.T) {
	h := Handler(Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/assets/config.json", nil))
	var c map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		t.Fatal(err)
	}
	if _, ok := c["verifier_key"]; !ok {
		t.Errorf("config lacks verifier_key: %s", w.Body)
	}
}

// TestAssetsSelfContained: the pages load nothing from elsewhere (no CDN),
// and obey their own Content-Security-Policy (no inline script, no inline
// style, no inline event handlers).
func TestAssetsSelfContained(t *testing.T) {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	external := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`)
	inlineHandler := regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	inlineScript := regexp.MustCompile(`(?is)<script(?:\s[^>]*)?>\s*[^<\s]`)
	n := 0
	err = fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		n++
		b, err := fs.ReadFile(sub, path)
		if err != nil {
			return err
		}
		text := strings.ReplaceAll(string(b), "http://www.w3.org/2000/svg", "")
		if m := external.FindString(text); m != "" {
			t.Errorf("%s refers to another origin: %q", path, m)
		}
		if strings.HasSuffix(path, ".html") {
			if inlineHandler.MatchString(text) {
				t.Errorf("%s has an inline event handler", path)
			}
			if strings.Contains(text, " style=") || strings.Contains(text, "<style") {
				t.Errorf("%s has inline style", path)
			}
			if inlineScript.MatchString(text) {
				t.Errorf("%s has an inline script", path)
			}
		}
		if strings.HasSuffix(path, ".js") && (strings.Contains(text, "innerHTML") || strings.Contains(text, "eval(")) {
			t.Errorf("%s uses innerHTML or eval", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 7 {
		t.Errorf("only %d embedded files", n)
	}
}
