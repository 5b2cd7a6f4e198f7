package masterkey_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/masterkey"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// TestRotate rotates twice, the second time after a rotation interrupted
// between the re-wrap and the rename: each time the store opens with the
// key file, and only with it.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	path := filepath.Join(dir, vault.MasterKeyFile)
	first, err := vault.LoadOrCreateMasterKey(dir, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vault.Open(ctx, st, first); err != nil {
		t.Fatal(err)
	}
	opens := func() {
		t.Helper()
		k, err := vault.ReadKeyFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := vault.Open(ctx, st, k); err != nil {
			t.Fatalf("the key file does not open the store: %v", err)
		}
		if _, err := vault.Open(ctx, st, first); err == nil {
			t.Fatal("the first key still opens the store")
		}
	}
	if finished, err := masterkey.Rotate(ctx, st, path); err != nil || finished {
		t.Fatalf("Rotate = %v, %v", finished, err)
	}
	opens()
	// Interrupted: the store is re-wrapped under master.key.new, not yet renamed.
	cur, _ := vault.ReadKeyFile(path)
	next := vault.NewKey()
	if err := vault.WriteKeyFile(path+".new", next); err != nil {
		t.Fatal(err)
	}
	if err := vault.Rewrap(ctx, st, cur, next); err != nil {
		t.Fatal(err)
	}
	if finished, err := masterkey.Rotate(ctx, st, path); err != nil || !finished {
		t.Fatalf("Rotate after an interruption = %v, %v; want it finished", finished, err)
	}
	opens()
	if _, err := os.Stat(path + ".new"); err == nil {
		t.Error("master.key.new left behind")
	}
}
