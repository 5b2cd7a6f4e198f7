// Package demo builds the synthetic world of "custos demo" and replays its
// work through the real gateway handlers.
//
// The world comes from the detectors' scenario generator (internal/detect/
// scenario): partner companies across several provinces, stores and call
// centres, employees with shifts, customers, hidden insiders of several
// kinds and legitimate look-alikes. This package gives it what a gateway
// needs besides events: plausible but clearly fake personal data (names
// from a small pinyin list, phone numbers in the +86 170 0 range, accounts
// at example.com), API tokens from crypto/rand, canary records, and staff
// for the security, privacy and audit roles.
package demo

import (
	"crypto/rand"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sort"
	"strings"

	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// Customer is one customer of the demo world, in the clear (it is sealed
// on import like any other).
type Customer struct {
	ID, Name, Phone, Account, Region, Site string
	Canary                                 bool
}

// Principal is one principal with its API token.
type Principal struct {
	ID, Name, Org, OrgKind, Role, Site, Region, Token string
}

// World is everything the demo imports and replays.
type World struct {
	Customers  []Customer
	Principals []Principal
	Events     []event.Event // the scenario's work, in time order
	Insiders   []scenario.Insider
	Traps      map[string]string
	byID       map[string]int
}

// Options size the world.
type Options struct {
	Customers int
	Days      int
	Seed      uint64
}

var (
	surnames = []string{"Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"}
	given    = []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Tao", "Ming", "Hui", "Qiang", "Xiu", "Ping", "Gang", "Hong", "Yun", "Bo", "Lan", "Kai", "Ning", "Xin", "Yu", "Hao", "Jie"}
)

// Token returns a fresh random API token with a readable prefix.
func Token(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("demo: internal error: crypto/rand: " + err.Error())
	}
	return prefix + "_" + hex.EncodeToString(b[:])
}

// Build generates the world.
func Build(o Options) *World {
	if o.Customers <= 0 {
		o.Customers = 50000
	}
	if o.Days <= 0 {
		o.Days = 7
	}
	people := max(30, o.Customers/220)
	w := &World{byID: map[string]int{}}
	sc := scenario.Generate(scenario.Params{Seed: o.Seed, People: people, Days: o.Days}, func(ev event.Event) {
		w.Events = append(w.Events, ev)
	})
	w.Insiders, w.Traps = sc.Insiders, sc.Traps
	r := mrand.New(mrand.NewPCG(o.Seed, 0xdecade))
	sites := map[string]string{} // site → region
	add := func(id, region, site string, canary bool) {
		if _, ok := w.byID[id]; ok || id == "" {
			return
		}
		n := len(w.Customers)
		sur, giv := surnames[r.IntN(len(surnames))], given[r.IntN(len(given))]
		w.Customers = append(w.Customers, Customer{
			ID: id, Region: region, Site: site, Canary: canary,
			Name:    sur + " " + giv,
			Phone:   fmt.Sprintf("+861700%07d", n+1),
			Account: fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(giv), strings.ToLower(sur), n+1),
		})
		w.byID[id] = n
	}
	for _, ev := range w.Events {
		if ev.Customer != "" {
			add(ev.Customer, ev.CustomerRegion, ev.CustomerSite, ev.Canary)
		}
		if strings.HasPrefix(ev.Site, "store-") {
			sites[ev.Site] = ev.Region
		}
	}
	siteList := make([]string, 0, len(sites))
	for s := range sites {
		siteList = append(siteList, s)
	}
	sort.Strings(siteList)
	for i := 0; len(w.Customers) < o.Customers && len(siteList) > 0; i++ {
		s := siteList[r.IntN(len(siteList))]
		add(fmt.Sprintf("c-%07d", 9_100_000+i), sites[s], s, false)
	}
	// Canaries: one per store, seen by nobody but a leak.
	for i, s := range siteList {
		add(fmt.Sprintf("c-%07d", 9_900_000+i), sites[s], s, true)
	}
	for _, p := range sc.People {
		w.Principals = append(w.Principals, Principal{ID: p.ID, Name: "Employee " + p.ID, Org: p.Org, OrgKind: p.OrgKind,
			Role: p.Role, Site: p.Site, Region: p.Region, Token: Token("demo")})
	}
	w.Principals = append(w.Principals,
		Principal{ID: "svc-crm", Name: "CRM integration", Org: "hq", OrgKind: "company", Role: "integration", Site: "hq", Region: "SH", Token: Token("crm")},
		Principal{ID: "sec-analyst", Name: "Security analyst", Org: "hq", OrgKind: "company", Role: "security_analyst", Region: "SH", Token: Token("sec")},
		Principal{ID: "privacy-officer", Name: "Privacy officer", Org: "hq", OrgKind: "company", Role: "privacy_officer", Region: "SH", Token: Token("priv")},
		Principal{ID: "auditor", Name: "Auditor", Org: "hq", OrgKind: "company", Role: "auditor", Region: "SH", Token: Token("aud")},
		Principal{ID: "scim", Name: "Identity provider", Org: "hq", OrgKind: "company", Role: "provisioner", Region: "SH", Token: Token("scim")},
	)
	return w
}

// Customer returns a customer by id.
func (w *World) Customer(id string) (Customer, bool) {
	i, ok := w.byID[id]
	if !ok {
		return Customer{}, false
	}
	return w.Customers[i], true
}

// Principal returns the first principal with the role.
func (w *World) ByRole(role string) (Principal, bool) {
	for _, p := range w.Principals {
		if p.Role == role {
			return p, true
		}
	}
	return Principal{}, false
}

// WriteCustomersCSV writes customers.csv (the contract's format).
func (w *World) WriteCustomersCSV(out io.Writer) error {
	cw := csv.NewWriter(out)
	cw.Write([]string{"id", "name", "phone", "account", "region", "site"})
	for _, c := range w.Customers {
		cw.Write([]string{c.ID, c.Name, c.Phone, c.Account, c.Region, c.Site})
	}
	cw.Flush()
	return cw.Error()
}

// WritePrincipalsCSV writes principals.csv with tokens.
func (w *World) WritePrincipalsCSV(out io.Writer) error {
	cw := csv.NewWriter(out)
	cw.Write([]string{"id", "name", "org", "org_kind", "role", "site", "region", "token"})
	for _, p := range w.Principals {
		cw.Write([]string{p.ID, p.Name, p.Org, p.OrgKind, p.Role, p.Site, p.Region, p.Token})
	}
	cw.Flush()
	return cw.Error()
}
