// A real, independent witness (issue 19): litewitness from
// filippo.io/torchwood, its Ed25519 key in a dedicated ssh-agent, custos's
// log registered with it as witnessctl does. custos serve names it in
// [audit] witness_policy; every published checkpoint must then carry the
// witness's cosignature, and a witness that has seen another tree for the
// same origin (a split view) must stop publication and raise an alert.
//
// The tools are installed with "go install …@v0.6.1" into a GOBIN under
// the temporary directory, kept for later runs. Outside CI the test skips when that is impossible; under CI=true
// it fails with the reason instead.
package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	f_note "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/internal/pgtest"
)

// TorchwoodVersion is the witness implementation the tests run.
const TorchwoodVersion = "v0.6.1"

var (
	witnessToolsOnce sync.Once
	witnessToolsDir  string
	witnessToolsErr  error
	witnessctlErr    error
)

// needWitnessTools installs litewitness and witnessctl (once per test
// process) and returns their directory. witnessctl is optional: it only
// writes two rows into the witness's database, and its dependency
// sigsum.org/sigsum-go is not on every module proxy; without it the test
// writes the same rows itself (see registerLog).
func needWitnessTools(t *testing.T) (dir string, haveCtl bool) {
	t.Helper()
	witnessToolsOnce.Do(func() {
		for _, tool := range []string{"ssh-agent", "ssh-keygen", "ssh-add"} {
			if _, err := exec.LookPath(tool); err != nil {
				witnessToolsErr = fmt.Errorf("%s not found (install openssh-client): %w", tool, err)
				return
			}
		}
		// One directory per version, reused by later runs.
		d := filepath.Join(os.TempDir(), "custos-e2e-torchwood-"+TorchwoodVersion)
		if err := os.MkdirAll(d, 0o755); err != nil {
			witnessToolsErr = err
			return
		}
		witnessToolsDir = d
		install := func(tool string) error {
			if _, err := os.Stat(filepath.Join(d, tool)); err == nil {
				return nil
			}
			cmd := exec.Command("go", "install", "filippo.io/torchwood/cmd/"+tool+"@"+TorchwoodVersion)
			cmd.Env = append(os.Environ(), "GOBIN="+d, "GOFLAGS=-buildvcs=false")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go install filippo.io/torchwood/cmd/%s@%s: %v\n%s", tool, TorchwoodVersion, err, out)
			}
			return nil
		}
		witnessToolsErr = install("litewitness")
		if witnessToolsErr == nil {
			witnessctlErr = install("witnessctl")
		}
	})
	if witnessToolsErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the witness tests need litewitness %s and OpenSSH's ssh-agent; installing failed: %v", TorchwoodVersion, witnessToolsErr)
		}
		t.Skipf("skipping: litewitness %s or ssh-agent unavailable (set CI=true to make this a failure): %v", TorchwoodVersion, witnessToolsErr)
	}
	if witnessctlErr != nil {
		t.Logf("witnessctl could not be installed, registering the log in litewitness's database directly (as witnessctl add-log/add-key do): %v", witnessctlErr)
	}
	return witnessToolsDir, witnessctlErr == nil
}

// liteWitness is a running litewitness.
type liteWitness struct {
	URL  string
	VKey string // cosignature/v1 verifier key
	db   string
	bin  string
	ctl  bool
	cmd  *exec.Cmd
	errb *bytes.Buffer
	mu   sync.Mutex
}

