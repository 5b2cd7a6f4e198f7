package evidence_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/evidence"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// bundle makes a real bundle: events appended to a real audit log, proven
// against its signed checkpoint.
func bundle(t *testing.T) (evidence.Bundle, []byte) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	lg, err := auditlog.Open(context.Background(), auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close(context.Background()) })
	var idx []uint64
	for i := range 6 {
		ev := event.Event{Time: t0.Add(time.Duration(i) * time.Minute), Actor: "emp-7", Org: "dist-1", Role: "store_clerk",
			Site: "store-1", Action: event.ActionRead, Customer: fmt.Sprintf("c-%04d", i), Fields: []string{"name", "phone"},
			Purpose: "ticket:T-1", PurposeValid: true, Decision: event.Allow}
		n, err := lg.Append(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		idx = append(idx, n)
	}
	recs, err := st.AuditRange(context.Background(), idx[0], idx[len(idx)-1]+1)
	if err != nil {
		t.Fatal(err)
	}
	var proofs []auditlog.EntryProof
	for deadline := time.Now().Add(10 * time.Second); ; {
		if proofs, err = lg.Prove(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		if !proofs[len(proofs)-1].Pending {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint covers the entries")
		}
	}
	b := evidence.Bundle{VerifierKey: lg.VerifierKey(), Checkpoint: proofs[0].Checkpoint, Entries: proofs,
		Manifest: evidence.Manifest{Format: evidence.Format, Case: 3, Alert: 9, Person: "emp-7", From: t0.Add(-time.Hour),
			To: t0.Add(time.Hour), Status: "open", Made: t0.Add(2 * time.Hour), Origin: lg.Origin(),
			TreeSize: proofs[0].TreeSize, Entries: idx}}
	var buf bytes.Buffer
	if err := b.WriteTar(&buf); err != nil {
		t.Fatal(err)
	}
	return b, buf.Bytes()
}

func TestBundleVerifies(t *testing.T) {
	b, raw := bundle(t)
	rep, err := evidence.Verify(bytes.NewReader(raw), b.VerifierKey)
	if err != nil || !rep.OK() || rep.Entries != 6 || rep.KeyFromBundle {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	sum, _ := b.Summary()
	for _, want := range []string{"emp-7", "store_clerk at dist-1", "Distinct customers read</th><td>6", "name, phone"} {
		if !strings.Contains(string(sum), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	rep, err = evidence.Verify(bytes.NewReader(raw), "")
	if err != nil || !rep.OK() || !rep.KeyFromBundle {
		t.Errorf("Verify without a key = %+v, %v; want OK, checked against the bundle's key", rep, err)
	}
}

// TestEveryEditIsNamed edits each file of a bundle in turn and expects the
// problem to name that file.
func TestEveryEditIsNamed(t *testing.T) {
	b, raw := bundle(t)
	files := untar(t, raw)
	entry := fmt.Sprintf("entries/%d.json", b.Manifest.Entries[2])
	for _, c := range []struct{ file, old, new, want string }{
		{entry, `"decision": "allow"`, `"decision": "deny"`, entry},
		{entry, `c-0002`, `c-0009`, entry},
		{"summary.html", "Distinct customers read</th><td>6", "Distinct customers read</th><td>2", "summary.html"},
		{"checkpoint", "\n\n", "\n\n\n", "checkpoint"},
		{"manifest.json", `"person": "emp-7"`, `"person": "emp-8"`, "not of \"emp-8\""},
		{"manifest.json", `"case": 3`, `"case": 4`, "summary.html"},
	} {
		edited := map[string][]byte{}
		for k, v := range files {
			edited[k] = v
		}
		if !bytes.Contains(edited[c.file], []byte(c.old)) {
			t.Fatalf("%s holds no %q", c.file, c.old)
		}
		edited[c.file] = bytes.Replace(edited[c.file], []byte(c.old), []byte(c.new), 1)
		rep, err := evidence.Verify(bytes.NewReader(retar(t, edited)), b.VerifierKey)
		if err != nil {
			t.Fatalf("%s edited: %v", c.file, err)
		}
		if rep.OK() || !strings.Contains(strings.Join(rep.Problems, "\n"), c.want) {
			t.Errorf("%s: %q → %q: problems %q; want one naming %q", c.file, c.old, c.new, rep.Problems, c.want)
		}
	}
	// A removed entry, an added file, another key.
	edited := map[string][]byte{}
	for k, v := range files {
		if k != entry {
			edited[k] = v
		}
	}
	edited["entries/999.json"] = files[entry]
	rep, _ := evidence.Verify(bytes.NewReader(retar(t, edited)), b.VerifierKey)
	if got := strings.Join(rep.Problems, "\n"); !strings.Contains(got, entry+": listed in the manifest but missing") || !strings.Contains(got, "entries/999.json: not part") {
		t.Errorf("removed and added entries: %q", rep.Problems)
	}
	rep, _ = evidence.Verify(bytes.NewReader(raw), "custos.local/audit+00000000+AAAA")
	if rep.OK() {
		t.Error("a bundle verified against a key it was not signed with")
	}
	if _, err := evidence.Verify(strings.NewReader("not a tar at all, just text"), ""); !errors.Is(err, evidence.ErrNotBundle) {
		t.Errorf("text: got %v, want ErrNotBundle", err)
	}
}

func untar(t *testing.T, raw []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name], _ = io.ReadAll(tr)
	}
}

func retar(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))})
		tw.Write(body)
	}
	tw.Close()
	return buf.Bytes()
}
