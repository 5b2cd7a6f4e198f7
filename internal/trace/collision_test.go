package trace

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// TestResolveCollision: blind indexes are 64 bits, so two customers may
// share one. A leaked phone or account must still resolve to the customer
// whose value it is (the resolver opens the candidates), one row at a time
// and in batches alike.
func TestResolveCollision(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := vault.Open(ctx, st, vault.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	s := v.NewSealer()
	phones := []string{"+8613800000001", "+8613800000002", "+8613800000003"}
	accounts := []string{"a@example.com", "b@example.com", "c@example.com"}
	var cs []store.Customer
	for i, id := range []string{"c-1", "c-2", "c-3"} {
		r, key := s.NewRecord(id)
		cs = append(cs, store.Customer{ID: id, Region: "GD", Key: key,
			Phone: s.Seal(r, "phone", phones[i]), Account: s.Seal(r, "account", accounts[i]),
			PhoneIndex: s.BlindIndex(vault.IndexPhone, phones[i]), AccountIndex: s.BlindIndex(vault.IndexAccount, accounts[i])})
	}
	// c-1 has c-2's phone index and c-3's account index, as if their values
	// collided: a lookup of c-2's phone finds c-1 first.
	cs[0].PhoneIndex, cs[0].AccountIndex = cs[1].PhoneIndex, cs[2].AccountIndex
	if err := st.Import(ctx, store.Batch{Customers: cs}); err != nil {
		t.Fatal(err)
	}
	sr := &storeResolver{st: st, v: v}
	br := batchStoreResolver{sr, st}
	for _, tc := range []struct {
		column string
		values []string
		want   []string
	}{
		{ColumnPhone, []string{phones[1], phones[2], "+8613800000009"}, []string{"c-2", "c-3", ""}},
		{ColumnAccount, []string{accounts[2], accounts[1]}, []string{"c-3", "c-2"}},
	} {
		got, err := br.ResolveBatch(ctx, tc.column, tc.values)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ResolveBatch(%s, %v) = %v, %v; want %v", tc.column, tc.values, got, err, tc.want)
		}
		for i, val := range tc.values {
			by := sr.ByPhone
			if tc.column == ColumnAccount {
				by = sr.ByAccount
			}
			if id, ok, err := by(ctx, val); err != nil || id != tc.want[i] || ok != (tc.want[i] != "") {
				t.Errorf("%s %q resolves to %q, %v, %v; want %q", tc.column, val, id, ok, err, tc.want[i])
			}
		}
	}
}
