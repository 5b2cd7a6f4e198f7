// Hostile HTTP input against the real binary (issue 10): oversized bodies,
// deep JSON, bad UTF-8, path tricks, huge headers, slow clients, unknown
// methods and paths. The server must answer each with a 4xx (JSON wherever
// a handler answers), never a 500, and still be alive and healthy at the
// end.
package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// rawExchange writes req as is on a fresh connection and reads one
// response. It is for requests that net/http's client refuses to send.
func rawExchange(t *testing.T, addr, req string) (int, http.Header, []byte) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read response to %q: %v", firstLine(req), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// noRedirect sends req without following redirects, so that what a path
// trick gets is seen as is.
func noRedirect(t *testing.T, method, url, token string, body io.Reader) (int, http.Header, []byte) {
	t.Helper()
	hc := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// wantJSONError checks the contract's error body.
func wantJSONError(t *testing.T, what string, status int, h http.Header, body []byte, wantStatus int, wantCode string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("%s: status %d, want %d: %.200s", what, status, wantStatus, body)
		return
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", what, ct)
	}
	var e struct {
		Error struct{ Code, Message string }
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Code == "" {
		t.Errorf("%s: body is not the contract's JSON error: %.200s", what, body)
	}
	if wantCode != "" && e.Error.Code != wantCode {
		t.Errorf("%s: error code %q, want %q", what, e.Error.Code, wantCode)
	}
}

// checkAlive asserts the server process is running, healthy, and logged
// no panic.
func checkAlive(t *testing.T, s *et.Server) {
	t.Helper()
	if done, code := s.Exited(); done {
		t.Fatalf("server exited (code %d):\n%s", code, s.Stderr())
	}
	if r := s.Do(t, et.Req{Path: "/healthz"}); r.Status != 200 {
		t.Fatalf("/healthz: %d", r.Status)
	}
	if strings.Contains(s.Stderr(), "panic") {
		t.Fatalf("server logged a panic:\n%s", s.Stderr())
	}
}

func TestHostileBodies(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")
	deep := `{"phone":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	cases := []struct {
		name       string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"body over the 1 MiB limit", append(append([]byte(`{"phone":"`), bytes.Repeat([]byte("1"), 2<<20)...), `"}`...), 413, "too_large"},
		{"deeply nested JSON", []byte(deep), 400, "invalid_request"},
		{"bad UTF-8 in a string", []byte("{\"phone\":\"\xff\xfe138\"}"), 400, "invalid_request"},
		{"lone surrogate escape", []byte(`{"account":"\ud800@example.com"}`), 403, "purpose_invalid"},
		{"NUL in a value", []byte(`{"account":"liwei@example.com\u0000"}`), 403, "purpose_invalid"},
		{"not an object", []byte(`["phone"]`), 400, "invalid_request"},
		{"two objects", []byte(`{"phone":"+8613800138000"}{"phone":"+8613800138000"}`), 400, "invalid_request"},
		{"unknown field", []byte(`{"phone":"+8613800138000","all":true}`), 400, "invalid_request"},
		{"truncated", []byte(`{"phone":"+86138`), 400, "invalid_request"},
		{"empty", nil, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, et.Req{Method: "POST", Path: "/v1/customers/search", Token: et.TokClerk1, Purpose: "ticket:" + t1, Body: tc.body})
			wantJSONError(t, tc.name, r.Status, r.Header, r.Body, tc.wantStatus, tc.wantCode)
		})
	}
	checkAlive(t, s)
}

