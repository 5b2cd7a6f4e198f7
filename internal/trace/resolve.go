package trace

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Resolver finds the customers a leaked row refers to. Values are passed
// normalised (see ParseLeak). Implementations look phones, accounts and names
// up through the vault's blind indexes; they must be safe for concurrent use,
// since values are resolved in parallel.
type Resolver interface {
	// ByID reports whether a customer with this id exists.
	ByID(ctx context.Context, id string) (customer string, ok bool, err error)
	// ByPhone returns the customer with this (E.164) phone.
	ByPhone(ctx context.Context, normalized string) (customer string, ok bool, err error)
	// ByAccount returns the customer with this account.
	ByAccount(ctx context.Context, normalized string) (customer string, ok bool, err error)
	// ByName returns every customer with this name.
	ByName(ctx context.Context, normalized string) ([]string, error)
}

// BatchResolver is a Resolver that can also resolve many values of one
// column at once, which is much cheaper against a database than one query
// per value. Resolve uses it when available.
type BatchResolver interface {
	Resolver
	// ResolveBatch returns, for each value of column (ColumnID,
	// ColumnPhone or ColumnAccount), the customer it belongs to, or "".
	ResolveBatch(ctx context.Context, column string, values []string) ([]string, error)
}

// Resolution is the outcome of resolving a leak's rows to customers.
type Resolution struct {
	// Customers are the distinct customers the rows resolve to, in order of
	// first appearance.
	Customers []string
	// Unresolved counts rows that matched no customer.
	Unresolved int
	// ByName counts rows resolved by name alone (the weakest evidence).
	ByName int
	// Ambiguous counts rows whose name alone matched several customers and
	// that were therefore left unresolved.
	Ambiguous int
}

// batchSize is how many values Resolve hands a BatchResolver at a time.
const batchSize = 1000

// Resolve resolves each row to at most one customer: by id, else phone,
// else account — the first that matches. A name is weak evidence: it is used
// only when no other value in the row resolves, and only if exactly one
// customer has that name. Each distinct value is looked up once, column by
// column, in parallel or in batches (see BatchResolver).
func Resolve(ctx context.Context, leak Leak, r Resolver) (Resolution, error) {
	rows := leak.Rows
	found := make([]string, len(rows)) // customer per row, "" while unresolved
	byName := make([]bool, len(rows))
	ambiguous := 0
	columns := []struct {
		name  string
		value func(Row) string
		one   func(context.Context, string) (string, bool, error)
	}{
		{ColumnID, func(r Row) string { return r.ID }, r.ByID},
		{ColumnPhone, func(r Row) string { return r.Phone }, r.ByPhone},
		{ColumnAccount, func(r Row) string { return r.Account }, r.ByAccount},
	}
	for _, col := range columns {
		// Distinct values of rows still unresolved.
		index := map[string]int{}
		var values []string
		for i, row := range rows {
			if v := col.value(row); v != "" && found[i] == "" {
				if _, ok := index[v]; !ok {
					index[v] = len(values)
					values = append(values, v)
				}
			}
		}
		if len(values) == 0 {
			continue
		}
		ids, err := lookupAll(ctx, r, col.name, values, col.one)
		if err != nil {
			return Resolution{}, fmt.Errorf("resolve leak %s column: %w", col.name, err)
		}
		for i, row := range rows {
			if v := col.value(row); v != "" && found[i] == "" {
				found[i] = ids[index[v]]
			}
		}
	}
	// Names, for rows nothing else resolved.
	names := map[string][]string{}
	for i, row := range rows {
		if found[i] != "" || row.Name == "" {
			continue
		}
		ids, ok := names[row.Name]
		if !ok {
			var err error
			if ids, err = r.ByName(ctx, row.Name); err != nil {
				return Resolution{}, fmt.Errorf("resolve leak line %d: %w", row.Line, err)
			}
			names[row.Name] = ids
		}
		switch len(ids) {
		case 0:
		case 1:
			found[i], byName[i] = ids[0], true
		default:
			ambiguous++
		}
	}
	res := Resolution{Ambiguous: ambiguous}
	seen := make(map[string]struct{}, len(rows))
	for i, id := range found {
		if id == "" {
			res.Unresolved++
			continue
		}
		if byName[i] {
			res.ByName++
		}
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			res.Customers = append(res.Customers, id)
		}
	}
	return res, nil
}

// lookupAll resolves values of one column: in batches if r is a
// BatchResolver, else one by one on a few goroutines. The result holds the
// customer per value, "" for none.
func lookupAll(ctx context.Context, r Resolver, column string, values []string, one func(context.Context, string) (string, bool, error)) ([]string, error) {
	out := make([]string, len(values))
	br, batched := r.(BatchResolver)
	// Work is split in units: batches for a BatchResolver, single values
	// otherwise; a few goroutines take units in turn.
	unit := 1
	if batched {
		unit = batchSize
	}
	units := (len(values) + unit - 1) / unit
	workers := min(runtime.GOMAXPROCS(0)*2, units)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		errOnce  sync.Once
		firstErr error
	)
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				u := int(next.Add(1) - 1)
				if u >= units {
					return
				}
				lo, hi := u*unit, min((u+1)*unit, len(values))
				if batched {
					ids, err := br.ResolveBatch(ctx, column, values[lo:hi])
					if err == nil && len(ids) != hi-lo {
						err = fmt.Errorf("resolver returned %d results for %d values", len(ids), hi-lo)
					}
					if err != nil {
						fail(err)
						return
					}
					copy(out[lo:hi], ids)
					continue
				}
				id, ok, err := one(ctx, values[lo])
				if err != nil {
					fail(err)
					return
				}
				if ok {
					out[lo] = id
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
