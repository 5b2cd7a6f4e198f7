package demo

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// Files the demo writes into its data dir: the world as CSV (Load), and
// the leaked list (Leak) that "custos demo" writes for trace to find.
const (
	CustomersFile  = "customers.csv"
	PrincipalsFile = "principals.csv"
	LeakFile       = "leak-demo.csv"
)

// Load writes the world as the contract's CSV files into dir (so a
// newcomer can see them), then seals and loads them with v into st as
// "custos import" would, all or nothing; canaries are marked with their
// home site as scope.
func (w *World) Load(ctx context.Context, dir datadir.Dir, st store.Store, v *vault.Vault) error {
	var cb, pb bytes.Buffer
	if err := w.WriteCustomersCSV(&cb); err != nil {
		return err
	}
	if err := w.WritePrincipalsCSV(&pb); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir.Path(), CustomersFile), cb.Bytes(), 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir.Path(), PrincipalsFile), pb.Bytes(), 0o600); err != nil {
		return err
	}
	var b store.Batch
	var err error
	if b.Customers, err = importer.Customers(bytes.NewReader(cb.Bytes()), v); err != nil {
		return err
	}
	for i := range b.Customers {
		if c, ok := w.Customer(b.Customers[i].ID); ok && c.Canary {
			b.Customers[i].Canary, b.Customers[i].Scope = true, "site:"+c.Site
		}
	}
	if b.Principals, err = importer.Principals(bytes.NewReader(pb.Bytes()), v); err != nil {
		return err
	}
	return importer.Load(ctx, st, b)
}
