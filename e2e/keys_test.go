// Keys, backups and authentication hardening (issue 10), against the real
// binary: master key rotation, backup of a running server and restore into
// a new directory that verifies and serves, the rate limit and audit of
// failed sign-ins, and TLS serving.
package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	et "github.com/custos-dev/custos/internal/e2etest"
)

// tarNames lists the entries of a .tar.gz file.
func tarNames(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

// wantEntries checks that a backup's entries, names, include each of want.
func wantEntries(t *testing.T, names []string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("backup lacks %s: %v", w, names)
		}
	}
}

// TestBackupRestore backs up a running server's data dir while clients
// read, restores it into a new directory, and checks that "custos audit
// verify" passes there, that the backup holds no master key unless asked,
// and that a server started on the copy (with the master key put back)
// serves the records and the old audit entries with their proofs.
func TestBackupRestore(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	var lastIdx uint64
	for i := 0; i < 20; i++ {
		r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
		if r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		lastIdx = auditIndex(t, r)
	}
	// Back up while the server runs and more reads arrive.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 50; i++ {
			s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
		}
	}()
	backup := filepath.Join(f.Dir, "backup.tar.gz")
	out, errOut, code := et.Run(t, "", "backup", "--data", f.Data, "--out", backup)
	<-done
	if code != 0 {
		t.Fatalf("backup: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "master key NOT included") {
		t.Errorf("backup does not say the master key is left out: %s", out)
	}
	names := tarNames(t, backup)
	if slices.Contains(names, "master.key") {
		t.Fatalf("backup holds master.key without --include-master-key: %v", names)
	}
	wantEntries(t, names, "custos.db", "log-signing.key", "custos-backup.json")
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("backup file mode: %v %v", st.Mode(), err)
	}
	// A second backup to the same file is refused, the file untouched.
	if _, _, code := et.Run(t, "", "backup", "--data", f.Data, "--out", backup); code != 2 {
		t.Errorf("backup over an existing file: exit %d, want 2", code)
	}

	// Restore refuses a directory that is not empty.
	busy := t.TempDir()
	et.WriteFile(t, busy, "something", "x")
	if _, errOut, code := et.Run(t, "", "restore", "--in", backup, "--data", busy); code != 2 || !strings.Contains(errOut, "not empty") {
		t.Errorf("restore into a non-empty dir: exit %d %s", code, errOut)
	}
	// A file that is not a backup is refused and leaves nothing.
	junk := et.WriteFile(t, f.Dir, "junk.tar.gz", "not a backup")
	fresh := filepath.Join(t.TempDir(), "junk-restore")
	if _, _, code := et.Run(t, "", "restore", "--in", junk, "--data", fresh); code != 2 {
		t.Errorf("restore of junk: exit %d", code)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Errorf("a failed restore left %s", fresh)
	}

	newData := filepath.Join(t.TempDir(), "restored")
	out, errOut, code = et.Run(t, "", "restore", "--in", backup, "--data", newData)
	if code != 0 {
		t.Fatalf("restore: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "no master key") {
		t.Errorf("restore does not say the master key is missing: %s", out)
	}
	out, errOut, code = et.Run(t, "", "audit", "verify", "--data", newData)
	if code != 0 {
		t.Fatalf("audit verify on the restored copy: exit %d\n%s%s", code, out, errOut)
	}
	// The restored log has the same key: the same verifier key is printed.
	k1, _, _ := et.Run(t, "", "audit", "key", "--data", f.Data)
	k2, _, _ := et.Run(t, "", "audit", "key", "--data", newData)
	if k1 == "" || k1 != k2 {
		t.Errorf("verifier key changed by backup/restore: %q vs %q", k1, k2)
	}

	// Put the master key back (kept apart from the backup) and serve.
	mk, err := os.ReadFile(filepath.Join(f.Data, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	et.WriteFile(t, newData, "master.key", string(mk))
	s2 := et.Start(t, newData)
	r := s2.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != "Li Wei" {
		t.Fatalf("read on the restored server: %d %s", r.Status, r.Body)
	}
	r = s2.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries/%d", lastIdx), Token: et.TokAuditor})
	if r.Status != 200 {
		t.Fatalf("old audit entry %d on the restored server: %d %s", lastIdx, r.Status, r.Body)
	}

	// With --include-master-key the key is in, and the output says so.
	backup2 := filepath.Join(f.Dir, "backup-with-key.tar.gz")
	out, errOut, code = et.Run(t, "", "backup", "--data", f.Data, "--out", backup2, "--include-master-key")
	if code != 0 || !strings.Contains(out, "master key INCLUDED") {
		t.Fatalf("backup --include-master-key: exit %d %s%s", code, out, errOut)
	}
	wantEntries(t, tarNames(t, backup2), "master.key") // --include-master-key
	noSecretsIn(t, f.Data, s.Stderr(), s2.Stderr(), out, errOut)
}

// noSecretsIn fails if any key of the data dir (the master key, the log
// signing key's secret part) appears in any of outputs.
func noSecretsIn(t *testing.T, data string, outputs ...string) {
	t.Helper()
	var secrets []string
	if b, err := os.ReadFile(filepath.Join(data, "master.key")); err == nil {
		secrets = append(secrets, strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile(filepath.Join(data, "log-signing.key")); err == nil {
		if parts := strings.SplitN(strings.TrimSpace(string(b)), "+", 5); len(parts) == 5 {
			secrets = append(secrets, parts[4])
		}
	}
	if len(secrets) == 0 {
		t.Fatalf("no keys in %s", data)
	}
	for _, out := range outputs {
		for _, sec := range secrets {
			if strings.Contains(out, sec) {
				t.Fatalf("a key of %s appears in output", data)
			}
		}
	}
}

// runEnv runs the binary with extra environment variables.
func runEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(et.Binary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

// TestRotateMasterKey: rotation writes a new 0600 master.key, the store's
// records still decrypt under it, and the old key no longer opens the store.
func TestRotateMasterKey(t *testing.T) {
	f := et.NewFixture(t)
	keyPath := filepath.Join(f.Data, "master.key")
	old, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := et.Run(t, "", "keys", "rotate-master", "--data", f.Data)
	if code != 0 {
		t.Fatalf("rotate-master: exit %d\n%s%s", code, out, errOut)
	}
	st, err := os.Stat(keyPath)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("master.key after rotation: %v %v", st.Mode(), err)
	}
	now, _ := os.ReadFile(keyPath)
	if bytes.Equal(now, old) {
		t.Fatal("master.key unchanged")
	}
	if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(now))); err != nil || len(raw) != 32 {
		t.Fatalf("new master.key is not base64 of 32 bytes")
	}
	if strings.Contains(out+errOut, strings.TrimSpace(string(now))) || strings.Contains(out+errOut, strings.TrimSpace(string(old))) {
		t.Fatal("rotate-master printed a key")
	}
	if _, err := os.Stat(keyPath + ".new"); err == nil {
		t.Error("master.key.new left behind")
	}
	// The old key no longer opens the store.
	c := et.WriteFile(t, f.Dir, "more.csv", "id,name,phone,account,region,site\nc-0100,New One,+8613600136000,new@example.com,GD,store-1\n")
	_, errOut, code = runEnv(t, []string{"CUSTOS_MASTER_KEY=" + strings.TrimSpace(string(old))}, "import", "--data", f.Data, "--customers", c)
	if code == 0 || !strings.Contains(errOut, "master key") {
		t.Errorf("import with the old master key: exit %d %s", code, errOut)
	}
	// Under the new key, old records decrypt and tokens still work.
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	if r.Status != 200 || r.JSON(t)["name"] != "Li Wei" {
		t.Fatalf("read after rotation: %d %s", r.Status, r.Body)
	}
	// Rotating beside the running server works; the server keeps serving.
	if out, errOut, code := et.Run(t, "", "keys", "rotate-master", "--data", f.Data); code != 0 {
		t.Fatalf("second rotation beside a running server: exit %d %s%s", code, out, errOut)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Fatalf("read after a rotation beside the server: %d", r.Status)
	}
	// With the key in the environment, rotation refuses (it cannot
	// rewrite the environment) and changes nothing.
	before, _ := os.ReadFile(keyPath)
	_, errOut, code = runEnv(t, []string{"CUSTOS_MASTER_KEY=" + strings.TrimSpace(string(before))}, "keys", "rotate-master", "--data", f.Data)
	after, _ := os.ReadFile(keyPath)
	if code != 2 || !bytes.Equal(before, after) {
		t.Errorf("rotate-master with CUSTOS_MASTER_KEY: exit %d %s", code, errOut)
	}
}

// TestAuthFailuresRateLimitedAndAudited: 20 wrong tokens from one address
// in a minute are each refused (401) and audited; the 21st attempt gets
// 429 with Retry-After, as does any further attempt from that address, even
// with a valid token. No token appears in the audit log or the server log.
func TestAuthFailuresRateLimitedAndAudited(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	// A valid caller first: unaffected until the address is blocked.
	if r := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokClerk1}); r.Status != 200 {
		t.Fatalf("/v1/me: %d", r.Status)
	}
	wrong := func(i int) string { return fmt.Sprintf("guess-%02d-0123456789abcdefXYZ", i) }
	for i := 0; i < 20; i++ {
		r := s.Do(t, et.Req{Path: "/v1/me", Token: wrong(i)})
		if r.Status != 401 || r.ErrorCode() != "unauthenticated" {
			t.Fatalf("wrong token %d: %d %s", i+1, r.Status, r.Body)
		}
	}
	r := s.Do(t, et.Req{Path: "/v1/me", Token: wrong(20)})
	if r.Status != 429 || r.Header.Get("Retry-After") == "" {
		t.Fatalf("21st wrong token: %d (Retry-After %q) %s, want 429 with Retry-After", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.ErrorCode() == "" {
		t.Errorf("429 without the JSON error body: %s", r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/me", Token: et.TokClerk1}); r.Status != 429 {
		t.Errorf("valid token from a blocked address: %d, want 429 until the window passes", r.Status)
	}
	fails := auditEvents(t, f.Data, "auth.fail")
	if len(fails) != 20 {
		t.Errorf("%d auth.fail events in the audit log, want 20 (one per refused token)", len(fails))
	}
	for _, ev := range fails {
		if ev["decision"] != "deny" || ev["reason"] != "unauthenticated" || ev["source"] != "127.0.0.1" {
			t.Errorf("auth.fail event %v", ev)
			break
		}
	}
	s.Stop(t)
	var blob []byte
	for _, name := range []string{"custos.db", "custos.db-wal"} {
		b, _ := os.ReadFile(filepath.Join(f.Data, name))
		blob = append(blob, b...)
	}
	for i := 0; i <= 20; i++ {
		if bytes.Contains(blob, []byte(wrong(i))) || strings.Contains(s.Stderr(), wrong(i)) {
			t.Fatalf("wrong token %d stored or logged in the clear", i)
		}
	}
	if bytes.Contains(blob, []byte(et.TokClerk1)) || strings.Contains(s.Stderr(), et.TokClerk1) {
		t.Fatal("a valid token is stored or logged in the clear")
	}
}

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 and
// client certificates, written as PEM files.
type testPKI struct {
	caFile, certFile, keyFile string
	pool                      *x509.CertPool
	client, rogue             tls.Certificate
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	serial := int64(1)
	issue := func(tmpl *x509.Certificate, parent *x509.Certificate, pub any, signer *ecdsa.PrivateKey) *x509.Certificate {
		serial++
		tmpl.SerialNumber = big.NewInt(serial)
		tmpl.NotBefore = time.Now().Add(-time.Hour)
		tmpl.NotAfter = time.Now().Add(time.Hour)
		if parent == nil {
			parent = tmpl
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	pemOf := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	caKey := newKey()
	ca := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "custos test CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, caKey.Public(), caKey)
	srvKey := newKey()
	srv := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, srvKey.Public(), caKey)
	clientCert := func(parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string) tls.Certificate {
		k := newKey()
		c := issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			KeyUsage: x509.KeyUsageDigitalSignature}, parent, k.Public(), parentKey)
		return tls.Certificate{Certificate: [][]byte{c.Raw}, PrivateKey: k}
	}
	rogueKey := newKey()
	rogueCA := issue(&x509.Certificate{Subject: pkix.Name{CommonName: "rogue CA"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}, nil, rogueKey.Public(), rogueKey)
	p := testPKI{caFile: filepath.Join(dir, "ca.pem"), certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server-key.pem"),
		pool: x509.NewCertPool(), client: clientCert(ca, caKey, "crm-1"), rogue: clientCert(rogueCA, rogueKey, "crm-1")}
	p.pool.AddCert(ca)
	keyDER, err := x509.MarshalPKCS8PrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	for path, b := range map[string][]byte{p.caFile: pemOf("CERTIFICATE", ca.Raw), p.certFile: pemOf("CERTIFICATE", srv.Raw), p.keyFile: pemOf("PRIVATE KEY", keyDER)} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// startTLS runs "custos serve" with extra (TLS) flags and waits until
// /healthz answers over HTTPS with a client that trusts pki's CA and
// presents its good client certificate. The process is stopped at cleanup.
func startTLS(t *testing.T, data string, pki testPKI, extra ...string) string {
	t.Helper()
	addr := et.FreeAddr(t)
	cmd := exec.Command(et.Binary(t), append([]string{"serve", "--data", data, "--addr", addr}, extra...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	base := "https://" + addr
	hc := tlsClient(pki, &pki.client, 0)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("serve exited early:\n%s", errb.String())
		default:
		}
		if resp, err := hc.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
	}
	t.Fatalf("serve over TLS not ready:\n%s", errb.String())
	return ""
}

// tlsClient trusts pki's CA, presents cert (if any) and caps the TLS
// version at maxVersion (if not 0).
func tlsClient(pki testPKI, cert *tls.Certificate, maxVersion uint16) *http.Client {
	cfg := &tls.Config{RootCAs: pki.pool, MaxVersion: maxVersion}
	if cert != nil {
		// Always present it, even if its issuer is not among the CAs
		// the server names (Go's client would otherwise send none).
		c := *cert
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
}

// getStatus GETs url with an optional bearer token; it returns the status
// or the transport error.
func getStatus(hc *http.Client, url, token string) (int, *tls.ConnectionState, error) {
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.TLS, nil
}

// TestTLSServing: with --tls-cert/--tls-key the gateway speaks TLS 1.2+
// only; with --tls-client-ca it demands (require) or checks (if-given)
// client certificates from that CA; the bearer token is still required.
func TestTLSServing(t *testing.T) {
	f := et.NewFixture(t)
	pki := newTestPKI(t, f.Dir)

	t.Run("server TLS", func(t *testing.T) {
		base := startTLS(t, f.Data, pki, "--tls-cert", pki.certFile, "--tls-key", pki.keyFile)
		code, cs, err := getStatus(tlsClient(pki, nil, 0), base+"/v1/me", et.TokClerk1)
		if err != nil || code != 200 {
			t.Fatalf("GET /v1/me over TLS: %d %v", code, err)
		}
		if cs == nil || cs.Version < tls.VersionTLS12 {
			t.Fatalf("connection state %+v", cs)
		}
		if code, _, err := getStatus(tlsClient(pki, nil, 0), base+"/v1/me", ""); err != nil || code != 401 {
			t.Errorf("no token over TLS: %d %v, want 401", code, err)
		}
		if _, _, err := getStatus(tlsClient(pki, nil, tls.VersionTLS11), base+"/healthz", ""); err == nil {
			t.Error("a TLS 1.1 client was served")
		}
		// Plain HTTP on the TLS port is not served.
		if code, _, err := getStatus(&http.Client{Timeout: 5 * time.Second}, "http"+strings.TrimPrefix(base, "https")+"/v1/me", et.TokClerk1); err == nil && code == 200 {
			t.Error("plain HTTP served on the TLS port")
		}
	})
	t.Run("mutual TLS required", func(t *testing.T) {
		base := startTLS(t, f.Data, pki, "--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--tls-client-ca", pki.caFile)
		if code, _, err := getStatus(tlsClient(pki, &pki.client, 0), base+"/v1/me", et.TokIntegrator); err != nil || code != 200 {
			t.Fatalf("client certificate from the CA: %d %v", code, err)
		}
		if code, _, err := getStatus(tlsClient(pki, &pki.client, 0), base+"/v1/me", ""); err != nil || code != 401 {
			t.Errorf("client certificate without a token: %d %v, want 401", code, err)
		}
		if _, _, err := getStatus(tlsClient(pki, nil, 0), base+"/healthz", ""); err == nil {
			t.Error("served a client without a certificate")
		}
		if _, _, err := getStatus(tlsClient(pki, &pki.rogue, 0), base+"/healthz", ""); err == nil {
			t.Error("served a client certificate from another CA")
		}
	})
	t.Run("mutual TLS if given", func(t *testing.T) {
		base := startTLS(t, f.Data, pki, "--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--tls-client-ca", pki.caFile, "--tls-client-auth", "if-given")
		if code, _, err := getStatus(tlsClient(pki, nil, 0), base+"/v1/me", et.TokClerk1); err != nil || code != 200 {
			t.Errorf("no client certificate with if-given: %d %v", code, err)
		}
		if _, _, err := getStatus(tlsClient(pki, &pki.rogue, 0), base+"/healthz", ""); err == nil {
			t.Error("served a client certificate from another CA")
		}
	})
	t.Run("bad flags", func(t *testing.T) {
		for _, args := range [][]string{
			{"--tls-cert", pki.certFile},
			{"--tls-cert", pki.certFile, "--tls-key", pki.caFile},
			{"--tls-client-ca", pki.caFile},
			{"--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--tls-client-ca", pki.keyFile},
			{"--tls-cert", pki.certFile, "--tls-key", pki.keyFile, "--tls-client-ca", pki.caFile, "--tls-client-auth", "maybe"},
		} {
			_, errOut, code := et.Run(t, "", append([]string{"serve", "--data", f.Data, "--addr", et.FreeAddr(t)}, args...)...)
			if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
				t.Errorf("serve %v: exit %d, want 2 with one line: %q", args, code, errOut)
			}
		}
	})
}

// checkpointOf returns the auditor's view of the latest signed checkpoint.
func checkpointOf(t *testing.T, s *et.Server) []byte {
	t.Helper()
	r := s.Do(t, et.Req{Path: "/v1/audit/checkpoint", Token: et.TokAuditor})
	if r.Status != 200 {
		t.Fatalf("checkpoint: %d %s", r.Status, r.Body)
	}
	return r.Body
}

// signedBy reports whether the signed note n carries a valid signature by
// the verifier key vkey.
func signedBy(t *testing.T, n []byte, vkey string) bool {
	t.Helper()
	v, err := note.NewVerifier(strings.TrimSpace(vkey))
	if err != nil {
		t.Fatal(err)
	}
	_, err = note.Open(n, note.VerifierList(v))
	return err == nil
}

// TestRotateLogKey: rotating the log's signing key keeps every old
// checkpoint verifiable (the retired key is kept in log-keys with a
// hand-over signed by both keys), new checkpoints are signed by the new
// key only, an auditor who pinned the original key can still verify, and
// the retired key cannot sign a checkpoint beyond its hand-over.
func TestRotateLogKey(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	read := func(s *et.Server) uint64 {
		r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
		if r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
		return auditIndex(t, r)
	}
	var idx uint64
	for i := 0; i < 10; i++ {
		idx = read(s)
	}
	// Wait until a checkpoint covers the reads.
	if r := s.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries/%d", idx), Token: et.TokAuditor}); r.Status != 200 {
		t.Fatalf("entry %d: %d", idx, r.Status)
	}
	oldKey, _, _ := et.Run(t, "", "audit", "key", "--data", f.Data)
	oldPriv, err := os.ReadFile(filepath.Join(f.Data, "log-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	// Not while the server has the log open: it would go on signing with
	// the retired key.
	if _, errOut, code := et.Run(t, "", "keys", "rotate-log", "--data", f.Data); code != 2 || !strings.Contains(errOut, "serve running") {
		t.Fatalf("rotate-log beside a running server: exit %d %s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(f.Data, "log-keys")); err == nil {
		t.Fatal("a refused rotation wrote log-keys")
	}
	s.Stop(t)

	out, errOut, code := et.Run(t, "", "keys", "rotate-log", "--data", f.Data)
	if code != 0 {
		t.Fatalf("rotate-log: exit %d\n%s%s", code, out, errOut)
	}
	newKey, _, _ := et.Run(t, "", "audit", "key", "--data", f.Data)
	if newKey == oldKey || !strings.Contains(out, strings.TrimSpace(newKey)) || !strings.Contains(out, strings.TrimSpace(oldKey)) {
		t.Fatalf("rotate-log output %q; old key %q new key %q", out, oldKey, newKey)
	}
	if strings.SplitN(oldKey, "+", 2)[0] != strings.SplitN(newKey, "+", 2)[0] {
		t.Errorf("the key name (log origin) changed: %q → %q", oldKey, newKey)
	}
	priv := strings.SplitN(strings.TrimSpace(string(oldPriv)), "+", 5)[4]
	if strings.Contains(out+errOut, priv) {
		t.Fatal("rotate-log printed the private key")
	}
	if st, err := os.Stat(filepath.Join(f.Data, "log-signing.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("new signing key file: %v %v", st.Mode(), err)
	}
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code != 0 {
		t.Fatalf("verify right after rotation: exit %d\n%s%s", code, out, errOut)
	}

	s2 := et.Start(t, f.Data)
	for i := 0; i < 10; i++ {
		idx = read(s2)
	}
	if r := s2.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries/%d", idx), Token: et.TokAuditor}); r.Status != 200 {
		t.Fatalf("entry %d after rotation: %d %s", idx, r.Status, r.Body)
	}
	cp := checkpointOf(t, s2)
	if !signedBy(t, cp, newKey) || signedBy(t, cp, oldKey) {
		t.Errorf("new checkpoint not signed by the new key alone:\n%s", cp)
	}
	s2.Stop(t)
	noSecretsIn(t, f.Data, s.Stderr(), s2.Stderr(), out, errOut)
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code != 0 {
		t.Fatalf("verify after rotation and new entries: exit %d\n%s%s", code, out, errOut)
	}
	// An auditor who pinned the original key follows the hand-over.
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data, "--key", strings.TrimSpace(oldKey)); code != 0 {
		t.Fatalf("verify with the pinned original key: exit %d\n%s%s", code, out, errOut)
	}
	// A stranger's key is refused.
	_, strangerV, _ := note.GenerateKey(rand.Reader, strings.SplitN(oldKey, "+", 2)[0])
	if _, _, code := et.Run(t, "", "audit", "verify", "--data", f.Data, "--key", strangerV); code == 0 {
		t.Error("verify passed with a key outside the history")
	}

	// The retired key, if stolen, cannot vouch for the log beyond its
	// hand-over: the current tree signed by it is rejected.
	oldSigner, err := note.NewSigner(strings.TrimSpace(string(oldPriv)))
	if err != nil {
		t.Fatal(err)
	}
	body := string(cp[:bytes.Index(cp, []byte("\n\n"))+1])
	forged, err := note.Sign(&note.Note{Text: body}, oldSigner)
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(map[string]any{"time": time.Now(), "size": 0, "checkpoint": string(forged)})
	ext := et.WriteFile(t, f.Dir, "external.jsonl", string(line)+"\n")
	_, errOut, code = et.Run(t, "", "audit", "verify", "--data", f.Data, "--checkpoints", ext)
	if code == 0 || !strings.Contains(errOut, "retired key") {
		t.Errorf("checkpoint beyond the hand-over signed by the retired key: exit %d %s", code, errOut)
	}

	// Tampering with the hand-over is caught.
	hist := filepath.Join(f.Data, "log-keys")
	orig, err := os.ReadFile(hist)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(orig), &h); err != nil {
		t.Fatal(err)
	}
	h["size"] = h["size"].(float64) + 1000
	bad, _ := json.Marshal(h)
	os.WriteFile(hist, append(bad, '\n'), 0o644)
	if _, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code == 0 {
		t.Errorf("verify passed with an edited hand-over")
	} else if !strings.Contains(errOut, "log-keys") {
		t.Errorf("edited hand-over: %s", errOut)
	}
	os.WriteFile(hist, orig, 0o644)
	// And a removed history leaves the old checkpoints unverifiable.
	os.Remove(hist)
	if _, _, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code == 0 {
		t.Errorf("verify passed without the key history")
	}
	os.WriteFile(hist, orig, 0o644)
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", f.Data); code != 0 {
		t.Fatalf("verify with the history restored: exit %d\n%s%s", code, out, errOut)
	}
	// A backup carries the history: the restored copy verifies too.
	backup := filepath.Join(f.Dir, "rotated.tar.gz")
	if out, errOut, code := et.Run(t, "", "backup", "--data", f.Data, "--out", backup); code != 0 {
		t.Fatalf("backup: %d %s%s", code, out, errOut)
	}
	restored := filepath.Join(t.TempDir(), "r")
	if out, errOut, code := et.Run(t, "", "restore", "--in", backup, "--data", restored); code != 0 {
		t.Fatalf("restore of a rotated log: %d %s%s", code, out, errOut)
	}
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", restored, "--key", strings.TrimSpace(oldKey)); code != 0 {
		t.Fatalf("verify of the restored rotated log with the original key: %d %s%s", code, out, errOut)
	}
}

// TestPartnerAdminLimits shows what docs/THREATS.md says of a partner's
// administrator: the same purpose rules and masking as staff, break-glass
// approval only for their own company's people and never their own, and
// none of the security, privacy, audit or bulk endpoints.
func TestPartnerAdminLimits(t *testing.T) {
	f := et.NewFixture(t)
	const tokAdmin = "tok-partneradmin-0123456789"
	p := et.WriteFile(t, f.Dir, "admin.csv", "id,name,org,org_kind,role,site,region,token\n"+
		"padm-1,Partner Admin,dist-1,distributor,partner_admin,store-1,GD,"+tokAdmin+"\n")
	if out, errOut, code := et.Run(t, "", "import", "--data", f.Data, "--principals", p); code != 0 {
		t.Fatalf("import: %d %s%s", code, out, errOut)
	}
	s := et.Start(t, f.Data)
	refused := []et.Req{
		{Path: "/v1/customers/c-0001", Token: tokAdmin},
		{Path: "/v1/customers", Token: tokAdmin},
		{Path: "/v1/customers/export", Token: tokAdmin, Body: "{}"},
		{Path: "/v1/alerts", Token: tokAdmin},
		{Path: "/v1/principals/emp-1/suspend", Token: tokAdmin, Body: `{"reason":"test"}`},
		{Path: "/v1/principals/emp-1/reinstate", Token: tokAdmin, Body: `{"reason":"test"}`},
		{Path: "/v1/subjects/c-0001/accesses", Token: tokAdmin},
		{Path: "/v1/audit/checkpoint", Token: tokAdmin},
		{Path: "/v1/audit/entries/0", Token: tokAdmin},
		{Path: "/v1/trace", Token: tokAdmin, Body: "phone\n+8613800138000\n"},
		{Path: "/scim/v2/Users", Token: tokAdmin},
	}
	for _, req := range refused {
		if r := s.Do(t, req); r.Status != 403 && r.Status != 401 {
			t.Errorf("partner admin %s %s: %d, want 403: %.200s", req.Method, req.Path, r.Status, r.Body)
		}
	}
	// Reads under a ticket, masked like staff.
	tk := openTicket(t, s, tokAdmin, "c-0001")
	r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: tokAdmin, Purpose: "ticket:" + tk})
	if r.Status != 200 || strings.Contains(string(r.Body), "13800138000") {
		t.Fatalf("partner admin read under a ticket: %d %s", r.Status, r.Body)
	}
	bg := func(token string) string {
		r := s.Do(t, et.Req{Path: "/v1/breakglass", Token: token, Body: map[string]string{"customer": "c-0001", "reason": "customer at the counter, phone lost"}})
		if r.Status != 201 {
			t.Fatalf("break-glass request: %d %s", r.Status, r.Body)
		}
		return r.JSON(t)["id"].(string)
	}
	approve := func(id string) int {
		return s.Do(t, et.Req{Path: "/v1/breakglass/" + id + "/approve", Token: tokAdmin, Body: "{}"}).Status
	}
	if got := approve(bg(tokAdmin)); got != 403 {
		t.Errorf("partner admin approving their own break-glass: %d, want 403", got)
	}
	if got := approve(bg(et.TokClerk2)); got != 403 {
		t.Errorf("partner admin approving another company's clerk: %d, want 403", got)
	}
	own := bg(et.TokClerk1)
	if got := approve(own); got != 200 {
		t.Fatalf("partner admin approving their own company's clerk: %d, want 200", got)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "breakglass:" + own}); r.Status != 200 {
		t.Fatalf("approved break-glass read: %d %s", r.Status, r.Body)
	}
	// The security team is alerted, whoever approved.
	found := false
	for _, a := range s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity}).JSON(t)["alerts"].([]any) {
		if m := a.(map[string]any); m["actor"] == "emp-1" && m["kind"] == "breakglass" {
			found = true
		}
	}
	if !found {
		t.Error("no break-glass alert after a partner admin's approval")
	}
}
