package trace

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/RoaringBitmap/roaring/v2"
)

// Defaults of the report's limits.
const (
	DefaultMaxSuspects = 20
	DefaultMaxOrgs     = 20
)

// Report is the answer to "who could have leaked this list", in the
// contract's trace-report JSON (shared/CONTRACT.md §3) plus a few extras.
type Report struct {
	// Rows is the number of data rows read from the leak.
	Rows int `json:"rows"`
	// Matched is the number of distinct customers the rows resolve to.
	Matched int `json:"matched"`
	// NeverAccessed counts matched customers nobody ever read through
	// custos: evidence that those records left by another way.
	NeverAccessed int `json:"never_accessed"`
	// Canaries are the canary records in the leak, sorted.
	Canaries []string `json:"canaries"`
	// Suspects are the principals who had read leaked records, most likely
	// source first, at most DefaultMaxSuspects (see WithMaxSuspects).
	Suspects []Suspect `json:"suspects"`
	// Orgs are the orgs whose members had read leaked records, by covered
	// share, at most DefaultMaxOrgs (see WithMaxOrgs).
	Orgs []OrgCover `json:"orgs"`

	// Columns are the leak's known columns.
	Columns []string `json:"columns"`
	// Unresolved counts rows that matched no customer; ResolvedByName those
	// matched by name alone; InvalidCells cells that could not be read.
	Unresolved     int `json:"unresolved"`
	ResolvedByName int `json:"resolved_by_name"`
	InvalidCells   int `json:"invalid_cells"`
	// Universe is the number of customers the likelihoods are computed
	// against.
	Universe int `json:"universe"`
	// Customers are the matched customers' ids, sorted (for incidents; not
	// part of the report's JSON).
	Customers []string `json:"-"`
}

// Suspect is one principal who could have produced part of the leak.
type Suspect struct {
	Actor string `json:"actor"`
	Org   string `json:"org"`
	// Covered is the share of the matched leaked records this actor had read.
	Covered float64 `json:"covered"`
	// Exclusive counts leaked records that no one else had read.
	Exclusive int `json:"exclusive"`
	// Score in [0,1] ranks suspects: Covered, discounted by the chance that
	// reads of this volume cover this much by coincidence (Score =
	// Covered × (1 − PValue)).
	Score float64 `json:"score"`
	// Records is the number of leaked records the actor had read; Reads the
	// number of customers the actor had ever read.
	Records int `json:"records"`
	Reads   int `json:"reads"`
	// PValue bounds the probability that someone who read Reads customers
	// chosen independently of the leak would have read at least Records of
	// it (Chernoff–Hoeffding bound of the hypergeometric tail).
	PValue float64 `json:"p_value"`
	// Explanation says the above in plain words.
	Explanation string `json:"explanation"`
}

// OrgCover is one org's share of the leak.
type OrgCover struct {
	Org     string  `json:"org"`
	Covered float64 `json:"covered"`
	// Records is the number of leaked records the org's members had read;
	// Exclusive those no other org had read.
	Records   int `json:"records"`
	Exclusive int `json:"exclusive"`
}

// Option adjusts Trace.
type Option func(*options)

type options struct {
	maxSuspects, maxOrgs, universe int
}

// WithMaxSuspects limits the suspects listed (DefaultMaxSuspects).
func WithMaxSuspects(n int) Option { return func(o *options) { o.maxSuspects = n } }

// WithMaxOrgs limits the orgs listed (DefaultMaxOrgs).
func WithMaxOrgs(n int) Option { return func(o *options) { o.maxOrgs = n } }

// WithUniverse sets the number of customers in the store, against which a
// principal's reading volume is weighed. Without it, Trace uses the number
// of customers anyone has read, which overstates each principal's share and
// so understates the evidence (never the other way).
func WithUniverse(n int) Option { return func(o *options) { o.universe = n } }

