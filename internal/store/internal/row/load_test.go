package row

import (
	"slices"
	"testing"

	"github.com/custos-dev/custos/internal/store"
)

// TestIDOrder: the ids ascend until one is not greater than the one before,
// and stay unsorted after; Ascends looks ahead without noting.
func TestIDOrder(t *testing.T) {
	rows := func(ids ...string) []store.StagedCustomer {
		var out []store.StagedCustomer
		for _, id := range ids {
			out = append(out, store.StagedCustomer{Customer: store.Customer{ID: id}})
		}
		return out
	}
	var o IDOrder
	if !o.Ascending() || !o.Ascends(rows("b", "c")) || o.Ascends(rows("b", "b")) {
		t.Fatal("a new IDOrder: want ascending, and a look ahead that sees a repeat")
	}
	o.Note("b")
	if !o.Ascends(rows("c", "d")) || o.Ascends(rows("a")) || o.Ascends(rows("b")) || !o.Ascending() {
		t.Fatal("after b: want c, d to ascend and a or b not, and nothing noted")
	}
	o.Note("a")
	o.Note("z")
	if o.Ascending() || o.Ascends(rows("zz")) {
		t.Error("after b, a, z: want unsorted for good")
	}
}

func TestRebuildIndexes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		upsert bool
		staged int
		stored float64
		want   bool
	}{
		{"first load", false, 1000, 0, true},
		{"a quarter", false, 250, 1000, true},
		{"less", false, 249, 1000, false},
		{"nothing staged", false, 0, 0, false},
		{"upsert", true, 1000, 0, false},
	} {
		if got := RebuildIndexes(store.LoadOptions{Upsert: tc.upsert}, tc.staged, tc.stored); got != tc.want {
			t.Errorf("%s: RebuildIndexes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReplaced(t *testing.T) {
	p, a := store.IndexInt([]byte("phone-01")), store.IndexInt([]byte("acct-001"))
	c := store.Customer{PhoneIndex: []byte("phone-01"), AccountIndex: []byte("acct-002")}
	for _, tc := range []struct {
		name           string
		c              store.Customer
		phone, account *int64
		want           []Former
	}{
		{"nothing stored", c, nil, nil, nil},
		{"account changed", c, &p, &a, []Former{{store.FormerAccount, a}}},
		{"both dropped", store.Customer{}, &p, &a, []Former{{store.FormerPhone, p}, {store.FormerAccount, a}}},
	} {
		if got := Replaced(tc.c, tc.phone, tc.account); !slices.Equal(got, tc.want) {
			t.Errorf("%s: Replaced = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestUnresolved(t *testing.T) {
	keys := [][]byte{[]byte("phone-01"), nil, []byte("phone-02"), []byte("phone-03")}
	res := store.NewLookup(store.FormerPhone, keys)
	res.FoundIndex(store.IndexInt(keys[2]), "c-2", false)
	want := []int64{store.IndexInt(keys[0]), store.IndexInt(keys[3])}
	if got := Unresolved(store.FormerPhone, keys, res); !slices.Equal(got, want) {
		t.Errorf("Unresolved(phone) = %v, want %v", got, want)
	}
	if got := Unresolved("name", keys, res); got != nil {
		t.Errorf("Unresolved(name) = %v, want none: names keep no former indexes", got)
	}
}
