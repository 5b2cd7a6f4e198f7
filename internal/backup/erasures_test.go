package backup_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/backup"
	"github.com/custos-dev/custos/internal/datadir"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
)

// TestReadErasures reads every form the erasures after a backup come in,
// skipping what is not an allowed erasure, and refuses what it cannot read.
func TestReadErasures(t *testing.T) {
	in := strings.Join([]string{
		`{"time":"2026-03-02T09:14:05Z","actor":"priv-1","action":"subject.erase","customer":"c-1","decision":"allow"}`,
		`{"time":"2026-03-02T09:15:00Z","actor":"priv-1","action":"subject.erase","customer":"c-9","decision":"deny","reason":"not_found"}`,
		`{"time":"2026-03-02T09:16:00Z","actor":"emp-1","action":"customer.read","customer":"c-8","decision":"allow"}`,
		``,
		`{"index":7,"event":{"time":"2026-03-03T10:00:00Z","action":"subject.erase","customer":"c-2","decision":"allow"}}`,
		`{"class_uid":6003,"time":1772618400000,"status":"Success","api":{"operation":"subject.erase"},"resources":[{"uid":"c-3","type":"customer"}]}`,
		`{"class_uid":6003,"time":1772618400000,"status":"Failure","api":{"operation":"subject.erase"},"resources":[{"uid":"c-7","type":"customer"}]}`,
		`{"customer":"c-4","at":"2026-03-05T00:00:00Z"}`,
	}, "\n")
	es, err := backup.ReadErasures(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range es {
		ids = append(ids, e.Customer)
	}
	if !slices.Equal(ids, []string{"c-1", "c-2", "c-3", "c-4"}) {
		t.Fatalf("erasures %v; want c-1 … c-4", ids)
	}
	if !es[0].At.Equal(time.Date(2026, 3, 2, 9, 14, 5, 0, time.UTC)) || es[2].At.UnixMilli() != 1772618400000 {
		t.Errorf("times %v, %v", es[0].At, es[2].At)
	}
	for name, bad := range map[string]string{
		"not json":   `c-1`,
		"no id":      `{"at":"2026-03-05T00:00:00Z"}`,
		"bad id":     `{"customer":"c-*"}`,
		"array line": `["c-1"]`,
	} {
		if _, err := backup.ReadErasures(strings.NewReader("\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%s: err %v; want one naming line 2", name, err)
		}
	}
}

// TestRestoreHonoursErasures restores a backup taken before a customer was
// erased, given that erasure: the restored store does not hold the
// customer (nor their record key), keeps a tombstone, and its log verifies.
func TestRestoreHonoursErasures(t *testing.T) {
	ctx := context.Background()
	src := datadir.Dir(t.TempDir())
	if err := dataDir(src.Path(), 5); err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, src.DB())
	if err != nil {
		t.Fatal(err)
	}
	cs := []store.Customer{
		{ID: "c-1", Region: "GD", Name: []byte("sealed-1"), PhoneIndex: []byte("pidx-1"), Key: []byte("wrapped-key-1")},
		{ID: "c-2", Region: "GD", Name: []byte("sealed-2"), PhoneIndex: []byte("pidx-2"), Key: []byte("wrapped-key-2")},
	}
	err = st.Import(ctx, store.Batch{Customers: cs})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	if _, err := backup.Write(ctx, vacuum(src.DB()), src, out, false); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	es := []backup.Erasure{{Customer: "c-1", At: time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)}, {Customer: "c-404"}}
	dst := datadir.Dir(filepath.Join(t.TempDir(), "restored"))
	m, rep, err := backup.Restore(ctx, bytes.NewReader(b), dst.Path(), es)
	if err != nil {
		t.Fatal(err)
	}
	if m.Erased != 1 || rep.Records != 5 {
		t.Errorf("erased %d (want 1), report %+v", m.Erased, rep)
	}
	rst, err := sqlite.Open(ctx, dst.DB())
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	if _, err := rst.Customer(ctx, "c-1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("erased customer restored: %v", err)
	}
	if ok, _ := rst.Erased(ctx, "c-1"); !ok {
		t.Error("no tombstone for the erased customer")
	}
	// c-404 was created after the backup and erased: the restored store
	// never held it, but keeps its tombstone so nothing brings it back.
	if ok, _ := rst.Erased(ctx, "c-404"); !ok {
		t.Error("no tombstone for the customer created and erased after the backup")
	}
	if c, err := rst.Customer(ctx, "c-2"); err != nil || string(c.Key) != "wrapped-key-2" {
		t.Errorf("other customer: %+v, %v", c, err)
	}
	raw, err := os.ReadFile(dst.DB())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"sealed-1", "wrapped-key-1"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the restored file still holds %q", s)
		}
	}
}