// Trace attributes a leak: it resolves the leak's rows to customers, flags
// canaries (isCanary may be nil), counts the records nobody read, and ranks
// the principals and orgs whose reads cover the leak. It holds the sets'
// read lock while it ranks; Adds made meanwhile queue (see AccessSets).
func Trace(ctx context.Context, leak Leak, r Resolver, sets *AccessSets, isCanary func(id string) bool, opts ...Option) (Report, error) {
	o := options{maxSuspects: DefaultMaxSuspects, maxOrgs: DefaultMaxOrgs}
	for _, opt := range opts {
		opt(&o)
	}
	res, err := Resolve(ctx, leak, r)
	if err != nil {
		return Report{}, fmt.Errorf("trace: %w", err)
	}
	rep := Report{
		Rows:           len(leak.Rows),
		Matched:        len(res.Customers),
		Canaries:       []string{},
		Columns:        leak.Columns,
		Unresolved:     res.Unresolved,
		ResolvedByName: res.ByName,
		InvalidCells:   leak.Invalid,
		Customers:      slices.Sorted(slices.Values(res.Customers)),
	}
	if isCanary != nil {
		for _, id := range res.Customers {
			if isCanary(id) {
				rep.Canaries = append(rep.Canaries, id)
			}
		}
		slices.Sort(rep.Canaries)
	}
	if err := sets.rank(ctx, res.Customers, o, &rep); err != nil {
		return Report{}, fmt.Errorf("trace: %w", err)
	}
	return rep, nil
}

