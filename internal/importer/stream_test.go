package importer_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// customersCSV returns a customers.csv of n rows (ids c-00000 …), with
// line (if > 0) replaced by bad.
func customersCSV(n, line int, bad string) string {
	var b strings.Builder
	b.WriteString("id,name,phone,account,region,site\n")
	for i := range n {
		row := fmt.Sprintf("c-%05d, Name %d ,+86139%08d,User%d@Example.com,gd,store-%d\n", i, i, i, i, i%3)
		if i+2 == line {
			row = bad + "\n"
		}
		b.WriteString(row)
	}
	return b.String()
}

// TestLoadCustomersStreams loads a file larger than the pipeline's jobs
// with several workers and checks that every row arrives, in file order,
// checked and sealed exactly as SealCustomer seals it.
func TestLoadCustomersStreams(t *testing.T) {
	st, v := openStore(t)
	ctx := t.Context()
	const n = 5000 // several jobs of rows, and several Adds
	rec := &recorder{Store: st, loader: st}
	res, err := importer.LoadCustomers(ctx, rec, v, strings.NewReader(customersCSV(n, 0, "")),
		store.Batch{Principals: []store.Principal{{ID: "emp-1", Name: "E", Org: "dist-1", OrgKind: "distributor",
			Role: "store_clerk", Site: "store-1", Region: "GD"}}}, importer.Options{Workers: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res != (importer.Result{Customers: n, Created: n, Principals: 1}) {
		t.Errorf("result %+v", res)
	}
	if len(rec.lines) != n {
		t.Fatalf("%d rows added, want %d", len(rec.lines), n)
	}
	for i, l := range rec.lines {
		if l != i+2 {
			t.Fatalf("row %d added with line %d: order not kept", i, l)
		}
	}
	for _, i := range []int{0, 1023, 1024, n - 1} {
		id := fmt.Sprintf("c-%05d", i)
		c, err := st.Customer(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := v.Unseal(c, "name")
		phone, _ := v.Unseal(c, "phone")
		account, _ := v.Unseal(c, "account")
		if name != fmt.Sprintf("Name %d", i) || phone != fmt.Sprintf("+86139%08d", i) || account != fmt.Sprintf("user%d@example.com", i) ||
			c.Region != "GD" || c.Site != fmt.Sprintf("store-%d", i%3) {
			t.Errorf("%s = %q %q %q %s %s", id, name, phone, account, c.Region, c.Site)
		}
		if found, err := st.CustomerByPhone(ctx, v.BlindIndex(vault.IndexPhone, phone)); err != nil || found.ID != id {
			t.Errorf("%s not found by phone: %v", id, err)
		}
	}
	if _, err := st.Principal(ctx, "emp-1"); err != nil {
		t.Errorf("principal of the same import: %v", err)
	}
}

// recorder is a store whose bulk loads note the lines of the rows added.
type recorder struct {
	store.Store
	loader store.CustomerLoader
	lines  []int
}

func (r *recorder) LoadCustomers(ctx context.Context, opt store.LoadOptions) (store.CustomerLoad, error) {
	l, err := r.loader.LoadCustomers(ctx, opt)
	return &recordLoad{CustomerLoad: l, r: r}, err
}

type recordLoad struct {
	store.CustomerLoad
	r *recorder
}

func (l *recordLoad) Add(ctx context.Context, rows []store.StagedCustomer) error {
	for _, row := range rows {
		l.r.lines = append(l.r.lines, row.Line)
	}
	return l.CustomerLoad.Add(ctx, rows)
}

// TestLoadCustomersAllOrNothing: the first bad row is reported with its
// file and line, wherever it is in the pipeline, and nothing is stored —
// neither the customers before it nor the principals of the same import.
func TestLoadCustomersAllOrNothing(t *testing.T) {
	const n = 3000
	for _, tc := range []struct {
		name      string
		csv       string
		line      int
		wantInMsg string
	}{
		{"bad phone early", customersCSV(n, 5, "c-x,A,not a phone,a@b.c,GD,"), 5, "phone"},
		{"bad name at a job boundary", customersCSV(n, 1025, "c-x,,+8613900000000,a@b.c,GD,"), 1025, "name"},
		{"bad region late", customersCSV(n, n, "c-x,A,+8613900000000,a@b.c,,"), n, "region"},
		{"bad id", customersCSV(n, 10, "c x,A,+8613900000000,a@b.c,GD,"), 10, "id"},
		{"bad site", customersCSV(n, 10, "c-x,A,+8613900000000,a@b.c,GD,a/b"), 10, "site"},
		{"bare quote", customersCSV(n, 2000, `c-x,A"B,+8613900000000,a@b.c,GD,`), 2000, "quote"},
		{"open quote to the end", customersCSV(n, 2000, `c-x,"A,+8613900000000,a@b.c,GD,`), n + 1, "quote"},
		{"not UTF-8", customersCSV(n, 7, "c-x,\xff,+8613900000000,a@b.c,GD,"), 7, "UTF-8"},
		{"duplicate id", customersCSV(n, 2500, "c-00007,A,+8613900000000,a@b.c,GD,"), 2500, "first on line 9"},
		{"bad row before a bad quote", customersCSV(n, 2, "c-x,A,12,a@b.c,GD,") + "c-y,\"oops\n", 2, "phone"},
		{"header", "id,name\nc-1,A\n", 1, "header"},
		{"empty", "", 1, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, v := openStore(t)
			ctx := t.Context()
			if err := st.Import(ctx, store.Batch{Customers: []store.Customer{{ID: "c-00001", Region: "SH", Site: ""}}}); err != nil {
				t.Fatal(err)
			}
			for _, opt := range []importer.Options{{Workers: 1}, {Workers: 3}, {Workers: 3, Upsert: true}} {
				_, err := importer.LoadCustomers(ctx, st, v, strings.NewReader(tc.csv),
					store.Batch{Principals: []store.Principal{{ID: "emp-1", Name: "E", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk"}}}, opt)
				var le *importer.LineError
				if !errors.As(err, &le) || le.File != "customers" || le.Line != tc.line || !errors.Is(err, importer.ErrBadRow) ||
					!strings.Contains(err.Error(), tc.wantInMsg) {
					t.Errorf("%+v: err %v; want a bad row on customers line %d mentioning %q", opt, err, tc.line, tc.wantInMsg)
				}
				if n, _ := st.CustomerCount(ctx); n != 1 {
					t.Errorf("%+v: %d customers after a failed import, want the 1 stored before", opt, n)
				}
				if c, _ := st.Customer(ctx, "c-00001"); c.Region != "SH" {
					t.Errorf("%+v: the stored customer was replaced", opt)
				}
				if _, err := st.Principal(ctx, "emp-1"); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%+v: the principals of a failed import were stored", opt)
				}
			}
		})
	}
}

// TestLoadCustomersCancel: a cancelled import stops reading, stores nothing
// and leaves no goroutine blocked (the test would hang).
func TestLoadCustomersCancel(t *testing.T) {
	st, v := openStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelAfter{r: strings.NewReader(customersCSV(20000, 0, "")), n: 200_000, cancel: cancel}
	_, err := importer.LoadCustomers(ctx, st, v, r, store.Batch{}, importer.Options{Workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	if n, _ := st.CustomerCount(t.Context()); n != 0 {
		t.Errorf("%d customers stored by a cancelled import", n)
	}
}

// cancelAfter cancels once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= k; c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// TestLoadCustomersWithoutLoader: a store without bulk loads gets the rows
// in one Import.
func TestLoadCustomersWithoutLoader(t *testing.T) {
	st, v := openStore(t)
	res, err := importer.LoadCustomers(t.Context(), plainStore{st}, v, strings.NewReader(customersCSV(10, 0, "")), store.Batch{}, importer.Options{})
	if err != nil || res.Customers != 10 {
		t.Fatalf("LoadCustomers = %+v, %v", res, err)
	}
	if n, _ := st.CustomerCount(t.Context()); n != 10 {
		t.Errorf("%d customers, want 10", n)
	}
}

// plainStore hides every optional interface of its Store.
type plainStore struct{ store.Store }

// TestSealCustomer checks the shared validation, and that its errors never
// repeat the value they refuse.
func TestSealCustomer(t *testing.T) {
	_, v := openStore(t)
	good := importer.CustomerFields{ID: "c-1", Name: " Li  Wei ", Phone: "138 0013 8000", Account: " LiWei@Example.com", Region: "gd", Site: "store-1"}
	c, err := importer.SealCustomer(v, good)
	if err != nil {
		t.Fatal(err)
	}
	if phone, _ := v.Unseal(c, "phone"); phone != "+8613800138000" || c.Region != "GD" ||
		string(c.AccountIndex) != string(v.BlindIndex(vault.IndexAccount, "liwei@example.com")) ||
		string(c.NameIndex) != string(v.BlindIndex(vault.IndexName, "li wei")) {
		t.Errorf("sealed record %+v (phone %q)", c, phone)
	}
	for name, f := range map[string]func(*importer.CustomerFields){
		"id":      func(f *importer.CustomerFields) { f.ID = "c*" },
		"name":    func(f *importer.CustomerFields) { f.Name = strings.Repeat("x", 201) },
		"phone":   func(f *importer.CustomerFields) { f.Phone = "secret-1234" },
		"account": func(f *importer.CustomerFields) { f.Account = "has space@x" },
		"region":  func(f *importer.CustomerFields) { f.Region = "" },
		"site":    func(f *importer.CustomerFields) { f.Site = "a b" },
	} {
		bad := good
		f(&bad)
		_, err := importer.SealCustomer(v, bad)
		if !errors.Is(err, importer.ErrBadCustomer) || !strings.Contains(err.Error(), name) {
			t.Errorf("bad %s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-1234") {
			t.Errorf("error repeats the value: %v", err)
		}
	}
}