func TestHostilePathsAndMethods(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	t1 := openTicket(t, s, et.TokClerk1, "c-0001")

	// Nothing may reach a customer's record by a detour: every answer
	// below is an error, and none carries the record.
	tricks := []string{
		"/v1/customers/..%2f..%2fv1%2fcustomers%2fc-0001",
		"/v1/customers/..%2fc-0001",
		"/v1/customers/%2e%2e/c-0001",
		"/v1/customers/c-0001%00",
		"/v1/customers/c-0001%2f",
		"/v1/customers/c-0001%20",
		"/v1/customers/%ff%fe",
		"/v1/customers/" + strings.Repeat("a", 4000),
		"//v1/customers/c-0001",
		"/v1//customers/c-0001",
		"/v1/./customers/c-0001",
		"/v1/audit/entries/-1",
		"/v1/audit/entries/99999999999999999999999",
		"/v1/audit/entries/0x10",
	}
	for _, p := range tricks {
		for _, tok := range []string{"", et.TokClerk2} {
			status, h, body := noRedirect(t, "GET", s.URL+p, tok, nil)
			if status >= 500 || status < 300 {
				t.Errorf("GET %s (token %v): status %d: %.200s", p, tok != "", status, body)
			}
			if bytes.Contains(body, []byte("Li Wei")) {
				t.Errorf("GET %s: the record leaked: %s", p, body)
			}
			if status >= 400 {
				wantJSONError(t, "GET "+p, status, h, body, status, "")
			}
			if status >= 300 && status < 400 {
				// A redirect to the cleaned path is fine: it still needs
				// the token and the purpose there.
				if loc := h.Get("Location"); !strings.HasPrefix(loc, "/v1/") && !strings.HasPrefix(loc, "/") {
					t.Errorf("GET %s: redirect to %q", p, loc)
				}
			}
		}
	}
	// Even with a valid purpose, the encoded detours do not read c-0001.
	for _, p := range tricks[:7] {
		r := s.Do(t, et.Req{Path: p, Token: et.TokClerk1, Purpose: "ticket:" + t1})
		if r.Status == 200 || r.Status >= 500 {
			t.Errorf("GET %s with a valid ticket: %d %.200s", p, r.Status, r.Body)
		}
	}

	// Raw request lines that net/http's client would not send.
	raws := []struct{ name, req string }{
		{"bad UTF-8 in the path", "GET /v1/customers/\xff\xfe HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + et.TokClerk1 + "\r\nConnection: close\r\n\r\n"},
		{"NUL in the path", "GET /v1/customers/c-0001\x00 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"bad UTF-8 in the purpose", "GET /v1/customers/c-0001 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + et.TokClerk1 + "\r\nCustos-Purpose: ticket:\xff\xfe\r\nConnection: close\r\n\r\n"},
		{"bad UTF-8 in the token", "GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\xfd-0123456789abcdef\r\nConnection: close\r\n\r\n"},
		{"absolute-form target", "GET http://evil.example/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
		{"asterisk target", "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"},
	}
	for _, rc := range raws {
		status, _, body := rawExchange(t, s.Addr, rc.req)
		if status >= 500 || status == 200 && bytes.Contains(body, []byte("Li Wei")) {
			t.Errorf("%s: %d %.200s", rc.name, status, body)
		}
	}

	// Unknown methods get 405 with the JSON error; unknown paths 404.
	for _, m := range []string{"DELETE", "PATCH", "PROPFIND"} { // PUT is the CRM's write
		status, h, body := noRedirect(t, m, s.URL+"/v1/customers/c-0001", et.TokClerk1, nil)
		wantJSONError(t, m+" /v1/customers/c-0001", status, h, body, 405, "method_not_allowed")
		if allow := h.Get("Allow"); !strings.Contains(allow, "GET") {
			t.Errorf("%s /v1/customers/c-0001: Allow %q, want GET in it", m, allow)
		}
	}
	status, h, body := noRedirect(t, "POST", s.URL+"/healthz", "", nil)
	wantJSONError(t, "POST /healthz", status, h, body, 405, "")
	for _, p := range []string{"/v1/nope", "/v1/customers/c-0001/export", "/v1/", "/v1/audit"} {
		status, h, body := noRedirect(t, "GET", s.URL+p, et.TokClerk1, nil)
		wantJSONError(t, "GET "+p, status, h, body, 404, "not_found")
	}
	// Outside the API, unknown paths are the dashboard's 404 page.
	if status, _, _ := noRedirect(t, "GET", s.URL+"/v2/customers/c-0001", "", nil); status != 404 {
		t.Errorf("GET /v2/customers/c-0001: %d, want 404", status)
	}
	checkAlive(t, s)
}

func TestHostileHeadersAndSlowClients(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)

	// Headers over 64 KiB: 431 from the server itself.
	big := strings.Repeat("x", 80<<10)
	status, _, _ := rawExchange(t, s.Addr, "GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Big: "+big+"\r\nConnection: close\r\n\r\n")
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("80 KiB header: status %d, want 431", status)
	}
	// Many small headers adding up past the limit.
	var many strings.Builder
	for i := 0; i < 3000; i++ {
		fmt.Fprintf(&many, "X-H%d: %s\r\n", i, strings.Repeat("y", 30))
	}
	status, _, _ = rawExchange(t, s.Addr, "GET /v1/me HTTP/1.1\r\nHost: x\r\n"+many.String()+"Connection: close\r\n\r\n")
	if status != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("3000 headers: status %d, want 431", status)
	}
	// A huge bearer token within the header limit is refused, not hashed
	// as is.
	r := s.Do(t, et.Req{Path: "/v1/me", Token: strings.Repeat("t", 60<<10)})
	wantJSONError(t, "60 KiB token", r.Status, r.Header, r.Body, 401, "unauthenticated")

	// Slowloris: headers a byte at a time. The server's ReadHeaderTimeout
	// (5 s) cuts the connection; it never waits for ever.
	c, err := net.Dial("tcp", s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	req := "GET /v1/me HTTP/1.1\r\nHost: x\r\nX-Slow: " + strings.Repeat("z", 1000)
	cut := false
	for i := 0; i < len(req) && time.Since(start) < 15*time.Second; i++ {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := c.Write([]byte{req[i]}); err != nil {
			cut = true
			break
		}
		// The server closes the connection (possibly after a 408): a
		// read then returns at once.
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		var b [512]byte
		if n, err := c.Read(b[:]); n > 0 || err != nil && !isTimeout(err) {
			cut = true
			break
		}
	}
	el := time.Since(start)
	if !cut {
		t.Fatalf("slow client still connected after %v", el)
	}
	if el < 4*time.Second || el > 10*time.Second {
		t.Errorf("slow client cut after %v, want about the 5 s ReadHeaderTimeout", el)
	}
	// A slow body is cut too, by ReadTimeout; not tested here (30 s).
	checkAlive(t, s)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
