package httpapi

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestSameOrigin(t *testing.T) {
	cases := []struct {
		name   string
		header map[string]string
		want   bool
	}{
		{"no browser headers", nil, true},
		{"fetch metadata same-origin", map[string]string{"Sec-Fetch-Site": "same-origin"}, true},
		{"fetch metadata cross-site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://custos.test"}, false},
		{"fetch metadata same-site", map[string]string{"Sec-Fetch-Site": "same-site"}, false},
		{"origin matches host", map[string]string{"Origin": "http://custos.test"}, true},
		{"origin of another host", map[string]string{"Origin": "http://evil.example"}, false},
		{"origin with another port", map[string]string{"Origin": "http://custos.test:81"}, false},
		{"null origin", map[string]string{"Origin": "null"}, false},
		{"referer matches", map[string]string{"Referer": "http://custos.test/#alerts"}, true},
		{"referer of another host", map[string]string{"Referer": "https://evil.example/custos.test"}, false},
		{"unparsable origin", map[string]string{"Origin": "http://%zz"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://custos.test/session", nil)
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			if got := sameOrigin(r); got != tc.want {
				t.Errorf("sameOrigin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCSRFGuard(t *testing.T) {
	reached := false
	h := CSRFGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		w.WriteHeader(http.StatusNoContent)
	}))
	cookie := &http.Cookie{Name: SessionCookie, Value: "tok"}
	cases := []struct {
		name    string
		method  string
		path    string
		cookie  bool
		headers map[string]string
		want    int
	}{
		{"cookie POST without header refused", "POST", "/v1/principals/emp-1/suspend", true, nil, 403},
		{"cookie POST from another site refused", "POST", "/v1/principals/emp-1/suspend", true,
			map[string]string{"Origin": "http://evil.example", CSRFHeader: "1"}, 403},
		{"cookie POST cross-site by fetch metadata refused", "POST", "/v1/trace", true,
			map[string]string{"Sec-Fetch-Site": "cross-site", CSRFHeader: "1"}, 403},
		{"cookie POST with header from the page passes", "POST", "/v1/principals/emp-1/suspend", true,
			map[string]string{"Origin": "http://custos.test", CSRFHeader: "1"}, 204},
		{"cookie DELETE without header refused", "DELETE", "/scim/v2/Users/x", true, nil, 403},
		{"cookie GET passes", "GET", "/v1/alerts", true, nil, 204},
		{"bearer POST passes without header", "POST", "/v1/principals/emp-1/suspend", true,
			map[string]string{"Authorization": "Bearer tok"}, 204},
		{"no credential passes (the handler refuses it)", "POST", "/v1/subjects/login", false, nil, 204},
		{"sign-in itself is not guarded here", "POST", "/session", true, nil, 204},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reached = false
			r := httptest.NewRequest(tc.method, "http://custos.test"+tc.path, nil)
			if tc.cookie {
				r.AddCookie(cookie)
			}
			for k, v := range tc.headers {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if reached != (tc.want == 204) {
				t.Errorf("handler reached = %v", reached)
			}
			if tc.want == 403 && w.Header().Get("Content-Type") != "application/json" {
				t.Errorf("refusal is not JSON: %q", w.Header().Get("Content-Type"))
			}
		})
	}
}

func TestCheckpointSize(t *testing.T) {
	cases := []struct {
		note string
		want uint64
	}{
		{"custos.local/audit\n42\nAAAA\n\n— custos.local/audit sig\n", 42},
		{"origin\n0\nAAAA\n", 0},
		{"origin\nnot-a-number\n", 0},
		{"", 0},
		{"only-origin", 0},
	}
	for _, tc := range cases {
		if got := checkpointSize([]byte(tc.note)); got != tc.want {
			t.Errorf("checkpointSize(%q) = %d, want %d", tc.note, got, tc.want)
		}
	}
}

func FuzzCheckpointSize(f *testing.F) {
	f.Add([]byte("custos.local/audit\n42\nAAAA\n\n— custos.local/audit sig\n"))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, note []byte) {
		checkpointSize(note) // must not panic
	})
}

func FuzzSameOrigin(f *testing.F) {
	f.Add("http://custos.test", "", "")
	f.Add("null", "http://custos.test/x", "same-origin")
	f.Fuzz(func(t *testing.T, origin, referer, site string) {
		r := httptest.NewRequest(http.MethodPost, "http://custos.test/v1/alerts", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Referer", referer)
		r.Header.Set("Sec-Fetch-Site", site)
		ok := sameOrigin(r)
		if ok && (site == "cross-site" || site == "same-site") {
			t.Errorf("accepted Sec-Fetch-Site %q", site)
		}
	})
}
