package row

import "github.com/custos-dev/custos/internal/store"

// This file holds what the SQL stores share about writing customers in
// bulk (store.CustomerLoader) and one at a time (store.CustomerWriter):
// the decisions; each store has its own SQL.

// IDOrder follows the ids of a load's rows in the order they are staged.
// While each is greater than the one before (a file sorted by id, the usual
// export), no id can repeat and the rows are already in key order, so a
// store can skip the duplicate check and the sort. The zero IDOrder is
// ready to use.
type IDOrder struct {
	last     string
	started  bool
	unsorted bool
}

// Note notes the id of the next row staged.
func (o *IDOrder) Note(id string) {
	if o.started && id <= o.last {
		o.unsorted = true
	}
	o.last, o.started = id, true
}

// Ascending reports whether each id noted was greater than the one before.
func (o *IDOrder) Ascending() bool { return !o.unsorted }

// Ascends reports whether rows, noted next, would keep the ids ascending.
func (o *IDOrder) Ascends(rows []store.StagedCustomer) bool {
	next := *o
	for _, r := range rows {
		next.Note(r.ID)
	}
	return next.Ascending()
}

// RebuildIndexes reports whether a load that switches staged rows into a
// table of about stored rows drops the lookup indexes and builds them
// again after, rather than updating them row by row: a full load does when
// that is cheaper, which is when it brings at least a quarter as many rows
// as the table holds. An upsert keeps them.
func RebuildIndexes(opt store.LoadOptions, staged int, stored float64) bool {
	return !opt.Upsert && staged > 0 && float64(staged)*4 >= stored
}

// Former is a blind index, as stored, that a write replaces and the store
// keeps (store.FormerIndexes).
type Former struct {
	Kind string // store.FormerPhone or store.FormerAccount
	Idx  int64
}

// Replaced returns the former indexes to keep when c replaces a stored
// customer whose phone and account indexes are phone and account (as
// stored, nil for none): each of them that c does not have.
func Replaced(c store.Customer, phone, account *int64) []Former {
	var out []Former
	for _, f := range []struct {
		kind string
		old  *int64
		cur  []byte
	}{{store.FormerPhone, phone, c.PhoneIndex}, {store.FormerAccount, account, c.AccountIndex}} {
		if f.old != nil && (len(f.cur) == 0 || *f.old != store.IndexInt(f.cur)) {
			out = append(out, Former{f.kind, *f.old})
		}
	}
	return out
}

// Unresolved returns, as stored, the keys of a lookup of kind that res has
// not resolved, for the stores to look up among the former indexes; none
// unless kind has former indexes.
func Unresolved(kind string, keys [][]byte, res *store.Lookup) []int64 {
	if kind != store.FormerPhone && kind != store.FormerAccount {
		return nil
	}
	var miss []int64
	for i, k := range keys {
		if res.IDs[i] == "" && len(k) > 0 {
			miss = append(miss, store.IndexInt(k))
		}
	}
	return miss
}