// startWitness starts ssh-agent with a fresh Ed25519 key and litewitness
// using it.
func startWitness(t *testing.T) *liteWitness {
	t.Helper()
	bin, ctl := needWitnessTools(t)
	// Unix socket paths are short: keep it out of the long test dir.
	sockDir, err := os.MkdirTemp("", "cw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, "a")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatalf("ssh-agent: %v", err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("ssh-agent socket did not appear")
		}
		time.Sleep(25 * time.Millisecond)
	}
	dir := t.TempDir()
	key := filepath.Join(dir, "witness_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "custos-test-witness", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	add := exec.Command("ssh-add", key)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v\n%s", err, out)
	}
	fp, err := exec.Command("ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub").Output()
	if err != nil {
		t.Fatalf("ssh-keygen -l: %v", err)
	}
	fields := strings.Fields(string(fp))
	if len(fields) < 2 {
		t.Fatalf("ssh-keygen -l: %q", fp)
	}
	w := &liteWitness{db: filepath.Join(dir, "litewitness.db"), bin: bin, ctl: ctl, errb: &bytes.Buffer{}}
	addr := et.FreeAddr(t)
	w.URL = "http://" + addr
	w.cmd = exec.Command(filepath.Join(bin, "litewitness"), "-name", "witness.custos.test/w1", "-db", w.db,
		"-ssh-agent", sock, "-listen", addr, "-key", fields[1])
	w.cmd.Stderr = witnessWriter{w}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.cmd.Process.Signal(syscall.SIGINT); w.cmd.Wait() })
	re := regexp.MustCompile(`vkey=(\S+)`)
	waitUntil(t, 30*time.Second, "the witness serving", func() bool {
		if m := re.FindStringSubmatch(w.stderr()); m != nil {
			w.VKey = m[1]
		}
		resp, err := http.Get(w.URL + "/")
		if err == nil {
			resp.Body.Close()
		}
		return w.VKey != "" && err == nil
	})
	if _, err := f_note.NewVerifierForCosignatureV1(w.VKey); err != nil {
		t.Fatalf("litewitness verifier key %q: %v", w.VKey, err)
	}
	return w
}

type witnessWriter struct{ w *liteWitness }

func (ww witnessWriter) Write(b []byte) (int, error) {
	ww.w.mu.Lock()
	defer ww.w.mu.Unlock()
	return ww.w.errb.Write(b)
}

func (w *liteWitness) stderr() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errb.String()
}

