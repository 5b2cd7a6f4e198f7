package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
)

// FuzzStreamMatchesCustomers checks the streaming reader against the
// in-memory one (Customers) on arbitrary input: both accept the same files
// and then give the same records (the same ids in the same order, the same
// values under the seal, the same blind indexes); both refuse the same
// files, with a LineError on the same line unless a duplicate id is
// involved (the stream finds those only at the end of the file).
//
// Fuzz it with -fuzzminimizetime 0: the pipeline's goroutines make the
// coverage of one input vary from run to run, and the fuzzer's minimising
// of such inputs never settles (180,000 executions in 30 s without it).
func FuzzStreamMatchesCustomers(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzCustomers", "*"))
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		// A corpus file is "go test fuzz v1" then []byte("…").
		var data []byte
		if _, err := fmt.Sscanf(string(bytes.TrimPrefix(b, []byte("go test fuzz v1\n"))), "[]byte(%q)", &data); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(customersCSV(30, 0, "")))
	f.Add([]byte(customersCSV(30, 20, "c-00003,A,+8613900000000,a@b.c,GD,")))
	v := fuzzVault(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := importer.Customers(bytes.NewReader(data), v)
		mem := &memLoader{}
		_, gerr := importer.LoadCustomers(context.Background(), mem, v, bytes.NewReader(data), store.Batch{}, importer.Options{Workers: 3})
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("Customers: %v; LoadCustomers: %v", werr, gerr)
		}
		if werr != nil {
			checkImportErr(t, "customers", data, gerr)
			var wl, gl *importer.LineError
			errors.As(werr, &wl)
			errors.As(gerr, &gl)
			dup := strings.Contains(werr.Error(), "duplicate id") || strings.Contains(gerr.Error(), "duplicate id")
			if !dup && wl.Line != gl.Line {
				t.Fatalf("Customers fails on line %d (%v), LoadCustomers on line %d (%v)", wl.Line, werr, gl.Line, gerr)
			}
			return
		}
		if len(mem.rows) != len(want) {
			t.Fatalf("LoadCustomers staged %d rows, Customers read %d", len(mem.rows), len(want))
		}
		for i, w := range want {
			g := mem.rows[i].Customer
			if g.ID != w.ID || g.Region != w.Region || g.Site != w.Site ||
				!bytes.Equal(g.PhoneIndex, w.PhoneIndex) || !bytes.Equal(g.AccountIndex, w.AccountIndex) || !bytes.Equal(g.NameIndex, w.NameIndex) {
				t.Fatalf("row %d: stream %+v, in memory %+v", i, g, w)
			}
			for _, field := range []string{"name", "phone", "account"} {
				gv, err1 := v.Unseal(g, field)
				wv, err2 := v.Unseal(w, field)
				if err1 != nil || err2 != nil || gv != wv {
					t.Fatalf("row %d %s: %q (%v), in memory %q (%v)", i, field, gv, err1, wv, err2)
				}
			}
		}
	})
}

// memLoader is a store whose bulk load keeps the rows in memory and
// refuses repeated ids at Commit, as the SQL stores do.
type memLoader struct {
	store.Store // nil: LoadCustomers calls nothing else without tickets
	rows        []store.StagedCustomer
}

func (m *memLoader) LoadCustomers(context.Context, store.LoadOptions) (store.CustomerLoad, error) {
	return memLoad{m}, nil
}

type memLoad struct{ m *memLoader }

func (l memLoad) Add(_ context.Context, rows []store.StagedCustomer) error {
	l.m.rows = append(l.m.rows, rows...)
	return nil
}

func (l memLoad) Commit(context.Context, store.Batch) (store.LoadResult, error) {
	first := map[string]int{}
	for _, r := range l.m.rows {
		if f, ok := first[r.ID]; ok {
			return store.LoadResult{}, &store.DuplicateError{ID: r.ID, First: f, Line: r.Line}
		}
		first[r.ID] = r.Line
	}
	return store.LoadResult{Created: len(l.m.rows)}, nil
}

func (memLoad) Abort() error { return nil }
