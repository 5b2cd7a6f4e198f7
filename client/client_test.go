package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestErrors checks that each contract error answer becomes an *Error that
// matches its sentinel (and no other), with Retry-After and the audit index.
func TestErrors(t *testing.T) {
	cases := []struct {
		status int
		code   string
		header map[string]string
		want   error
	}{
		{400, "invalid_request", nil, ErrInvalidRequest},
		{401, "unauthenticated", nil, ErrUnauthenticated},
		{403, "forbidden", nil, ErrForbidden},
		{403, "purpose_required", map[string]string{"Custos-Audit-Index": "42"}, ErrPurposeRequired},
		{403, "purpose_invalid", nil, ErrPurposeInvalid},
		{404, "not_found", nil, ErrNotFound},
		{409, "conflict", nil, ErrConflict},
		{413, "too_large", nil, ErrTooLarge},
		{423, "principal_suspended", nil, ErrSuspended},
		{429, "quota_exceeded", map[string]string{"Retry-After": "120"}, ErrQuotaExceeded},
		{429, "rate_limited", map[string]string{"Retry-After": "60"}, ErrRateLimited},
		{503, "unavailable", nil, ErrUnavailable},
		{503, "pending", map[string]string{"Retry-After": "1"}, ErrPending},
	}
	all := []error{ErrInvalidRequest, ErrUnauthenticated, ErrForbidden, ErrPurposeRequired, ErrPurposeInvalid, ErrNotFound,
		ErrConflict, ErrTooLarge, ErrSuspended, ErrQuotaExceeded, ErrRateLimited, ErrUnavailable, ErrPending}
	for _, tc := range cases {
		t.Run(tc.code, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				w.Write([]byte(`{"error":{"code":"` + tc.code + `","message":"m"}}`))
			}))
			defer srv.Close()
			c, err := New(srv.URL, "tok", nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Customer(context.Background(), "c-1", Ticket("T-1"))
			for _, s := range all {
				if errors.Is(err, s) != (s == tc.want) {
					t.Errorf("errors.Is(%v, %v) = %v", err, s, !(s == tc.want))
				}
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.Message != "m" {
				t.Fatalf("error %#v", err)
			}
			if ra := tc.header["Retry-After"]; ra != "" && e.RetryAfter.String() != ra+"s" && e.RetryAfter != time.Duration(atoi(ra))*time.Second {
				t.Errorf("RetryAfter %v, want %ss", e.RetryAfter, ra)
			}
			if tc.header["Custos-Audit-Index"] == "42" && (!e.Audited || e.AuditIndex != 42) {
				t.Errorf("audit index %d %v", e.AuditIndex, e.Audited)
			}
		})
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// TestRequestShape checks what goes on the wire: token, purpose header,
// path escaping, and the search body with exactly one key.
func TestRequestShape(t *testing.T) {
	var got *http.Request
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b := new(strings.Builder)
		buf := make([]byte, 512)
		n, _ := r.Body.Read(buf)
		b.Write(buf[:n])
		body = b.String()
		w.Header().Set("Custos-Audit-Index", "7")
		w.Write([]byte(`{"id":"c-1","phone":"•••8000","fields":{"phone":"masked"}}`))
	}))
	defer srv.Close()
	c, _ := New(srv.URL+"/", "secret-token", nil)
	v, err := c.Search(context.Background(), Phone("+8613800138000"), Consent("K-1"))
	if err != nil {
		t.Fatal(err)
	}
	if got.URL.Path != "/v1/customers/search" || got.Method != "POST" {
		t.Errorf("request %s %s", got.Method, got.URL.Path)
	}
	if got.Header.Get("Authorization") != "Bearer secret-token" || got.Header.Get("Custos-Purpose") != "consent:K-1" {
		t.Errorf("headers %v", got.Header)
	}
	if body != `{"phone":"+8613800138000"}` {
		t.Errorf("body %s", body)
	}
	if v.ID != "c-1" || v.Fields["phone"] != "masked" || v.AuditIndex != 7 {
		t.Errorf("decoded %+v", v)
	}
	if _, err := c.Customer(context.Background(), "a/b", Purpose{}); err != nil {
		t.Fatal(err)
	}
	if got.URL.RawPath != "/v1/customers/a%2Fb" || got.Header.Get("Custos-Purpose") != "" {
		t.Errorf("path %q purpose %q", got.URL.RawPath, got.Header.Get("Custos-Purpose"))
	}
}

func TestPurposeString(t *testing.T) {
	for p, want := range map[Purpose]string{Ticket("T-1"): "ticket:T-1", Consent("K-2"): "consent:K-2",
		BreakGlass("bg-3"): "breakglass:bg-3", Legal("case 42"): "legal:case 42", {}: ""} {
		if p.String() != want {
			t.Errorf("%v: %q, want %q", p, p.String(), want)
		}
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8470", "ftp://x", "http://"} {
		if _, err := New(u, "", nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// FuzzDecodeError: any answer body decodes to an *Error without panicking.
func FuzzDecodeError(f *testing.F) {
	f.Add(403, []byte(`{"error":{"code":"purpose_required","message":"x"}}`), "5")
	f.Add(500, []byte(`<html>`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retry string) {
		h := http.Header{}
		h.Set("Retry-After", retry)
		err := decodeError(&http.Response{StatusCode: status, Header: h}, body)
		var e *Error
		if !errors.As(err, &e) || e.Code == "" || e.RetryAfter < 0 {
			t.Fatalf("%#v", err)
		}
	})
}

// TestInProcess serves calls with a handler directly.
func TestInProcess(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/me" || r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"unauthenticated","message":"no"}}`))
			return
		}
		w.Write([]byte(`{"id":"emp-1","role":"store_clerk","status":"active","quota":{"customers_per_hour":40}}`))
	})
	c, _ := New("http://custos.internal", "tok", &Options{HTTPClient: &http.Client{Transport: InProcess(h)}})
	me, err := c.Me(context.Background())
	if err != nil || me.ID != "emp-1" || me.Quota.PerHour != 40 {
		t.Fatalf("%+v %v", me, err)
	}
	if _, err := c.WithToken("bad").Me(context.Background()); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("%v", err)
	}
}
