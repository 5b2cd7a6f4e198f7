package main

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/custos-dev/custos/internal/importer"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// cmdCanary manages canary records: synthetic customers planted per org or
// site, so that their appearance in a leak points at where it came from.
func cmdCanary(ctx context.Context, env *Env, args []string) int {
	const synopsis = "canary seed [--data DIR | --db URL] [--per-org N] [--per-site N] [--like ID] [--list]"
	if len(args) == 0 {
		fmt.Fprintf(env.Stderr, "Usage: custos %s\n", synopsis)
		return exitUsage
	}
	switch args[0] {
	case "seed":
		return canarySeed(ctx, env, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprintf(env.Stdout, "Usage: custos %s\n\nPlants synthetic customers, shaped like the real ones, in each partner org and store.\nRun \"custos canary seed --help\" for the flags.\n", synopsis)
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "custos canary: unknown subcommand %q (want seed)\n", args[0])
	return exitUsage
}

// canarySeed plants canaries: per partner org and per site, customers that
// look like the real ones (same id pattern, name, phone and account shapes,
// sealed and indexed by the same vault), each homed at a site of its scope,
// so the usual purpose rules show it only there.
func canarySeed(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "canary seed", "canary seed [--data DIR | --db URL] [--per-org N] [--per-site N] [--like ID] [--list]")
	var sf storeFlags
	sf.register(fs)
	perOrg := fs.Int("per-org", 1, "canaries per partner org (`N`)")
	perSite := fs.Int("per-site", 1, "canaries per site (`N`)")
	list := fs.Bool("list", false, "print each canary's id and scope (keep that list with the security team)")
	like := fs.String("like", "", "an example real customer `id`, whose pattern canary ids follow (default: learned from the audit log, else c-0000001)")
	if code, stop := parseFlags(fs, env, args); stop {
		return code
	}
	if *perOrg < 0 || *perSite < 0 || *perOrg > 1000 || *perSite > 1000 {
		fmt.Fprintln(env.Stderr, "custos canary seed: --per-org and --per-site must be between 0 and 1000")
		return exitUsage
	}
	if *perOrg == 0 && *perSite == 0 {
		fmt.Fprintln(env.Stderr, "custos canary seed: nothing to seed: --per-org and --per-site are both 0")
		return exitUsage
	}
	if err := storeExists(sf); err != nil {
		return fail(env, "canary seed", exitUsage, err)
	}
	st, err := openStore(ctx, sf)
	if err != nil {
		return fail(env, "canary seed", exitUsage, err)
	}
	defer st.Close()
	v, err := openVault(ctx, env, sf, st)
	if err != nil {
		return fail(env, "canary seed", exitUsage, err)
	}
	var seed [16]byte
	_, _ = crand.Read(seed[:])
	rng := rand.New(rand.NewPCG(binary.LittleEndian.Uint64(seed[:8]), binary.LittleEndian.Uint64(seed[8:])))
	cs, err := seedCanaries(ctx, st, v, rng, *perOrg, *perSite, *like)
	if err != nil {
		return fail(env, "canary seed", exitFail, err)
	}
	if len(cs) == 0 {
		fmt.Fprintln(env.Stderr, "custos canary seed: no partner orgs or sites yet: import principals first")
		return exitUsage
	}
	if err := importer.Load(ctx, st, store.Batch{Customers: cs}); err != nil {
		return fail(env, "canary seed", exitFail, err)
	}
	orgs, sites := 0, 0
	for _, c := range cs {
		if strings.HasPrefix(c.Scope, "org:") {
			orgs++
		} else {
			sites++
		}
	}
	fmt.Fprintf(env.Stdout, "seeded %d canary records: %d in partner orgs, %d at sites\n", len(cs), orgs, sites)
	if *list {
		for _, c := range cs {
			fmt.Fprintf(env.Stdout, "%s\t%s\n", c.ID, c.Scope)
		}
	}
	return exitOK
}

// canaryScope is where canaries are planted: an org or a site, and the
// sites (with their regions) its canaries may be homed at.
type canaryScope struct {
	scope string
	sites []siteRegion
}

type siteRegion struct{ site, region string }

