package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

type healthFunc func(context.Context) error

func (f healthFunc) Health(ctx context.Context) error { return f(ctx) }

// TestHealthz checks /healthz, /readyz and /livez against the store's
// state: 200 while it takes audit appends; 503 with a reason, the
// contract's error object and a Retry-After while it does not (and /livez
// 200 all the same).
func TestHealthz(t *testing.T) {
	var down error
	s := &Server{Gateway: &gateway.Gateway{}, Health: healthFunc(func(context.Context) error { return down })}
	h := s.Handler()
	get := func(path string) (*httptest.ResponseRecorder, map[string]any) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s: body not JSON: %s", path, w.Body)
		}
		return w, body
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez"} {
		if w, body := get(p); w.Code != 200 || body["status"] != "ok" {
			t.Errorf("%s healthy: %d %v", p, w.Code, body)
		}
	}
	down = fmt.Errorf("audit log cannot append: %w", store.Unavailable(errors.New("database or disk is full")))
	for _, p := range []string{"/healthz", "/readyz"} {
		w, body := get(p)
		if w.Code != 503 || body["status"] != "unavailable" || body["reason"] == "" || w.Header().Get("Retry-After") == "" {
			t.Errorf("%s down: %d %v (Retry-After %q)", p, w.Code, body, w.Header().Get("Retry-After"))
		}
		if e, _ := body["error"].(map[string]any); e["code"] != "unavailable" {
			t.Errorf("%s down: error %v, want code unavailable", p, body["error"])
		}
	}
	if w, _ := get("/livez"); w.Code != 200 {
		t.Errorf("/livez while the store is down: %d, want 200", w.Code)
	}
	down = nil
	if w, _ := get("/healthz"); w.Code != 200 {
		t.Errorf("/healthz after recovery: %d", w.Code)
	}
}

// TestFailUnavailable checks that a store that cannot be reached or
// written is answered 503 "unavailable" with Retry-After, however deeply
// its error is wrapped, and that only other errors are 500s.
func TestFailUnavailable(t *testing.T) {
	s := &Server{Gateway: &gateway.Gateway{}}
	s.Init()
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"store unavailable", fmt.Errorf("read customer: %w", store.Unavailable(errors.New("connection refused"))), 503, "unavailable"},
		{"gateway unavailable", gateway.Unavailable("audit log unavailable"), 503, "unavailable"},
		{"bug", errors.New("nil map"), 500, "internal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			s.fail(w, httptest.NewRequest("GET", "/v1/customers/c-1", nil), tc.err)
			var body errorBody
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != tc.status || body.Error.Code != tc.code {
				t.Fatalf("status %d code %q, want %d %q", w.Code, body.Error.Code, tc.status, tc.code)
			}
			if tc.status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
		})
	}
}
