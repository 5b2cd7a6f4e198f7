// Package e2etest runs the real custos binary for end-to-end tests: it
// builds it once per test process, starts "custos serve" on a free loopback
// port with its own data directory, and offers a small HTTP client.
package e2etest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/custos once and returns the binary's path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "custos-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "custos")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/custos")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Run runs the binary with args and returns stdout, stderr and exit code.
func Run(t testing.TB, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(Binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run custos %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// FreeAddr returns a loopback address with a port that was free.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Server is a running "custos serve".
type Server struct {
	URL    string
	Data   string
	Addr   string
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   chan struct{}
}

// Start runs "custos serve --data data --addr <free> extra..." and waits
// until /healthz answers. The server is stopped (SIGTERM) at cleanup.
func Start(t testing.TB, data string, extra ...string) *Server {
	t.Helper()
	addr := FreeAddr(t)
	args := append([]string{"serve", "--data", data, "--addr", addr}, extra...)
	cmd := exec.Command(Binary(t), args...)
	cmd.Env = append(os.Environ(), "CUSTOS_METRICS_TOKEN="+MetricsToken)
	var errb bytes.Buffer
	cmd.Stderr = &syncWriter{w: &errb}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{URL: "http://" + addr, Data: data, Addr: addr, cmd: cmd, stderr: &errb, done: make(chan struct{})}
	go func() { cmd.Wait(); close(s.done) }()
	t.Cleanup(func() { s.Stop(t) })
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("custos serve exited early:\n%s", s.Stderr())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("custos serve not ready after 30s:\n%s", s.Stderr())
	return nil
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// Stderr returns what the server has written to stderr so far.
func (s *Server) Stderr() string {
	if w, ok := s.cmd.Stderr.(*syncWriter); ok {
		w.mu.Lock()
		defer w.mu.Unlock()
	}
	return s.stderr.String()
}

// Stop sends SIGTERM and waits for exit (SIGKILL after 20 s).
func (s *Server) Stop(t testing.TB) {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("custos serve did not stop on SIGTERM")
	}
}

// Kill sends SIGKILL and waits.
func (s *Server) Kill() {
	s.cmd.Process.Kill()
	<-s.done
}

// Exited reports whether the process has exited, and its code.
func (s *Server) Exited() (bool, int) {
	select {
	case <-s.done:
		return true, s.cmd.ProcessState.ExitCode()
	default:
		return false, 0
	}
}

// Response is a decoded HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a map.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("body is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// ErrorCode returns error.code of a JSON error body, or "".
func (r Response) ErrorCode() string {
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	json.Unmarshal(r.Body, &e)
	return e.Error.Code
}

// Req describes one request.
type Req struct {
	Method  string
	Path    string
	Token   string
	Purpose string
	Body    any // marshalled as JSON unless it is a string or []byte
	Header  map[string]string
}

// Do sends req to the server.
func (s *Server) Do(t testing.TB, req Req) Response {
	t.Helper()
	return Do(t, s.URL, req)
}

// Do sends req to base.
func Do(t testing.TB, base string, req Req) Response {
	t.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	if req.Method == "" {
		req.Method = http.MethodGet
		if body != nil {
			req.Method = http.MethodPost
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, req.Method, base+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if req.Purpose != "" {
		hr.Header.Set("Custos-Purpose", req.Purpose)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// WriteFile writes content to dir/name and returns the path.
func WriteFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Fixture is a small world for tests: customers at two stores, staff of
// every role, tokens known.
type Fixture struct {
	Dir, Data string
}

// Tokens of the fixture's principals.
const (
	TokClerk1     = "tok-clerk1-0123456789abcdef" // store_clerk at store-1 (GD), dist-1
	TokClerk2     = "tok-clerk2-0123456789abcdef" // store_clerk at store-2 (SH), dist-2
	TokManager1   = "tok-manager1-0123456789abcd" // store_manager at store-1, dist-1
	TokAgent      = "tok-agent-0123456789abcdefg" // callcenter_agent, cc-1
	TokSecurity   = "tok-security-0123456789abcd" // security_analyst, company
	TokPrivacy    = "tok-privacy-0123456789abcde" // privacy_officer, company
	TokAuditor    = "tok-auditor-0123456789abcde" // auditor, company
	TokIntegrator = "tok-integration-0123456789a" // integration (CRM)
	TokSecurity2  = "tok-security2-0123456789ab"  // a second security_analyst
	TokProvision  = "tok-provisioner-0123456789"  // provisioner (SCIM)
	// MetricsToken is the operator's token for /metrics on servers Start runs.
	MetricsToken = "tok-metrics-operator-0123456"
)

// CustomersCSV is the fixture's customers.
const CustomersCSV = `id,name,phone,account,region,site
c-0001,Li Wei,+8613800138000,liwei@example.com,GD,store-1
c-0002,Zhang Min,+8613900139000,zhangmin@example.net,SH,store-2
c-0003,Wang Fang,+8613700137000,wangfang@example.org,GD,store-1
`

// PrincipalsCSV is the fixture's principals.
const PrincipalsCSV = `id,name,org,org_kind,role,site,region,token
emp-1,Clerk One,dist-1,distributor,store_clerk,store-1,GD,` + TokClerk1 + `
emp-2,Clerk Two,dist-2,retailer,store_clerk,store-2,SH,` + TokClerk2 + `
mgr-1,Manager One,dist-1,distributor,store_manager,store-1,GD,` + TokManager1 + `
agent-1,Agent One,cc-1,callcenter,callcenter_agent,cc-site-1,GD,` + TokAgent + `
sec-1,Analyst,custos-co,company,security_analyst,,,` + TokSecurity + `
priv-1,Privacy Officer,custos-co,company,privacy_officer,,,` + TokPrivacy + `
aud-1,Auditor,custos-co,company,auditor,,,` + TokAuditor + `
crm-1,CRM,custos-co,company,integration,,,` + TokIntegrator + `
sec-2,Second Analyst,custos-co,company,security_analyst,,,` + TokSecurity2 + `
prov-1,Identity Provider,custos-co,company,provisioner,,,` + TokProvision + `
`

// NewFixture imports the fixture into a fresh data dir.
func NewFixture(t testing.TB) Fixture {
	t.Helper()
	dir := t.TempDir()
	f := Fixture{Dir: dir, Data: filepath.Join(dir, "data")}
	c := WriteFile(t, dir, "customers.csv", CustomersCSV)
	p := WriteFile(t, dir, "principals.csv", PrincipalsCSV)
	out, errOut, code := Run(t, "", "import", "--data", f.Data, "--customers", c, "--principals", p)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s%s", code, out, errOut)
	}
	return f
}