// canaryScopes lists partner orgs (every org kind but company) and the
// sites of their people, in a stable order.
func canaryScopes(ps []store.Principal) (orgs, sites []canaryScope) {
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
		sites = append(sites, canaryScope{scope: "site:" + site, sites: []siteRegion{{site, regionOf(site)}}})
	}
	for _, org := range sortedKeys(orgSites) {
		sc := canaryScope{scope: "org:" + org}
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

// seedCanaries builds perOrg canaries for each partner org and perSite for
// each site, shaped like a sample of the real customers, sealed with v.
func seedCanaries(ctx context.Context, st store.Store, v *vault.Vault, rng *rand.Rand, perOrg, perSite int, like string) ([]store.Customer, error) {
	ps, err := st.Principals(ctx)
	if err != nil {
		return nil, fmt.Errorf("list principals: %w", err)
	}
	orgs, sites := canaryScopes(ps)
	sh, err := learnShape(ctx, st, v, like)
	if err != nil {
		return nil, err
	}
	g := &canaryGen{st: st, v: v, shape: sh, rng: rng, taken: map[string]bool{}}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.Write(importer.CustomerHeader)
	var scopes []string
	plant := func(sc canaryScope, n int) error {
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
			scopes = append(scopes, sc.scope)
		}
		return nil
	}
	for _, sc := range orgs {
		if err := plant(sc, perOrg); err != nil {
			return nil, err
		}
	}
	for _, sc := range sites {
		if err := plant(sc, perSite); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	// The import path seals and indexes them exactly as real customers.
	cs, err := importer.Customers(&buf, v)
	if err != nil {
		return nil, fmt.Errorf("build canaries: %w", err)
	}
	for i := range cs {
		cs[i].Canary, cs[i].Scope = true, scopes[i]
	}
	return cs, nil
}

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

// shapeSample is how many real customers learnShape unseals.
const shapeSample = 200

// learnShape samples real (non-canary) customers — from the most recent
// audit records, else by probing ids of the pattern of like (or of the
// audit's ids, or c-0000001) since the store offers no listing of
// customers, by design — and unseals them to learn their shape. It also
// finds the range of the ids' numbers, by galloping past the highest seen.
func learnShape(ctx context.Context, st store.Store, v *vault.Vault, like string) (*shape, error) {
	sh := &shape{lo: -1, hi: -1}
	seen := map[string]bool{}
	patterns := map[string]int{} // prefix + "\x00" + width → ids
	var ids []string
	// exists looks a customer up and, if real, samples it.
	exists := func(id string) (bool, error) {
		c, err := st.Customer(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("sample customers: %w", err)
		}
		if seen[id] || c.Canary || len(ids) >= shapeSample {
			return true, nil
		}
		seen[id] = true
		name, err1 := v.Unseal(c.ID, "name", c.Name)
		phone, err2 := v.Unseal(c.ID, "phone", c.Phone)
		account, err3 := v.Unseal(c.ID, "account", c.Account)
		if err1 == nil && err2 == nil && err3 == nil {
			ids = append(ids, id)
			sh.samples = append(sh.samples, sample{name, phone, account})
			sh.regions = append(sh.regions, c.Region)
			prefix, digits := splitID(id)
			patterns[prefix+"\x00"+strconv.Itoa(len(digits))]++
		}
		return true, nil
	}
	size, err := st.AuditSize(ctx)
	if err != nil {
		return nil, fmt.Errorf("sample customers: %w", err)
	}
	for to := size; to > 0 && len(ids) < shapeSample && size-to < 200_000; {
		from := to - min(to, 5000)
		recs, err := st.AuditRange(ctx, from, to)
		if err != nil {
			return nil, fmt.Errorf("sample customers: %w", err)
		}
		for i := len(recs) - 1; i >= 0 && len(ids) < shapeSample; i-- {
			if id := recs[i].Customer; id != "" && !seen[id] {
				if _, err := exists(id); err != nil {
					return nil, err
				}
			}
		}
		to = from
	}
	// The id pattern: like's, else the audit's most common, else c-0000001.
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
	idOf := func(x int) string { return fmt.Sprintf("%s%0*d", sh.prefix, sh.width, x) }
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
		if ok, err := exists(idOf(sh.lo)); err != nil {
			return nil, err
		} else if !ok {
			sh.lo = -1
		}
	}
	if sh.lo < 0 {
		// Nothing known: probe the first numbers of the pattern.
		for x := 0; x <= 200; x++ {
			ok, err := exists(idOf(x))
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
		ok, err := exists(idOf(sh.hi + step))
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		sh.hi += step
	}
	// Then sample neighbours of what was found, if the audit gave few.
	for x := sh.lo; x <= sh.hi && len(ids) < shapeSample/4 && x < sh.lo+2000; x++ {
		if _, err := exists(idOf(x)); err != nil {
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

// canaryGen makes canary identities that collide with no customer.
type canaryGen struct {
	st    store.Store
	shape *shape
	rng   *rand.Rand
	v     *vault.Vault
	taken map[string]bool // ids, phones and accounts handed out this run
}

type identity struct{ id, name, phone, account string }

// Name parts, in pinyin and in characters: common surnames and given names.
var (
	pinyinSurnames = []string{"Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo", "Zheng", "Liang", "Xie", "Song", "Tang"}
	pinyinGiven    = []string{"Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Tao", "Ming", "Hui", "Qiang", "Xiu", "Ping", "Gang", "Hong", "Yun", "Bo", "Lan", "Kai", "Ning", "Xin", "Yu", "Hao", "Jie", "Li", "Na", "Chao", "Hua"}
	hanSurnames    = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐")
	hanGiven       = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "华", "建国", "晓东", "丹", "平", "桂英", "志强"}
)

// next returns a fresh canary identity.
func (g *canaryGen) next(ctx context.Context) (identity, error) {
	var c identity
	var base sample
	if len(g.shape.samples) > 0 {
		base = g.shape.samples[g.rng.IntN(len(g.shape.samples))]
	}
	// The name: characters if the sampled name is written in them.
	var parts []string
	if strings.IndexFunc(base.name, func(r rune) bool { return unicode.Is(unicode.Han, r) }) >= 0 {
		parts = []string{string(hanSurnames[g.rng.IntN(len(hanSurnames))]), hanGiven[g.rng.IntN(len(hanGiven))]}
		c.name = parts[0] + parts[1]
	} else {
		parts = []string{pinyinSurnames[g.rng.IntN(len(pinyinSurnames))], pinyinGiven[g.rng.IntN(len(pinyinGiven))]}
		c.name = parts[0] + " " + parts[1]
	}
	var err error
	if c.id, err = g.fresh(ctx, g.newID, func(id string) error { _, err := g.st.Customer(ctx, id); return err }); err != nil {
		return c, fmt.Errorf("canary id: %w", err)
	}
	if c.phone, err = g.fresh(ctx, func(try int) string { return g.newPhone(base.phone, try) }, func(p string) error {
		_, err := g.st.CustomerByPhone(ctx, g.index(vault.IndexPhone, p))
		return err
	}); err != nil {
		return c, fmt.Errorf("canary phone: %w", err)
	}
	if c.account, err = g.fresh(ctx, func(try int) string { return g.newAccount(base, parts, try) }, func(a string) error {
		_, err := g.st.CustomerByAccount(ctx, g.index(vault.IndexAccount, a))
		return err
	}); err != nil {
		return c, fmt.Errorf("canary account: %w", err)
	}
	return c, nil
}

// index is the blind index the store holds for a value.
func (g *canaryGen) index(kind, v string) []byte {
	return g.v.BlindIndex(kind, v)
}

// fresh draws candidates until one is unused by this run and unknown to the
// store (lookup returns store.ErrNotFound).
func (g *canaryGen) fresh(ctx context.Context, draw func(try int) string, lookup func(string) error) (string, error) {
	for try := 0; try < 200; try++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		s := draw(try)
		if s == "" || g.taken[s] {
			continue
		}
		err := lookup(s)
		if errors.Is(err, store.ErrNotFound) {
			g.taken[s] = true
			return s, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", errors.New("no unused value found after 200 tries")
}

// newID draws an id of the real ids' pattern: half the time among their
// numbers, half just beyond them, where the newest customers are numbered.
func (g *canaryGen) newID(try int) string {
	sh := g.shape
	x := sh.lo + g.rng.IntN(sh.hi-sh.lo+1)
	if g.rng.IntN(2) == 0 {
		x = sh.hi + 1 + g.rng.IntN(max((sh.hi-sh.lo)/20, 10)+try)
	}
	return fmt.Sprintf("%s%0*d", sh.prefix, sh.width, x)
}

// newPhone draws a phone number shaped like a real one: the same country
// code and leading digits, the last digits random (more of them after
// collisions).
func (g *canaryGen) newPhone(real string, try int) string {
	if len(real) < 9 || !strings.HasPrefix(real, "+") {
		real = fmt.Sprintf("+861%d%09d", 3+g.rng.IntN(7), g.rng.IntN(1_000_000_000))
	}
	k := min(4+try/20, len(real)-6)
	var b strings.Builder
	b.WriteString(real[:len(real)-k])
	for range k {
		b.WriteByte(byte('0' + g.rng.IntN(10)))
	}
	return b.String()
}

// newAccount draws an account shaped like a real one: the sample's local
// part with its name parts replaced by the canary's and its digits
// redrawn, at the same domain.
func (g *canaryGen) newAccount(base sample, parts []string, try int) string {
	real := base.account
	at := strings.LastIndexByte(real, '@')
	if at <= 0 {
		real, at = "user@example.com", 4
	}
	local, domain := real[:at], real[at:]
	nameParts := strings.Fields(strings.ToLower(base.name))
	lower := make([]string, len(parts))
	for i, p := range parts {
		lower[i] = strings.ToLower(p)
	}
	var b strings.Builder
	for i := 0; i < len(local); {
		j := i
		switch r := local[i]; {
		case r >= '0' && r <= '9':
			for j < len(local) && local[j] >= '0' && local[j] <= '9' {
				j++
			}
			for k := i; k < j; k++ {
				d := g.rng.IntN(10)
				if k == i && j-i > 1 {
					d = 1 + g.rng.IntN(9) // no leading zero in a multi-digit run
				}
				b.WriteByte(byte('0' + d))
			}
		case r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z':
			for j < len(local) && (local[j] >= 'a' && local[j] <= 'z' || local[j] >= 'A' && local[j] <= 'Z') {
				j++
			}
			word := local[i:j]
			repl := word
			// The sample's name parts, wherever they appear, become the
			// canary's (surname first in both names).
			for k, np := range nameParts {
				if strings.EqualFold(word, np) {
					repl = lower[min(k, len(lower)-1)]
				}
			}
			b.WriteString(repl)
		default:
			j = i + 1
			b.WriteByte(local[i])
		}
		i = j
	}
	out := b.String()
	if try > 0 {
		out += strconv.Itoa(g.rng.IntN(1000))
	}
	return vault.NormalizeAccount(cmp.Or(out, "user") + domain)
}
