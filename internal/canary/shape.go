package canary

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// shape is what canaries copy from real customers: a sample of them,
// unsealed, and their id pattern.
type shape struct {
	samples []sample
	prefix  string // id prefix before the number ("c-")
	width   int    // digits of the number, zero-padded
	lo, hi  int    // range of the numbers seen
	regions []string
}

type sample struct{ name, phone, account string }

func (s *shape) region(rng *rand.Rand) string {
	if len(s.regions) == 0 {
		return "GD"
	}
	return s.regions[rng.IntN(len(s.regions))]
}

func (s *shape) id(x int) string { return fmt.Sprintf("%s%0*d", s.prefix, s.width, x) }

// shapeSample is how many real customers learnShape unseals.
const shapeSample = 200

// learnShape samples real (non-canary) customers (st.SampleCustomers) and
// unseals them to learn their shape. The id pattern is like's, else the
// sample's most common, else c-0000001. Since the store offers no listing
// of customers, by design, it finds the range of the ids' numbers by
// probing: like's number, or the pattern's first numbers when the sample
// is empty, then galloping past the highest number known.
func learnShape(ctx context.Context, st Store, v *vault.Vault, like string) (*shape, error) {
	sh := &shape{lo: -1, hi: -1}
	seen := map[string]bool{}
	patterns := map[string]int{} // prefix + "\x00" + width → ids
	var ids []string
	add := func(c store.Customer) {
		if seen[c.ID] || c.Canary || len(ids) >= shapeSample {
			return
		}
		seen[c.ID] = true
		rec, err := v.Record(c.ID, c.Key)
		if err != nil {
			return
		}
		name, err1 := rec.Unseal("name", c.Name)
		phone, err2 := rec.Unseal("phone", c.Phone)
		account, err3 := rec.Unseal("account", c.Account)
		if err1 == nil && err2 == nil && err3 == nil {
			ids = append(ids, c.ID)
			sh.samples = append(sh.samples, sample{name, phone, account})
			sh.regions = append(sh.regions, c.Region)
			prefix, digits := splitID(c.ID)
			patterns[prefix+"\x00"+strconv.Itoa(len(digits))]++
		}
	}
	// exists looks a customer up and, if real, samples it.
	exists := func(id string) (bool, error) {
		c, err := st.Customer(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("sample customers: %w", err)
		}
		add(c)
		return true, nil
	}
	cs, err := st.SampleCustomers(ctx, shapeSample)
	if err != nil {
		return nil, fmt.Errorf("sample customers: %w", err)
	}
	for _, c := range cs {
		add(c)
	}
	best, n := "c-\x007", 0
	for p, c := range patterns {
		if c > n || c == n && p < best {
			best, n = p, c
		}
	}
	if like != "" {
		p, digits := splitID(like)
		best = p + "\x00" + strconv.Itoa(max(len(digits), 1))
	}
	prefix, w, _ := strings.Cut(best, "\x00")
	sh.prefix, sh.width = prefix, atoiOr(w, 7)
	for _, id := range ids {
		p, digits := splitID(id)
		if p != sh.prefix || len(digits) != sh.width {
			continue
		}
		x := atoiOr(digits, 0)
		if sh.lo < 0 || x < sh.lo {
			sh.lo = x
		}
		sh.hi = max(sh.hi, x)
	}
	if sh.lo < 0 {
		_, digits := splitID(like)
		sh.lo = atoiOr(digits, 1)
		if ok, err := exists(sh.id(sh.lo)); err != nil {
			return nil, err
		} else if !ok {
			sh.lo = -1
		}
	}
	if sh.lo < 0 {
		// Nothing known: probe the first numbers of the pattern.
		for x := 0; x <= 200; x++ {
			ok, err := exists(sh.id(x))
			if err != nil {
				return nil, err
			}
			if ok {
				if sh.lo < 0 {
					sh.lo = x
				}
				sh.hi = x
			}
		}
		if sh.lo < 0 {
			sh.lo, sh.hi = 1, 1
		}
	}
	sh.hi = max(sh.hi, sh.lo)
	// Gallop past the highest number known to find where the ids end.
	limit := 1
	for range sh.width {
		limit *= 10
	}
	for step := 1; sh.hi+step < limit; step *= 2 {
		ok, err := exists(sh.id(sh.hi + step))
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		sh.hi += step
	}
	// Then sample neighbours of what was found, if the sample was small.
	for x := sh.lo; x <= sh.hi && len(ids) < shapeSample/4 && x < sh.lo+2000; x++ {
		if _, err := exists(sh.id(x)); err != nil {
			return nil, err
		}
	}
	return sh, nil
}

// splitID splits an id into its prefix and trailing digits.
func splitID(id string) (string, string) {
	i := len(id)
	for i > 0 && id[i-1] >= '0' && id[i-1] <= '9' {
		i--
	}
	return id[:i], id[i:]
}

func atoiOr(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
