package auditlog

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// testWrapper stands in for the master key's wrapper (masterkey imports
// this package): it authenticates with a secret prefix.
type testWrapper struct{ secret string }

func (w testWrapper) Wrap(p []byte) ([]byte, error) {
	return append([]byte(w.secret+":"), p...), nil
}

func (w testWrapper) Unwrap(b []byte) ([]byte, error) {
	p, ok := bytes.CutPrefix(b, []byte(w.secret+":"))
	if !ok {
		return nil, errors.New("wrong master key")
	}
	return p, nil
}

// TestStoredKey checks the signing key kept in the store: an existing key
// file is imported once and the store's copy is used from then on (the
// file may go); a second gateway with an empty data dir signs with the
// same key; a wrong master key is refused; a rotation in the store is
// picked up by both running logs, and the whole log (old and new key)
// verifies from either data dir.
func TestStoredKey(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	w := testWrapper{"m1"}
	legacy, err := loadOrCreateKey(dirA, DefaultOrigin)
	if err != nil {
		t.Fatal(err)
	}
	legacyV, _ := verifierOf(legacy)
	st := openStore(t, dirA)
	defer st.Close()
	open := func(dir string) *Log {
		t.Helper()
		l, err := Open(ctx, Options{Store: st, Dir: dir, KeyWrapper: w, PollInterval: 20 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	a := open(dirA)
	if a.VerifierKey() != legacyV {
		t.Fatalf("imported key %s, want the file's %s", a.VerifierKey(), legacyV)
	}
	e := &env{dir: dirA, store: st, log: a}
	e.appendN(t, 0, 30)
	e.waitPublished(t, 30)
	a.Close(ctx)
	wrapped, err := st.Meta(ctx, MetaSigningKey)
	if err != nil || !bytes.HasPrefix(wrapped, []byte("m1:")) {
		t.Fatalf("store's signing key: %q, %v", wrapped, err)
	}
	// The file is no longer needed.
	if err := os.Remove(filepath.Join(dirA, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, Options{Store: st, Dir: t.TempDir(), KeyWrapper: testWrapper{"other"}}); err == nil {
		t.Fatal("Open with the wrong master key succeeded")
	}
	if v, err := StoredVerifierKey(ctx, st, w, t.TempDir()); err != nil || v != legacyV {
		t.Fatalf("StoredVerifierKey = %s, %v; want %s", v, err, legacyV)
	}
	a = open(dirA)
	b := open(dirB)
	if b.VerifierKey() != legacyV {
		t.Fatalf("second gateway's key %s, want %s", b.VerifierKey(), legacyV)
	}
	if _, err := os.Stat(filepath.Join(dirB, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("second gateway wrote a key file: %v", err)
	}
	e.log = a
	e.appendN(t, 30, 20)
	e.waitPublished(t, 50)

	oldV, newV, err := RotateStoredKey(ctx, st, w, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if oldV != legacyV || newV == oldV {
		t.Fatalf("rotation %s -> %s", oldV, newV)
	}
	e.appendN(t, 50, 20)
	e.waitPublished(t, 70)
	eb := &env{dir: dirB, store: st, log: b}
	eb.waitPublished(t, 70)
	nv, _ := note.NewVerifier(newV)
	for _, l := range []*Log{a, b} {
		if l.VerifierKey() != newV {
			t.Errorf("running log still has key %s, want %s", l.VerifierKey(), newV)
		}
		l.cpMu.Lock()
		cp := l.cpNote
		l.cpMu.Unlock()
		if _, err := note.Open(cp, note.VerifierList(nv)); err != nil {
			t.Errorf("checkpoint after rotation does not verify with the new key: %v\n%s", err, cp)
		}
	}
	if err := errors.Join(a.Close(ctx), b.Close(ctx)); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{dirA, dirB} {
		if _, err := Verify(ctx, st, dir, ""); err != nil {
			t.Errorf("Verify %s after rotation: %v", dir, err)
		}
		if _, err := Verify(ctx, st, dir, oldV); err != nil {
			t.Errorf("Verify %s trusting the retired key: %v", dir, err)
		}
	}
	// Restart on the rotated key: the published checkpoint is the new key's.
	a = open(dirA)
	if a.VerifierKey() != newV {
		t.Errorf("after restart key %s, want %s", a.VerifierKey(), newV)
	}
	// The master key rotated elsewhere (the key re-wrapped under one this
	// gateway lacks): it keeps signing with the key it has.
	w2, _ := testWrapper{"m2"}.Wrap(mustUnwrap(t, w, st))
	if err := st.SetMeta(ctx, MetaSigningKey, w2); err != nil {
		t.Fatal(err)
	}
	e.log = a
	e.appendN(t, 70, 5)
	e.waitPublished(t, 75)
	a.Close(ctx)
}

func mustUnwrap(t *testing.T, w KeyWrapper, st interface {
	Meta(context.Context, string) ([]byte, error)
}) []byte {
	t.Helper()
	b, err := st.Meta(context.Background(), MetaSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Unwrap(b)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
