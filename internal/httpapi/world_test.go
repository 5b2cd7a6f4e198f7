package httpapi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/httpapi"
	"github.com/custos-dev/custos/internal/notify"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// inProcess is the API in process on a real SQLite store (opened with
// opts) and audit log, with the default policy and cfg, holding what seed
// returns (sealed with the store's vault). srv, when set, adjusts the
// server before its handler is built.
func inProcess(tb testing.TB, cfg config.Config, seed func(v *vault.Vault) store.Batch, srv func(*httpapi.Server), opts ...sqlite.Option) http.Handler {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	v, err := vault.Open(ctx, st, vault.NewKey())
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.Import(ctx, seed(v)); err != nil {
		tb.Fatal(err)
	}
	lg, err := auditlog.Open(ctx, auditlog.Options{Store: st, Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lg.Close(context.Background()) })
	gw := &gateway.Gateway{Store: st, Vault: v, Policy: policy.Default(), Audit: lg, Config: cfg,
		Notifier: &notify.Outbox{Path: filepath.Join(dir, "outbox.jsonl")}}
	tb.Cleanup(gw.Close)
	s := &httpapi.Server{Gateway: gw, Store: st, Vault: v, Policy: policy.Default(), Config: cfg}
	if srv != nil {
		srv(s)
	}
	return s.Handler()
}
