package canary_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/canary"
	"github.com/custos-dev/custos/internal/canary/canarytest"
	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/store/sqlite"
	"github.com/custos-dev/custos/internal/vault"
)

// sampled gives a store the SampleCustomers method canary needs, drawing
// from the first n ids (the store's own method is not what is tested here).
type sampled struct {
	*sqlite.Store
	n int
}

func (s sampled) SampleCustomers(ctx context.Context, n int) ([]store.Customer, error) {
	var out []store.Customer
	for i := 1; i <= s.n && len(out) < n; i++ {
		c, err := s.Customer(ctx, fmt.Sprintf("c-%07d", i))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// world opens a store in a temporary dir with n real customers
// (c-0000001…, pinyin names, +86 phones, example.com accounts) and partner
// staff in two orgs at three sites, plus a company analyst.
func world(t testing.TB, n int) (*sqlite.Store, *vault.Vault) {
	st, v, err := newWorld(t.TempDir(), n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, v
}

func newWorld(dir string, n int) (*sqlite.Store, *vault.Vault, error) {
	ctx := context.Background()
	st, v, err := emptyWorld(dir)
	if err != nil {
		return nil, nil, err
	}
	var b store.Batch
	if b.Customers, err = importer.Customers(strings.NewReader(canarytest.CustomersCSV(n)), v); err == nil {
		if b.Principals, err = importer.Principals(strings.NewReader(canarytest.PrincipalsCSV), v); err == nil {
			err = importer.Load(ctx, st, b)
		}
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, v, nil
}

// emptyWorld opens an empty store in dir, and a vault on it.
func emptyWorld(dir string) (*sqlite.Store, *vault.Vault, error) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "custos.db"))
	if err != nil {
		return nil, nil, err
	}
	v, err := vault.Open(ctx, st, vault.NewKey())
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, v, nil
}

// TestSeedShape checks that canaries follow the real ids' pattern and
// range, have names, phones and accounts of the real shapes, collide with
// no real customer, and are marked with their scope and homed in it.
func TestSeedShape(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sample int // customers SampleCustomers may return
		like   string
	}{
		{"sampled", 150, ""},
		{"empty sample, probed", 0, ""},
		{"like", 0, "c-0000042"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, v := world(t, 150)
			cs, err := canary.Seed(ctx, sampled{st, tc.sample}, v, canary.Options{PerOrg: 3, PerSite: 2, Like: tc.like, Rand: rand.New(rand.NewPCG(1, 2))})
			if err != nil {
				t.Fatal(err)
			}
			// Orgs dist-1 and call-1 (not hq): 3 each; sites store-1, store-9, cc-1: 2 each.
			if orgs, sites := canary.Count(cs); orgs != 6 || sites != 6 {
				t.Fatalf("orgs %d, sites %d; want 6 and 6", orgs, sites)
			}
			idRE := regexp.MustCompile(`^c-0000(1[5-9][0-9]|2[0-9][0-9]|0[0-9][0-9])$`)
			homes := map[string][]string{"org:dist-1": {"store-1", "store-9"}, "org:call-1": {"cc-1"},
				"site:store-1": {"store-1"}, "site:store-9": {"store-9"}, "site:cc-1": {"cc-1"}}
			seen := map[string]bool{}
			for _, c := range cs {
				if !c.Canary || !strings.Contains(strings.Join(homes[c.Scope], " "), c.Site) || c.Site == "" {
					t.Errorf("%s: canary %v scope %q site %q", c.ID, c.Canary, c.Scope, c.Site)
				}
				if !idRE.MatchString(c.ID) || seen[c.ID] {
					t.Errorf("id %q: not of the real pattern and range, or repeated", c.ID)
				}
				seen[c.ID] = true
				if _, err := st.Customer(ctx, c.ID); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("id %s collides with a real customer", c.ID)
				}
				name, _ := v.Unseal(c, "name")
				phone, _ := v.Unseal(c, "phone")
				account, _ := v.Unseal(c, "account")
				if !regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][a-z]+$`).MatchString(name) ||
					!regexp.MustCompile(`^\+861700\d{7}$`).MatchString(phone) ||
					!regexp.MustCompile(`^[a-z]+\.[a-z]+\d+@example\.com$`).MatchString(account) {
					t.Errorf("%s: shape of %q %q %q is not the real one", c.ID, name, phone, account)
				}
				if _, err := st.CustomerByPhone(ctx, c.PhoneIndex); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("%s: phone collides", c.ID)
				}
			}
		})
	}
}

// TestSeedNoScopes: without partner staff there is nowhere to plant.
func TestSeedNoScopes(t *testing.T) {
	ctx := context.Background()
	st, v, err := emptyWorld(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := canary.Seed(ctx, sampled{st, 0}, v, canary.Options{PerOrg: 1, PerSite: 1, Rand: rand.New(rand.NewPCG(1, 2))})
	if err != nil || len(cs) != 0 {
		t.Fatalf("Seed = %d canaries, %v; want none", len(cs), err)
	}
}

// Example plants one canary per partner org and none per site, then loads
// them as any import is loaded.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "canary-example")
	defer os.RemoveAll(dir)
	st, v, err := newWorld(dir, 150)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	cs, err := canary.Seed(ctx, sampled{st, 150}, v, canary.Options{PerOrg: 1, Rand: rand.New(rand.NewPCG(7, 7))})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := importer.Load(ctx, st, store.Batch{Customers: cs}); err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range cs {
		fmt.Println(c.Scope, c.Canary)
	}
	// Output:
	// org:call-1 true
	// org:dist-1 true
}