// rank fills the report's never_accessed, suspects and orgs.
func (s *AccessSets) rank(ctx context.Context, customers []string, o options, rep *Report) error {
	s.rlock()
	defer s.mu.RUnlock()

	leaked := roaring.New()
	nums := make([]uint32, 0, len(customers))
	for _, id := range customers {
		if n, ok := s.dict.lookup(id); ok {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	leaked.AddMany(nums)
	M := len(customers)
	read := int(leaked.AndCardinality(s.once) + leaked.AndCardinality(s.multi))
	rep.NeverAccessed = M - read
	rep.Universe = max(o.universe, s.dict.len(), M)
	rep.Suspects, rep.Orgs = []Suspect{}, []OrgCover{}
	if read == 0 {
		return nil
	}

	// Orgs: covered by each, then pruning bounds for the principals.
	orgCov := make([]int, len(s.og))
	for i, og := range s.og {
		orgCov[i] = int(leaked.AndCardinality(og.reads))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	leakedOrgOnce := roaring.And(leaked, s.orgOnce)
	order := make([]int, 0, len(s.og))
	for i, c := range orgCov {
		if c > 0 {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(orgCov[b], orgCov[a]), cmp.Compare(s.og[a].id, s.og[b].id))
	})
	for _, i := range order[:min(len(order), o.maxOrgs)] {
		rep.Orgs = append(rep.Orgs, OrgCover{
			Org:       s.og[i].id,
			Covered:   round4(float64(orgCov[i]) / float64(M)),
			Records:   orgCov[i],
			Exclusive: int(s.og[i].reads.AndCardinality(leakedOrgOnce)),
		})
	}

	// Principals, grouped by org so that a whole org can be skipped once
	// its coverage is below the worst score still listed (a member's score
	// is at most its coverage, which is at most its org's). Principals who
	// read under several orgs are not subsets of one org: they are always
	// evaluated.
	if o.maxSuspects <= 0 {
		return nil
	}
	members := make([][]int32, len(s.og))
	var moved []int32
	for i, p := range s.pr {
		if p.moved {
			moved = append(moved, int32(i))
			continue
		}
		oi := s.orgs[p.org]
		members[oi] = append(members[oi], int32(i))
	}
	sc := scorer{M: M, N: rep.Universe}
	better := func(a, b candidate) bool { return compareCandidates(s, a, b) < 0 }
	workers := runtime.GOMAXPROCS(0)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		tops = make([]topK, workers)
	)
	for w := range workers {
		tops[w] = topK{k: o.maxSuspects, better: better}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := &tops[w]
			eval := func(pi int32) {
				p := s.pr[pi]
				k := int(leaked.AndCardinality(p.reads))
				if k == 0 {
					return
				}
				n := int(p.reads.GetCardinality())
				t.push(candidate{pi: pi, k: k, n: n, score: sc.score(k, n)})
			}
			for i := w; i < len(moved); i += workers {
				eval(moved[i])
			}
			for {
				j := int(next.Add(1) - 1)
				if j >= len(order) || ctx.Err() != nil {
					return
				}
				oi := order[j]
				// Org coverage only falls from here on: once it cannot reach
				// this worker's worst listed score, no later org's can.
				if t.full() && float64(orgCov[oi])/float64(M) < t.worst().score {
					return
				}
				for _, pi := range members[oi] {
					eval(pi)
				}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	var all []candidate
	for _, t := range tops {
		all = append(all, t.c...)
	}
	slices.SortFunc(all, func(a, b candidate) int { return compareCandidates(s, a, b) })
	all = all[:min(len(all), o.maxSuspects)]
	leakedOnce := roaring.And(leaked, s.once)
	for _, c := range all {
		p := s.pr[c.pi]
		excl := int(p.reads.AndCardinality(leakedOnce))
		pv := sc.pvalue(c.k, c.n)
		rep.Suspects = append(rep.Suspects, Suspect{
			Actor:       p.id,
			Org:         p.org,
			Covered:     round4(float64(c.k) / float64(M)),
			Exclusive:   excl,
			Score:       round4(c.score),
			Records:     c.k,
			Reads:       c.n,
			PValue:      pv,
			Explanation: explain(c.k, M, excl, c.n, rep.Universe, pv),
		})
	}
	return nil
}

// candidate is one principal's standing while ranking.
type candidate struct {
	pi    int32
	k, n  int // leaked records read, customers read
	score float64
}

// compareCandidates orders best first: score, then records, then actor id.
func compareCandidates(s *AccessSets, a, b candidate) int {
	return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.k, a.k), cmp.Compare(s.pr[a.pi].id, s.pr[b.pi].id))
}

// topK keeps the k best candidates.
type topK struct {
	k      int
	better func(a, b candidate) bool
	c      []candidate
	worstI int
}

func (t *topK) full() bool { return t.k > 0 && len(t.c) >= t.k }

// worst returns the worst candidate kept; t MUST not be empty.
func (t *topK) worst() candidate { return t.c[t.worstI] }

func (t *topK) push(c candidate) {
	if t.k <= 0 {
		return
	}
	if !t.full() {
		t.c = append(t.c, c)
	} else {
		if !t.better(c, t.c[t.worstI]) {
			return
		}
		t.c[t.worstI] = c
	}
	t.worstI = 0
	for i := range t.c {
		if t.better(t.c[t.worstI], t.c[i]) {
			t.worstI = i
		}
	}
}

// scorer computes likelihoods for a leak of M matched records against a
// universe of N customers.
type scorer struct{ M, N int }

// pvalue bounds the chance that a principal who read n of the N customers,
// chosen without regard to the leak, read at least k of its M records. The
// overlap is then hypergeometric with mean M·n/N; its upper tail is at most
// exp(−M·D(k/M ‖ n/N)), D the Bernoulli relative entropy (Hoeffding 1963,
// which holds for sampling without replacement).
func (sc scorer) pvalue(k, n int) float64 {
	if k <= 0 || sc.M <= 0 || sc.N <= 0 {
		return 1
	}
	c := float64(k) / float64(sc.M)
	p := float64(n) / float64(sc.N)
	if p >= 1 || c <= p {
		return 1
	}
	return math.Exp(-float64(sc.M) * kl(c, p))
}

// score is the covered share discounted by the p-value.
func (sc scorer) score(k, n int) float64 {
	return float64(k) / float64(sc.M) * (1 - sc.pvalue(k, n))
}

// kl is the relative entropy D(c ‖ p) of Bernoulli distributions, 0<p<1.
func kl(c, p float64) float64 {
	d := 0.0
	if c > 0 {
		d += c * math.Log(c/p)
	}
	if c < 1 {
		d += (1 - c) * math.Log((1-c)/(1-p))
	}
	return d
}

// explain writes a suspect's standing in plain words.
func explain(k, M, excl, n, N int, pv float64) string {
	s := fmt.Sprintf("read %s of the leaked records (%s of %s)", percent(float64(k)/float64(M)), group(k), group(M))
	switch excl {
	case 0:
		s += ", all of them also read by others"
	case 1:
		s += ", 1 of them read by nobody else"
	default:
		s += fmt.Sprintf(", %s of them read by nobody else", group(excl))
	}
	s += fmt.Sprintf("; chance that reading %s of the %s customers covers this much by coincidence: %s", group(n), group(N), chance(pv))
	if pv >= 0.05 {
		s += " (reading volume alone explains this coverage)"
	}
	return s
}

// chance formats a probability for people.
func chance(p float64) string {
	switch {
	case p < 1e-6:
		return "<1e-6"
	case p >= 0.995:
		return "~1"
	case p < 0.01:
		return fmt.Sprintf("%.0e", p)
	default:
		return fmt.Sprintf("%.2f", p)
	}
}

func percent(f float64) string {
	switch {
	case f >= 0.995 && f < 1:
		return ">99%"
	case f > 0 && f < 0.005:
		return "<1%"
	}
	return fmt.Sprintf("%.0f%%", f*100)
}

// plural formats a count with its noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return group(n) + " " + many
}

