package trace

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Resolver finds the customers a leaked row refers to. Values are passed
// normalised (see ParseLeak). Implementations look phones, accounts and names
// up through the vault's blind indexes; they must be safe for concurrent use,
// since rows are resolved in parallel.
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

// rowResult is one row's outcome.
type rowResult struct {
	customer string
	byName   bool
	ambig    bool
}

// Resolve resolves each row to at most one customer: by id, else phone,
// else account — the first that matches. A name is weak evidence: it is used
// only when no other value in the row resolves, and only if exactly one
// customer has that name. Rows are resolved concurrently.
func Resolve(ctx context.Context, leak Leak, r Resolver) (Resolution, error) {
	results := make([]rowResult, len(leak.Rows))
	workers := runtime.GOMAXPROCS(0) * 2
	if workers > len(leak.Rows) {
		workers = len(leak.Rows)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	chunk := (len(leak.Rows) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(leak.Rows))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				if i&1023 == 0 && ctx.Err() != nil {
					return
				}
				res, err := resolveRow(ctx, leak.Rows[i], r)
				if err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("resolve leak line %d: %w", leak.Rows[i].Line, err); cancel() })
					return
				}
				results[i] = res
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return Resolution{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return Resolution{}, fmt.Errorf("resolve leak: %w", err)
	}
	var res Resolution
	seen := make(map[string]struct{}, len(results))
	for _, rr := range results {
		switch {
		case rr.customer == "":
			res.Unresolved++
			if rr.ambig {
				res.Ambiguous++
			}
			continue
		case rr.byName:
			res.ByName++
		}
		if _, ok := seen[rr.customer]; !ok {
			seen[rr.customer] = struct{}{}
			res.Customers = append(res.Customers, rr.customer)
		}
	}
	return res, nil
}

func resolveRow(ctx context.Context, row Row, r Resolver) (rowResult, error) {
	type lookup struct {
		v  string
		fn func(context.Context, string) (string, bool, error)
	}
	for _, l := range []lookup{{row.ID, r.ByID}, {row.Phone, r.ByPhone}, {row.Account, r.ByAccount}} {
		if l.v == "" {
			continue
		}
		id, ok, err := l.fn(ctx, l.v)
		if err != nil {
			return rowResult{}, err
		}
		if ok {
			return rowResult{customer: id}, nil
		}
	}
	if row.Name == "" {
		return rowResult{}, nil
	}
	ids, err := r.ByName(ctx, row.Name)
	if err != nil {
		return rowResult{}, err
	}
	switch len(ids) {
	case 0:
		return rowResult{}, nil
	case 1:
		return rowResult{customer: ids[0], byName: true}, nil
	default:
		return rowResult{ambig: true}, nil
	}
}