// registerLog tells the witness about a log: witnessctl add-log and
// add-key, or the same two rows written directly when witnessctl is not
// installed.
func (w *liteWitness) registerLog(t *testing.T, origin, vkey string) {
	t.Helper()
	if w.ctl {
		for _, args := range [][]string{
			{"add-log", "-db", w.db, "-origin", origin},
			{"add-key", "-db", w.db, "-origin", origin, "-key", vkey},
		} {
			if out, err := exec.Command(filepath.Join(w.bin, "witnessctl"), args...).CombinedOutput(); err != nil {
				t.Fatalf("witnessctl %v: %v\n%s", args, err, out)
			}
		}
		return
	}
	db, err := sql.Open("sqlite", "file:"+w.db+"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	empty := sha256.Sum256(nil)
	if _, err := db.Exec(`INSERT INTO log (origin, tree_size, tree_hash) VALUES (?, 0, ?)`, origin, base64.StdEncoding.EncodeToString(empty[:])); err != nil {
		t.Fatalf("register log with the witness: %v", err)
	}
	if _, err := db.Exec(`INSERT INTO key (origin, key) VALUES (?, ?)`, origin, vkey); err != nil {
		t.Fatalf("register log key with the witness: %v", err)
	}
}

// addCheckpoint submits a signed checkpoint to the witness as a log would
// (old size 0, no proof) and returns the HTTP status.
func (w *liteWitness) addCheckpoint(t *testing.T, cp []byte) int {
	t.Helper()
	resp, err := http.Post(w.URL+"/add-checkpoint", "text/plain", bytes.NewReader(append([]byte("old 0\n\n"), cp...)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// witnessConfig writes a witness policy naming w and a config using it.
func witnessConfig(t *testing.T, dir string, w *liteWitness, failOpen bool) string {
	t.Helper()
	pol := et.WriteFile(t, dir, "witness-policy.txt", fmt.Sprintf("witness w1 %s %s\nquorum w1\n", w.VKey, w.URL))
	return et.WriteFile(t, dir, fmt.Sprintf("custos-witness-%v.toml", failOpen),
		fmt.Sprintf("[audit]\nwitness_policy = %q\nwitness_fail_open = %v\n", pol, failOpen))
}

// logKey starts the server once so that it creates its log key, and
// returns origin and verifier key as custos audit key prints them.
func logKey(t *testing.T, data string) (origin, vkey string) {
	t.Helper()
	s := et.Start(t, data)
	s.Stop(t)
	out, errOut, code := et.Run(t, "", "audit", "key", "--data", data)
	if code != 0 {
		t.Fatalf("custos audit key: %d %s", code, errOut)
	}
	vkey = strings.TrimSpace(out)
	origin, _, _ = strings.Cut(vkey, "+")
	return origin, vkey
}

// audited makes n audited requests (denied reads: no purpose).
func audited(t *testing.T, s *et.Server, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		if r := s.Do(t, et.Req{Path: "/v1/customers/c-1", Token: et.TokClerk1}); r.Status/100 != 4 {
			t.Fatalf("read without purpose: %d %s", r.Status, r.Body)
		}
	}
}

// published returns the published checkpoint and its size.
func published(t *testing.T, s *et.Server) ([]byte, uint64) {
	t.Helper()
	r := s.Do(t, et.Req{Path: "/log/checkpoint"})
	if r.Status != 200 {
		return nil, 0
	}
	lines := strings.SplitN(string(r.Body), "\n", 3)
	if len(lines) < 3 {
		return nil, 0
	}
	n, _ := strconv.ParseUint(lines[1], 10, 64)
	return r.Body, n
}

// TestRealWitnessCosigns checks that with litewitness in the witness
// policy every checkpoint custos publishes carries a cosignature that
// verifies with the witness's key, over several rounds of growth (each
// one a consistency proof the witness checked).
func TestRealWitnessCosigns(t *testing.T) {
	w := startWitness(t)
	f := et.NewFixture(t)
	origin, vkey := logKey(t, f.Data)
	w.registerLog(t, origin, vkey)
	s := et.Start(t, f.Data, "--config", witnessConfig(t, f.Dir, w, false))

	logV, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	witV, err := f_note.NewVerifierForCosignatureV1(w.VKey)
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for round := 0; round < 3; round++ {
		audited(t, s, 5)
		want := last + 5
		var cp []byte
		waitUntil(t, 30*time.Second, "the new entries published", func() bool {
			var size uint64
			cp, size = published(t, s)
			return size >= want
		})
		n, err := note.Open(cp, note.VerifierList(logV, witV))
		if err != nil {
			t.Fatalf("round %d: published checkpoint does not verify: %v\n%s", round, err, cp)
		}
		var byLog, byWitness bool
		for _, sig := range n.Sigs {
			byLog = byLog || sig.Hash == logV.KeyHash()
			byWitness = byWitness || sig.Hash == witV.KeyHash()
		}
		if !byLog || !byWitness {
			t.Fatalf("round %d: published checkpoint lacks a signature (log %v, witness %v):\n%s", round, byLog, byWitness, cp)
		}
		_, last = published(t, s)
	}
}

// TestRealWitnessSplitView gives the witness a different tree for custos's
// origin (a checkpoint signed with the log's own key, as a log operator
// showing two views would), then starts custos with that witness: the
// witness refuses to cosign, custos does not publish the conflicting
// checkpoint, raises a "witness" alert that the dashboard lists, and says
// why in its log. With witness_fail_open the checkpoint is published
// without the cosignature.
func TestRealWitnessSplitView(t *testing.T) {
	w := startWitness(t)
	f := et.NewFixture(t)
	origin, vkey := logKey(t, f.Data)
	w.registerLog(t, origin, vkey)

	// Grow the log without the witness, so that it has a tree to conflict.
	s := et.Start(t, f.Data)
	audited(t, s, 4)
	var before uint64
	waitUntil(t, 30*time.Second, "4 entries published", func() bool { _, before = published(t, s); return before >= 4 })
	s.Stop(t)

	// The other view: size 2 with a made-up root, signed with the log key.
	skey, err := os.ReadFile(filepath.Join(f.Data, "log-signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	root := make([]byte, 32)
	rand.Read(root)
	forged, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n2\n%s\n", origin, base64.StdEncoding.EncodeToString(root))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if code := w.addCheckpoint(t, forged); code != 200 {
		t.Fatalf("witness did not take the other view's checkpoint: HTTP %d\n%s", code, w.stderr())
	}

	s = et.Start(t, f.Data, "--config", witnessConfig(t, f.Dir, w, false))
	audited(t, s, 3)
	var alert map[string]any
	waitUntil(t, 30*time.Second, "the witness alert", func() bool {
		r := s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity})
		if r.Status != 200 {
			return false
		}
		for _, a := range r.JSON(t)["alerts"].([]any) {
			if m := a.(map[string]any); m["kind"] == "witness" {
				alert = m
				return true
			}
		}
		return false
	})
	reasons := fmt.Sprint(alert["reasons"])
	if !strings.Contains(reasons, "split view") || !strings.Contains(reasons, "w1") {
		t.Errorf("witness alert does not say which witness and why: %v", alert)
	}
	cp, size := published(t, s)
	if size != before {
		t.Errorf("published checkpoint has size %d; want the last one before the conflict (%d): the conflicting checkpoint must not be published\n%s", size, before, cp)
	}
	if witV, _ := f_note.NewVerifierForCosignatureV1(w.VKey); bytes.Contains(cp, []byte(witV.Name())) {
		t.Errorf("published checkpoint carries a cosignature from the split-view witness:\n%s", cp)
	}
	logs := s.Stderr()
	if !strings.Contains(logs, "witness refused to cosign") || !strings.Contains(logs, "split view") {
		t.Errorf("server log does not say why the witness refused:\n%s", logs)
	}
	// The dashboard shows it: the alerts page data names the kind.
	if r := s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity}); !bytes.Contains(r.Body, []byte(`"kind":"witness"`)) {
		t.Errorf("alerts list lacks the witness alert: %s", r.Body)
	}
	s.Stop(t)

	// Fail open: published without the witness.
	s = et.Start(t, f.Data, "--config", witnessConfig(t, f.Dir, w, true))
	audited(t, s, 2)
	waitUntil(t, 30*time.Second, "publishing without the witness", func() bool { _, n := published(t, s); return n >= before+5 })
}

