package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"

	f_log "github.com/transparency-dev/formats/log"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// TestEntryProofsVerify checks that inclusion proofs from Entry verify with
// transparency-dev/merkle against the signed checkpoint, after a JSON round
// trip as the API sends them, and that the event is the one appended.
func TestEntryProofsVerify(t *testing.T) {
	e := newEnv(t)
	const n = 600
	e.appendN(t, 0, n)
	e.waitPublished(t, n)
	v, err := note.NewVerifier(e.log.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, 255, 256, 511, 599} {
		p, err := e.log.Entry(context.Background(), i)
		if err != nil {
			t.Fatalf("Entry(%d): %v", i, err)
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		var got EntryProof
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if err := got.Verify(e.log.VerifierKey()); err != nil {
			t.Errorf("entry %d: %v", i, err)
		}
		// The same check spelled out with the merkle package.
		cp, _, _, err := f_log.ParseCheckpoint([]byte(got.Checkpoint), v.Name(), v)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, cp.Size, rfc6962.DefaultHasher.HashLeaf(got.Leaf), got.Proof, cp.Hash); err != nil {
			t.Errorf("entry %d: merkle: %v", i, err)
		}
		ev, err := event.Parse(got.Event)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Actor == "" || !strings.HasPrefix(ev.Purpose, "ticket:T-") {
			t.Errorf("entry %d: event %+v is not an appended one", i, ev)
		}
		// A tampered event must not verify.
		got.EventBytes = []byte(strings.Replace(string(got.EventBytes), "allow", "deny", 1))
		if err := got.Verify(e.log.VerifierKey()); err == nil {
			t.Errorf("entry %d: edited event verified", i)
		}
	}
	if _, err := e.log.Entry(context.Background(), n+5); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Entry beyond the log: got %v, want store.ErrNotFound", err)
	}
}

// TestByCustomer checks that a customer's history holds exactly that
// customer's accesses, each with a proof that verifies.
func TestByCustomer(t *testing.T) {
	e := newEnv(t)
	const n = 70
	e.appendN(t, 0, n)
	e.waitPublished(t, n)
	ps, err := e.log.ByCustomer(context.Background(), "c-0000003")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != n/7 {
		t.Fatalf("got %d entries, want %d", len(ps), n/7)
	}
	for _, p := range ps {
		ev, err := event.Parse(p.Event)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Customer != "c-0000003" {
			t.Errorf("entry %d is about %s", p.Index, ev.Customer)
		}
		if err := p.Verify(e.log.VerifierKey()); err != nil {
			t.Error(err)
		}
	}
	ps, err = e.log.ByCustomer(context.Background(), "c-nobody")
	if err != nil || len(ps) != 0 {
		t.Errorf("unknown customer: %v, %d entries", err, len(ps))
	}
}

// TestEntryPending checks that an entry no checkpoint covers yet gives
// ErrPending after the bounded wait, and ByCustomer marks it pending.
func TestEntryPending(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	l, err := Open(context.Background(), Options{Store: st, Dir: dir, CheckpointInterval: 20 * time.Second, PendingWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		// Do not wait for the next checkpoint.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		l.Close(ctx)
	}()
	i, err := l.Append(context.Background(), testEvent(3))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Entry(context.Background(), i); !errors.Is(err, ErrPending) {
		t.Fatalf("Entry of a fresh record: got %v, want ErrPending", err)
	}
	ps, err := l.ByCustomer(context.Background(), testEvent(3).Customer)
	if err != nil || len(ps) != 1 || !ps[0].Pending {
		t.Fatalf("ByCustomer: %v %+v, want one pending entry", err, ps)
	}
}

// TestFsck runs tessera's own fsck against the log served over HTTP by
// Handler, with the verifier key, as an outside auditor would; and checks
// that fsck does catch a tampered tile through the same path.
func TestFsck(t *testing.T) {
	e := newEnv(t)
	const n = 1000
	e.appendN(t, 0, n)
	e.waitPublished(t, n)
	mux := http.NewServeMux()
	mux.Handle("GET /log/", e.log.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	run := func() error {
		u, _ := url.Parse(srv.URL + "/log/")
		f, err := client.NewHTTPFetcher(u, srv.Client())
		if err != nil {
			t.Fatal(err)
		}
		v, err := note.NewVerifier(e.log.VerifierKey())
		if err != nil {
			t.Fatal(err)
		}
		return fsck.New(v.Name(), v, f, leafHasher, fsck.Opts{N: 2}).Check(context.Background())
	}
	if err := run(); err != nil {
		t.Fatalf("fsck of an intact log: %v", err)
	}
	// Close the log (so nothing rewrites tiles) and tamper with a tile.
	if err := e.log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(e.dir, LogDir, "tile/0/001")
	b := mustRead(t, p)
	b[40] ^= 1
	mustWrite(t, p, b)
	if err := run(); err == nil {
		t.Fatal("fsck passed a tampered tile")
	}
}

// leafHasher is the RFC 6962 leaf hasher for tlog-tiles entry bundles, as
// tessera's cmd/fsck uses.
func leafHasher(bundle []byte) ([][]byte, error) {
	var eb api.EntryBundle
	if err := eb.UnmarshalText(bundle); err != nil {
		return nil, fmt.Errorf("unmarshal: %w", err)
	}
	out := make([][]byte, 0, len(eb.Entries))
	for _, e := range eb.Entries {
		out = append(out, rfc6962.DefaultHasher.HashLeaf(e))
	}
	return out, nil
}

// TestHandler checks what /log/ serves and refuses.
func TestHandler(t *testing.T) {
	e := publishedEnv(t, 5)
	// A stray file like tessera's temporary files must not be served.
	os.WriteFile(filepath.Join(e.dir, LogDir, "checkpoint12345"), []byte("x"), 0o644)
	mux := http.NewServeMux()
	mux.Handle("GET /log/", e.log.Handler())
	mux.Handle("GET /stripped/log/", http.StripPrefix("/stripped/log", e.log.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		ctype        string
	}{
		{"GET", "/log/checkpoint", 200, "text/plain; charset=utf-8"},
		{"GET", "/stripped/log/checkpoint", 200, "text/plain; charset=utf-8"},
		{"GET", "/log/tile/0/000.p/5", 200, "application/octet-stream"},
		{"GET", "/log/tile/entries/000.p/5", 200, "application/octet-stream"},
		{"HEAD", "/log/tile/entries/000.p/5", 200, "application/octet-stream"},
		{"GET", "/log/tile/entries/000", 404, ""},
		{"GET", "/log/.state/treeState", 404, ""},
		{"GET", "/log/.state/version", 404, ""},
		{"GET", "/log/tile/", 404, ""},
		{"GET", "/log/tile/0/", 404, ""},
		{"GET", "/log/tile/0/000.p", 404, ""},
		{"GET", "/log/", 404, ""},
		{"GET", "/log/checkpoint12345", 404, ""},
		{"GET", "/log/tile/0/0.p/5", 404, ""},
		{"GET", "/log/tile/0/../../log-signing.key", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.ctype != "" && resp.Header.Get("Content-Type") != tt.ctype {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.ctype)
			}
		})
	}
	// Methods other than GET and HEAD, served without a method pattern.
	rec := httptest.NewRecorder()
	e.log.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/log/checkpoint", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", rec.Code)
	}
}
