package auditlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestSigningKeyFile checks that the key is created once with mode 0600,
// kept across opens, matches VerifierKey, and never prints itself.
func TestSigningKeyFile(t *testing.T) {
	dir := t.TempDir()
	k, err := loadOrCreateKey(dir, "example.com/log")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := loadOrCreateKey(dir, "other.example/log")
	if err != nil || k2 != k {
		t.Fatalf("second load returned another key (err %v)", err)
	}
	vkey, err := VerifierKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vkey, "example.com/log+") {
		t.Errorf("verifier key %q does not carry the origin", vkey)
	}
	// The verifier key checks what the signing key signs.
	s, _ := note.NewSigner(string(k))
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := note.Sign(&note.Note{Text: "hello\n"}, s)
	if _, err := note.Open(msg, note.VerifierList(v)); err != nil {
		t.Errorf("verifier key does not verify the signing key's notes: %v", err)
	}
	// Redaction.
	secret := strings.SplitN(string(k), "+", 5)[4]
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "key", k)
	for _, out := range []string{fmt.Sprint(k), fmt.Sprintf("%v %s %#v %+v", k, k, k, k), buf.String()} {
		if strings.Contains(out, secret) {
			t.Errorf("key leaked in %q", out)
		}
	}
}

func TestVerifierKeyMissing(t *testing.T) {
	if _, err := VerifierKey(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no audit log signing key") {
		t.Fatalf("got %v", err)
	}
}

// FuzzResourceKind checks that every path the handler accepts is the
// canonical tlog-tiles spelling (so nothing else in the directory, such as
// temporary files or .state, can be served).
func FuzzResourceKind(f *testing.F) {
	for _, s := range []string{"checkpoint", "tile/0/000", "tile/0/x001/234.p/5", "tile/entries/000.p/255", "tile/entries/x999/x999/999",
		".state/treeState", "tile/0/000.p/0", "tile/64/000", "checkpoint1234", "tile/0/../000", "tile/entries/00", "tile/1/x000/001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		kind, ok := resourceKind(p)
		if !ok {
			return
		}
		if kind == kindCheckpoint {
			if p != "checkpoint" {
				t.Fatalf("%q accepted as the checkpoint", p)
			}
			return
		}
		if strings.Contains(p, "..") || strings.HasPrefix(p, ".") || strings.Contains(p, "//") {
			t.Fatalf("accepted %q", p)
		}
		if (kind == kindPartial) != strings.Contains(p, ".p/") {
			t.Fatalf("%q: partial kind mismatch", p)
		}
	})
}

// TestOpenRefusesMissingKey checks that a log whose key file was lost does
// not silently start over with a new key.
func TestOpenRefusesMissingKey(t *testing.T) {
	dir := buildLog(t, 3)
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	st := openStore(t, dir)
	defer st.Close()
	_, err := Open(context.Background(), Options{Store: st, Dir: dir})
	if !errors.Is(err, ErrNoKey) || !strings.Contains(err.Error(), "restore it from a backup") {
		t.Fatalf("got %v, want ErrNoKey", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); err == nil {
		t.Error("Open wrote a new key")
	}
}
