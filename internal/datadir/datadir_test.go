package datadir_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/vault"
)

// TestNamesAgree checks that the names here are those the packages that
// still name their own files use, so that moving them to Dir changes no
// file on disk.
func TestNamesAgree(t *testing.T) {
	for _, c := range []struct{ here, there string }{
		{datadir.MasterKeyFile, vault.MasterKeyFile},
		{datadir.LogSigningKeyFile, auditlog.KeyFile},
		{datadir.LogKeysFile, auditlog.KeyHistoryFile},
		{datadir.LogDir, auditlog.LogDir},
		{datadir.PoliciesDir, policy.DirName},
	} {
		if c.here != c.there {
			t.Errorf("datadir names %q, its owner %q", c.here, c.there)
		}
	}
}

func TestHasStore(t *testing.T) {
	d := datadir.Dir(t.TempDir())
	if err := d.HasStore(); err == nil {
		t.Fatal("HasStore on an empty dir: no error")
	}
	if err := os.WriteFile(d.DB(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.HasStore(); err != nil {
		t.Fatal(err)
	}
}

func ExampleDir() {
	d := datadir.Dir("/var/lib/custos")
	fmt.Println(filepath.ToSlash(d.DB()))
	fmt.Println(filepath.ToSlash(d.MasterKey()))
	fmt.Println(filepath.ToSlash(d.Policies()))
	// Output:
	// /var/lib/custos/custos.db
	// /var/lib/custos/master.key
	// /var/lib/custos/policies
}

func TestPrepareDemo(t *testing.T) {
	root := t.TempDir()
	fresh := datadir.Dir(filepath.Join(root, "new"))
	if err := fresh.PrepareDemo(); err != nil {
		t.Fatalf("new dir: %v", err)
	}
	// An earlier demo is wiped.
	if err := os.WriteFile(fresh.DB(), []byte("old demo"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fresh.Demo(), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := fresh.PrepareDemo(); err != nil {
		t.Fatalf("earlier demo: %v", err)
	}
	if _, err := os.Stat(fresh.DB()); !os.IsNotExist(err) {
		t.Errorf("the earlier demo's store survived: %v", err)
	}
	// Real data is never wiped.
	real := datadir.Dir(filepath.Join(root, "real"))
	os.MkdirAll(real.Path(), 0o700)
	if err := os.WriteFile(real.DB(), []byte("customers"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := real.PrepareDemo(); err == nil {
		t.Fatal("a non-demo data dir was accepted for the demo")
	}
	if b, _ := os.ReadFile(real.DB()); string(b) != "customers" {
		t.Error("a refused dir was changed")
	}
}
