// Package canary makes canary records: synthetic customers planted per
// partner org and per site, so that their appearance in a leaked list points
// at where it came from.
//
// Canaries look like the real customers around them — the same id pattern
// and range, names, phone numbers and accounts of the same shapes — and are
// sealed and indexed by the same vault, through the import path, so nothing
// in the store tells them apart except the Canary mark and Scope that only
// custos reads. Each is homed at a site of its scope, so the usual purpose
// rules show it only there.
//
// Seed plans them; the caller loads them (importer.Load), all or nothing.
package canary

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// Store is what seeding reads from the store. store.Store implementations
// provide it.
type Store interface {
	// Principals lists every principal; their orgs and sites are where
	// canaries go.
	Principals(ctx context.Context) ([]store.Principal, error)
	// SampleCustomers returns up to n real (non-canary) customers drawn at
	// random, without reading the whole table. Their shapes are copied.
	SampleCustomers(ctx context.Context, n int) ([]store.Customer, error)
	// Customer, CustomerByPhone and CustomerByAccount return
	// store.ErrNotFound for values no customer holds; canaries take only
	// such values.
	Customer(ctx context.Context, id string) (store.Customer, error)
	CustomerByPhone(ctx context.Context, index []byte) (store.Customer, error)
	CustomerByAccount(ctx context.Context, index []byte) (store.Customer, error)
}

// Options says how many canaries to plant and how.
type Options struct {
	// PerOrg canaries go to each partner org (every org kind but company),
	// PerSite to each site where partner staff work.
	PerOrg, PerSite int
	// Like is an example real customer id whose pattern canary ids follow.
	// Optional: by default the pattern is learned from a sample, else
	// c-0000001.
	Like string
	// Rand draws everything random. Optional: by default it is seeded from
	// crypto/rand, so that canaries cannot be predicted (tests give a fixed
	// seed).
	Rand *rand.Rand
}

// Seed builds opt.PerOrg canaries for each partner org and opt.PerSite for
// each site, shaped like a sample of the real customers and sealed with v,
// in a stable order: orgs first, then sites. Each has Canary set and Scope
// "org:<org>" or "site:<site>". It writes nothing; it returns no canaries
// when there are no partner orgs or sites yet.
func Seed(ctx context.Context, st Store, v *vault.Vault, opt Options) ([]store.Customer, error) {
	ps, err := st.Principals(ctx)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	orgs, sites := scopes(ps)
	sh, err := learnShape(ctx, st, v, opt.Like)
	if err != nil {
		return nil, err
	}
	rng := opt.Rand
	if rng == nil {
		var seed [16]byte
		if _, err := crand.Read(seed[:]); err != nil {
			return nil, fmt.Errorf("canary seed: %w", err)
		}
		rng = rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	}
	g := &generator{st: st, v: v, shape: sh, rng: rng, taken: map[string]bool{}}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(importer.CustomerHeader)
	var scopeOf []string
	plant := func(sc scope, n int) error {
		for range n {
			home := siteRegion{}
			if len(sc.sites) > 0 {
				home = sc.sites[rng.IntN(len(sc.sites))]
			}
			if home.region == "" {
				home.region = sh.region(rng)
			}
			c, err := g.next(ctx)
			if err != nil {
				return err
			}
			cw.Write([]string{c.id, c.name, c.phone, c.account, home.region, home.site})
			scopeOf = append(scopeOf, sc.scope)
		}
		return nil
	}
	for _, sc := range orgs {
		if err := plant(sc, opt.PerOrg); err != nil {
			return nil, err
		}
	}
	for _, sc := range sites {
		if err := plant(sc, opt.PerSite); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	if len(scopeOf) == 0 {
		return nil, nil
	}
	// The import path seals and indexes them exactly as real customers.
	cs, err := importer.Customers(&buf, v)
	if err != nil {
		return nil, fmt.Errorf("build canaries: %w", err)
	}
	for i := range cs {
		cs[i].Canary, cs[i].Scope = true, scopeOf[i]
	}
	return cs, nil
}

// Count returns how many of cs are planted in orgs and how many at sites.
func Count(cs []store.Customer) (orgs, sites int) {
	for _, c := range cs {
		if strings.HasPrefix(c.Scope, "org:") {
			orgs++
		} else {
			sites++
		}
	}
	return orgs, sites
}

// scope is where canaries are planted: an org or a site, and the sites
// (with their regions) its canaries may be homed at.
type scope struct {
	scope string
	sites []siteRegion
}

type siteRegion struct{ site, region string }

// scopes lists partner orgs (every org kind but company) and the sites of
// their people, in a stable order. A site's region is its people's most
// common one.
func scopes(ps []store.Principal) (orgs, sites []scope) {
	regionVotes := map[string]map[string]int{} // site → region → people
	orgSites := map[string]map[string]bool{}
	for _, p := range ps {
		if p.OrgKind == "company" || p.Org == "" {
			continue
		}
		if orgSites[p.Org] == nil {
			orgSites[p.Org] = map[string]bool{}
		}
		if p.Site == "" {
			continue
		}
		orgSites[p.Org][p.Site] = true
		if regionVotes[p.Site] == nil {
			regionVotes[p.Site] = map[string]int{}
		}
		regionVotes[p.Site][p.Region]++
	}
	regionOf := func(site string) string {
		best, n := "", -1
		for r, c := range regionVotes[site] {
			if c > n || c == n && r < best {
				best, n = r, c
			}
		}
		return best
	}
	for _, site := range sortedKeys(regionVotes) {
		sites = append(sites, scope{scope: "site:" + site, sites: []siteRegion{{site, regionOf(site)}}})
	}
	for _, org := range sortedKeys(orgSites) {
		sc := scope{scope: "org:" + org}
		for _, site := range sortedKeys(orgSites[org]) {
			sc.sites = append(sc.sites, siteRegion{site, regionOf(site)})
		}
		orgs = append(orgs, sc)
	}
	return orgs, sites
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