// TestRealWitnessTwoGateways runs two gateways on one PostgreSQL database,
// started with nothing but the master key, both naming the same witness:
// once the appends stop, both publish the very same checkpoint, signed
// with the key from the database and cosigned by the witness.
func TestRealWitnessTwoGateways(t *testing.T) {
	w := startWitness(t)
	db := pgtest.NewDatabase(t)
	dir := t.TempDir()
	dataA, dataB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	importPostgres(t, db, dataA)
	et.Start(t, dataA, "--db", db).Stop(t) // creates the log key in the database
	out, errOut, code := et.Run(t, "", "audit", "key", "--db", db, "--data", dataA)
	if code != 0 {
		t.Fatalf("audit key --db: %d %s", code, errOut)
	}
	vkey := strings.TrimSpace(out)
	origin, _, _ := strings.Cut(vkey, "+")
	w.registerLog(t, origin, vkey)
	copyFile(t, filepath.Join(dataA, "master.key"), filepath.Join(dataB, "master.key"))
	cfg := witnessConfig(t, dir, w, false)
	a := et.Start(t, dataA, "--db", db, "--config", cfg)
	b := et.Start(t, dataB, "--db", db, "--config", cfg)
	audited(t, a, 4)
	audited(t, b, 4)
	logV, _ := note.NewVerifier(vkey)
	witV, _ := f_note.NewVerifierForCosignatureV1(w.VKey)
	var ca, cb []byte
	waitUntil(t, 60*time.Second, "both gateways publishing one cosigned checkpoint", func() bool {
		var na, nb uint64
		ca, na = published(t, a)
		cb, nb = published(t, b)
		if na < 8 || na != nb {
			return false
		}
		for _, cp := range [][]byte{ca, cb} {
			if n, err := note.Open(cp, note.VerifierList(logV, witV)); err != nil || len(n.Sigs) != 2 {
				return false
			}
		}
		return true
	})
	if !bytes.Equal(noteText(ca), noteText(cb)) {
		t.Errorf("the gateways publish different trees:\n%s\n%s", ca, cb)
	}
}

// noteText is a signed note's text (before the signatures).
func noteText(n []byte) []byte {
	text, _, _ := bytes.Cut(n, []byte("\n\n"))
	return text
}
