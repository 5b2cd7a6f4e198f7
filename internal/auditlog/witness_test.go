package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	f_log "github.com/transparency-dev/formats/log"
	f_note "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/custos-dev/custos/internal/store"
)

// fakeWitness is a minimal C2SP tlog-witness: it checks the log's
// signature and the consistency proof from the size it last cosigned, then
// cosigns (cosignature/v1).
type fakeWitness struct {
	t      *testing.T
	logV   note.Verifier
	signer note.Signer
	mu     sync.Mutex
	size   uint64
	root   []byte
	calls  int
	// split marks a witness that was shown another tree: bad proofs are
	// expected, not a test failure.
	split bool
}

func (w *fakeWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/add-checkpoint" {
		http.NotFound(rw, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	head, cpRaw, ok := bytes.Cut(body, []byte("\n\n"))
	if !ok {
		http.Error(rw, "malformed", http.StatusBadRequest)
		return
	}
	sc := bufio.NewScanner(bytes.NewReader(head))
	sc.Scan()
	old, err := strconv.ParseUint(strings.TrimPrefix(sc.Text(), "old "), 10, 64)
	if err != nil {
		http.Error(rw, "bad old line", http.StatusBadRequest)
		return
	}
	var hashes [][]byte
	for sc.Scan() {
		h, err := base64.StdEncoding.DecodeString(sc.Text())
		if err != nil {
			http.Error(rw, "bad proof line", http.StatusBadRequest)
			return
		}
		hashes = append(hashes, h)
	}
	cp, _, _, err := f_log.ParseCheckpoint(cpRaw, w.logV.Name(), w.logV)
	if err != nil {
		http.Error(rw, "bad checkpoint: "+err.Error(), http.StatusForbidden)
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls++
	if old != w.size {
		rw.Header().Set("Content-Type", "text/x.tlog.size")
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", w.size)
		return
	}
	if w.size > 0 {
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, w.size, cp.Size, hashes, w.root, cp.Hash); err != nil {
			if !w.split {
				w.t.Errorf("witness: consistency proof %d -> %d: %v", w.size, cp.Size, err)
			}
			http.Error(rw, "inconsistent", http.StatusUnprocessableEntity)
			return
		}
	}
	w.size, w.root = cp.Size, cp.Hash
	signed, err := note.Sign(&note.Note{Text: noteBody(cpRaw)}, w.signer)
	if err != nil {
		http.Error(rw, err.Error(), http.StatusInternalServerError)
		return
	}
	_, sigs, _ := bytes.Cut(signed, []byte("\n\n"))
	rw.Write(sigs)
}

// TestWitnessCosigning checks that with a witness policy every published
// checkpoint carries the witness's cosignature, that the witness saw
// consistent growth, and that Verify accepts cosigned checkpoints.
func TestWitnessCosigning(t *testing.T) {
	dir := t.TempDir()
	// The log key must exist first: the witness needs its verifier.
	key, err := loadOrCreateKey(dir, DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := verifierOf(key)
	if err != nil {
		t.Fatal(err)
	}
	logV, _ := note.NewVerifier(vkey)
	wskey, wvkey, err := note.GenerateKey(rand.Reader, "witness.test")
	if err != nil {
		t.Fatal(err)
	}
	wsigner, err := f_note.NewSignerForCosignatureV1(wskey)
	if err != nil {
		t.Fatal(err)
	}
	w := &fakeWitness{t: t, logV: logV, signer: wsigner}
	srv := httptest.NewServer(w)
	defer srv.Close()
	policy := fmt.Sprintf("witness w1 %s %s\nquorum w1\n", wvkey, srv.URL)

	st := openStore(t, dir)
	defer st.Close()
	l, err := Open(context.Background(), Options{Store: st, Dir: dir, WitnessPolicy: []byte(policy)})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, store: st, log: l}
	for round := range 3 {
		e.appendN(t, round*100, 100)
		e.waitPublished(t, uint64(round+1)*100)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wv, err := f_note.NewVerifierForCosignatureV1(wvkey)
	if err != nil {
		t.Fatal(err)
	}
	raw := mustRead(t, filepath.Join(dir, LogDir, "checkpoint"))
	n, err := note.Open(raw, note.VerifierList(logV, wv))
	if err != nil {
		t.Fatalf("published checkpoint: %v\n%s", err, raw)
	}
	if len(n.Sigs) != 2 {
		t.Fatalf("published checkpoint has %d verified signatures, want log + witness:\n%s", len(n.Sigs), raw)
	}
	if w.size != 300 || w.calls < 3 {
		t.Errorf("witness cosigned up to %d in %d calls, want 300 in at least 3", w.size, w.calls)
	}
	if _, err := Verify(context.Background(), st, dir, ""); err != nil {
		t.Fatalf("Verify of a witnessed log: %v", err)
	}
}

// TestExport checks that published checkpoints reach the export file and
// the webhook, and that exported checkpoints catch a rollback of both the
// store and the log directory to an older, self-consistent copy.
func TestExport(t *testing.T) {
	var mu sync.Mutex
	var posted [][]byte
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		posted = append(posted, b)
		mu.Unlock()
	}))
	defer hook.Close()

	dir := t.TempDir()
	export := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	st := openStore(t, dir)
	l, err := Open(context.Background(), Options{Store: st, Dir: dir, ExportFile: export, ExportURL: hook.URL, ExportInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, store: st, log: l}
	e.appendN(t, 0, 50)
	e.waitPublished(t, 50)
	l.Close(context.Background())
	st.Close()
	// An older copy of everything: store and log at 50 entries.
	older := t.TempDir()
	copyDir(t, dir, older)

	st = openStore(t, dir)
	l, err = Open(context.Background(), Options{Store: st, Dir: dir, ExportFile: export, ExportURL: hook.URL, ExportInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e = &env{dir: dir, store: st, log: l}
	e.appendN(t, 50, 70)
	e.waitPublished(t, 120)
	l.Close(context.Background())
	st.Close()

	cps, err := ReadExportFile(export)
	if err != nil {
		t.Fatal(err)
	}
	last := cps[len(cps)-1]
	if !strings.Contains(string(last), "\n120\n") {
		t.Errorf("last exported checkpoint is not the final one:\n%s", last)
	}
	mu.Lock()
	if len(posted) == 0 || !bytes.Equal(posted[len(posted)-1], last) {
		t.Errorf("webhook got %d checkpoints, last differs from the file's", len(posted))
	}
	mu.Unlock()
	var rec ExportRecord
	line := bytes.Split(bytes.TrimSpace(mustRead(t, export)), []byte("\n"))[0]
	if err := json.Unmarshal(line, &rec); err != nil || rec.Size != 0 && rec.Size != 50 {
		t.Errorf("first export line %s: %v", line, err)
	}

	// The older copy is self-consistent: Verify alone passes...
	st = openStore(t, older)
	defer st.Close()
	if _, err := Verify(context.Background(), st, older, ""); err != nil {
		t.Fatalf("older copy on its own: %v", err)
	}
	// ...but not against the exported checkpoints.
	_, err = VerifyWith(context.Background(), st, older, VerifyOptions{Checkpoints: cps})
	if err == nil || !strings.Contains(err.Error(), "store has only 50 records") {
		t.Fatalf("older copy against exported checkpoints: got %v, want a rollback failure", err)
	}
	os.Remove(export)
}

// TestWitnessRefusalAlerts shows a witness another tree for the log's
// origin (it holds a root for size 2 that the log never had): the log
// must not publish a checkpoint the witness refuses, must raise one
// "witness" alert naming the witness and the split view, and must count
// the refusals.
func TestWitnessRefusalAlerts(t *testing.T) {
	dir := t.TempDir()
	key, err := loadOrCreateKey(dir, DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	vkey, _ := verifierOf(key)
	logV, _ := note.NewVerifier(vkey)
	wskey, wvkey, _ := note.GenerateKey(rand.Reader, "witness.test")
	wsigner, _ := f_note.NewSignerForCosignatureV1(wskey)
	other := make([]byte, 32)
	rand.Read(other)
	w := &fakeWitness{t: t, logV: logV, signer: wsigner, size: 2, root: other, split: true}
	srv := httptest.NewServer(w)
	defer srv.Close()
	st := openStore(t, dir)
	defer st.Close()
	// The log grows to 5 entries before it meets the witness.
	l, err := Open(context.Background(), Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{dir: dir, store: st, log: l}
	e.appendN(t, 0, 5)
	e.waitPublished(t, 5)
	l.Close(context.Background())
	before := mustRead(t, filepath.Join(dir, LogDir, "checkpoint"))
	l, err = Open(context.Background(), Options{Store: st, Dir: dir, WitnessTimeout: time.Second,
		WitnessPolicy: []byte(fmt.Sprintf("witness w1 %s %s\nquorum w1\n", wvkey, srv.URL))})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// No checkpoint will cover the last entries: do not wait for one.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		l.Close(ctx)
	}()
	e.log = l
	e.appendN(t, 5, 5)
	deadline := time.Now().Add(20 * time.Second)
	var alerts []store.Alert
	for len(alerts) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no witness alert")
		}
		time.Sleep(20 * time.Millisecond)
		alerts, _ = st.Alerts(context.Background(), 10)
	}
	a := alerts[0]
	if a.Kind != AlertKindWitness || a.Actor != AlertActorLog || !strings.Contains(strings.Join(a.Reasons, " "), "split view") ||
		!strings.Contains(strings.Join(a.Reasons, " "), "w1") {
		t.Errorf("alert: %+v", a)
	}
	if now := mustRead(t, filepath.Join(dir, LogDir, "checkpoint")); !bytes.Equal(now, before) {
		t.Errorf("a checkpoint was published although the witness refused it:\n%s", now)
	}
	e.appendN(t, 10, 5)
	if n, _ := st.Alerts(context.Background(), 10); len(n) != 1 {
		t.Errorf("%d alerts for one refusing witness, want 1", len(n))
	}
}