// group formats n with thousands separators.
func group(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + group(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func round4(f float64) float64 { return math.Round(f*10000) / 10000 }

// WriteText writes the report for people: the leak's size, what never went
// through custos, canaries, then suspects and orgs with their evidence.
func (r Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Leak: %s rows (columns %s), %s distinct customers matched", group(r.Rows), strings.Join(r.Columns, ", "), group(r.Matched))
	if r.Unresolved > 0 {
		fmt.Fprintf(&b, "; %s matched no customer", plural(r.Unresolved, "row", "rows"))
	}
	b.WriteString(".\n")
	if r.ResolvedByName > 0 {
		fmt.Fprintf(&b, "  Rows matched by name alone (weak evidence): %s.\n", group(r.ResolvedByName))
	}
	if r.InvalidCells > 0 {
		fmt.Fprintf(&b, "  Unreadable cells ignored: %s.\n", group(r.InvalidCells))
	}
	if r.Matched == 0 {
		b.WriteString("\nNo leaked row matches a customer: nothing to attribute.\n")
		_, err := io.WriteString(w, b.String())
		return err
	}
	fmt.Fprintf(&b, "\nNever read through custos: %s of the %s matched records (%s).\n", group(r.NeverAccessed), group(r.Matched), percent(float64(r.NeverAccessed)/float64(r.Matched)))
	switch {
	case r.NeverAccessed == r.Matched:
		b.WriteString("  No one ever read any of them through custos: this list did not come from reads through custos.\n")
	case r.NeverAccessed > 0:
		b.WriteString("  Those records did not leave through reads made with custos.\n")
	}
	if len(r.Canaries) > 0 {
		fmt.Fprintf(&b, "\nCanary records in the leak (%d): %s\n", len(r.Canaries), strings.Join(r.Canaries, ", "))
		b.WriteString("  Each was shown only within its own org or site: the leak passed through there.\n")
	}
	if len(r.Suspects) > 0 {
		b.WriteString("\nSuspects, most likely source first:\n")
		for i, s := range r.Suspects {
			org := orgName(s.Org)
			fmt.Fprintf(&b, "  %2d. %s (%s)  covered %s  exclusive %s  score %.2f\n      %s\n", i+1, s.Actor, org, percent(s.Covered), group(s.Exclusive), s.Score, s.Explanation)
		}
	}
	if len(r.Orgs) > 0 {
		b.WriteString("\nOrgs by share of the leak their people had read:\n")
		for _, o := range r.Orgs {
			org := orgName(o.Org)
			fmt.Fprintf(&b, "  %-20s covered %5s  (%s records, %s read by no other org)\n", org, percent(o.Covered), group(o.Records), group(o.Exclusive))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// orgName is org as the report prints it.
func orgName(org string) string {
	if org == "" {
		return "no org"
	}
	return org
}
