package trace

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// mapResolver resolves against an in-memory customer table, the way the
// store resolves through blind indexes.
type mapResolver struct {
	ids              map[string]bool
	phones, accounts map[string]string
	names            map[string][]string
	failOn           string
}

func newMapResolver() *mapResolver {
	return &mapResolver{ids: map[string]bool{}, phones: map[string]string{}, accounts: map[string]string{}, names: map[string][]string{}}
}

func (m *mapResolver) add(id, phone, account, name string) {
	m.ids[id] = true
	if phone != "" {
		m.phones[phone] = id
	}
	if account != "" {
		m.accounts[account] = id
	}
	if name != "" {
		m.names[name] = append(m.names[name], id)
	}
}

func (m *mapResolver) ByID(_ context.Context, id string) (string, bool, error) {
	if id == m.failOn {
		return "", false, errors.New("boom")
	}
	return id, m.ids[id], nil
}

func (m *mapResolver) ByPhone(_ context.Context, p string) (string, bool, error) {
	id, ok := m.phones[p]
	return id, ok, nil
}

func (m *mapResolver) ByAccount(_ context.Context, a string) (string, bool, error) {
	id, ok := m.accounts[a]
	return id, ok, nil
}

func (m *mapResolver) ByName(_ context.Context, n string) ([]string, error) {
	return m.names[n], nil
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func read(actor, org, customer string) event.Event {
	return event.Event{Time: t0, Actor: actor, Org: org, Role: "store_clerk", Action: event.ActionRead,
		Customer: customer, CustomerRegion: "GD", Decision: event.Allow}
}

func cid(i int) string { return fmt.Sprintf("c-%07d", i) }

// world is a small store with known accesses:
//   - emp-a (dist-1) read customers 1..60
//   - emp-b (dist-1) read 50..70
//   - emp-c (dist-2) read 80..85 and 200..999
//   - customers 90..95 were never read; 95 is a canary
//   - denied reads, searches that found nothing and ticket events of 90..95
//     must not count.
func world(t testing.TB) (*mapResolver, *AccessSets) {
	t.Helper()
	r := newMapResolver()
	for i := 1; i < 1000; i++ {
		r.add(cid(i), fmt.Sprintf("+86138%08d", i), fmt.Sprintf("user%d@example.com", i), fmt.Sprintf("name %d", i%500))
	}
	s := NewAccessSets()
	for i := 1; i <= 60; i++ {
		s.Add(read("emp-a", "dist-1", cid(i)))
	}
	for i := 50; i <= 70; i++ {
		s.Add(read("emp-b", "dist-1", cid(i)))
		s.Add(read("emp-b", "dist-1", cid(i))) // twice: counted once
	}
	for i := 80; i <= 85; i++ {
		s.Add(read("emp-c", "dist-2", cid(i)))
	}
	for i := 200; i < 1000; i++ {
		s.Add(read("emp-c", "dist-2", cid(i)))
	}
	no := false
	for i := 90; i <= 95; i++ {
		ev := read("emp-d", "dist-3", cid(i))
		ev.Decision, ev.Reason = event.Deny, "purpose_required"
		s.Add(ev)
		ev = read("emp-d", "dist-3", cid(i))
		ev.Action, ev.Found = event.ActionSearch, &no
		s.Add(ev)
		ev = read("emp-d", "dist-3", cid(i))
		ev.Action = event.ActionTicketCreate
		s.Add(ev)
	}
	return r, s
}

// leakCSV writes customers lo..hi as a messy leak: phones in mixed forms,
// every row twice.
func leakCSV(ranges ...[2]int) string {
	var b strings.Builder
	b.WriteString("\ufeff Phone ,Name\r\n")
	for _, rg := range ranges {
		for i := rg[0]; i <= rg[1]; i++ {
			p := fmt.Sprintf("138%08d", i)
			fmt.Fprintf(&b, "%s , Name %d\r\n", p, i%500)
			fmt.Fprintf(&b, "+86 %s-%s,name %d\r\n", p[:3], p[3:], i%500)
		}
	}
	return b.String()
}

// TestTraceNamesSource checks the done-criteria on a known world:
// the person whose reads cover the leak is named first, the records nobody
// read are counted exactly, and canaries are flagged.
func TestTraceNamesSource(t *testing.T) {
	r, s := world(t)
	leak, err := ParseLeak(strings.NewReader(leakCSV([2]int{1, 60}, [2]int{90, 95})))
	if err != nil {
		t.Fatal(err)
	}
	isCanary := func(id string) bool { return id == cid(95) }
	rep, err := Trace(context.Background(), leak, r, s, isCanary, WithUniverse(999))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 132 || rep.Matched != 66 || rep.NeverAccessed != 6 {
		t.Errorf("rows, matched, never = %d, %d, %d; want 132, 66, 6", rep.Rows, rep.Matched, rep.NeverAccessed)
	}
	if !reflect.DeepEqual(rep.Canaries, []string{cid(95)}) {
		t.Errorf("canaries = %v", rep.Canaries)
	}
	if len(rep.Suspects) != 2 {
		t.Fatalf("suspects = %+v, want emp-a and emp-b", rep.Suspects)
	}
	a, b := rep.Suspects[0], rep.Suspects[1]
	if a.Actor != "emp-a" || a.Org != "dist-1" || a.Records != 60 || a.Exclusive != 49 || a.Reads != 60 {
		t.Errorf("first suspect = %+v, want emp-a with 60 records, 49 exclusive", a)
	}
	if a.Covered != round4(60.0/66) || a.Score <= b.Score || a.Score > a.Covered || a.PValue > 1e-6 {
		t.Errorf("first suspect covered %v score %v p %v", a.Covered, a.Score, a.PValue)
	}
	if b.Actor != "emp-b" || b.Records != 11 || b.Exclusive != 0 {
		t.Errorf("second suspect = %+v, want emp-b with 11 records, none exclusive", b)
	}
	if !strings.Contains(a.Explanation, "read 91% of the leaked records (60 of 66), 49 of them read by nobody else") ||
		!strings.Contains(a.Explanation, "<1e-6") {
		t.Errorf("explanation = %q", a.Explanation)
	}
	if len(rep.Orgs) != 1 || rep.Orgs[0].Org != "dist-1" || rep.Orgs[0].Records != 60 || rep.Orgs[0].Exclusive != 60 {
		t.Errorf("orgs = %+v, want only dist-1 with 60 records", rep.Orgs)
	}
}

// TestTraceVolumeIsNotEvidence checks that reading everything does not make
// someone the top suspect: the score weighs coverage against reading volume.
func TestTraceVolumeIsNotEvidence(t *testing.T) {
	r, s := world(t)
	for i := 1; i < 1000; i++ {
		s.Add(read("bot", "hq", cid(i)))
	}
	leak, err := ParseLeak(strings.NewReader(leakCSV([2]int{1, 60})))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Trace(context.Background(), leak, r, s, nil, WithUniverse(999))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Suspects[0].Actor != "emp-a" {
		t.Fatalf("top suspect %s, want emp-a: %+v", rep.Suspects[0].Actor, rep.Suspects)
	}
	var bot Suspect
	for _, sp := range rep.Suspects {
		if sp.Actor == "bot" {
			bot = sp
		}
	}
	if bot.Covered != 1 || bot.Score != 0 || bot.PValue != 1 || !strings.Contains(bot.Explanation, "volume alone") {
		t.Errorf("bot = %+v, want full coverage but score 0", bot)
	}
	if rep.Suspects[0].Exclusive != 0 {
		t.Errorf("emp-a exclusive = %d, want 0 (the bot read them too)", rep.Suspects[0].Exclusive)
	}
}

func TestTraceEdgeCases(t *testing.T) {
	r, s := world(t)
	tests := []struct {
		name    string
		csv     string
		matched int
		never   int
		unres   int
	}{
		{"nothing resolves", "id\nc-x\nc-y\n", 0, 0, 2},
		{"all never read", "id\n" + cid(90) + "\n" + cid(91) + "\n", 2, 2, 0},
		{"name alone when unique", "name\nname 499\n", 0, 0, 1}, // "name 499" is shared by 499 and 999: ambiguous
		{"id wins over phone", "id,phone\n" + cid(1) + ",+8613800000002\n", 1, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leak, err := ParseLeak(strings.NewReader(tt.csv))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Trace(context.Background(), leak, r, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Matched != tt.matched || rep.NeverAccessed != tt.never || rep.Unresolved != tt.unres {
				t.Errorf("matched %d never %d unresolved %d; want %d %d %d", rep.Matched, rep.NeverAccessed, rep.Unresolved, tt.matched, tt.never, tt.unres)
			}
			if rep.Suspects == nil || rep.Orgs == nil || rep.Canaries == nil {
				t.Error("nil list in report (JSON null)")
			}
		})
	}
	// A unique name resolves, and counts as by name.
	r.add("c-solo", "", "", "solo person")
	s.Add(read("emp-a", "dist-1", "c-solo"))
	leak, _ := ParseLeak(strings.NewReader("name,phone\n Solo  Person ,not-a-phone\n"))
	rep, err := Trace(context.Background(), leak, r, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Matched != 1 || rep.ResolvedByName != 1 || rep.InvalidCells != 1 || rep.Suspects[0].Actor != "emp-a" {
		t.Errorf("by name: %+v", rep)
	}
	// Resolver errors surface, naming the column, not the value.
	r.failOn = cid(3)
	leak, _ = ParseLeak(strings.NewReader("id\n" + cid(1) + "\n" + cid(3) + "\n"))
	if _, err := Trace(context.Background(), leak, r, s, nil); err == nil || !strings.Contains(err.Error(), "id column: boom") || strings.Contains(err.Error(), cid(3)) {
		t.Errorf("resolver error = %v", err)
	}
}

// bruteRank ranks every principal without pruning, for comparison.
func bruteRank(s *AccessSets, customers []string, universe, k int) []string {
	inLeak := map[string]bool{}
	for _, c := range customers {
		inLeak[c] = true
	}
	sc := scorer{M: len(customers), N: max(universe, s.dict.len(), len(customers))}
	type cand struct {
		id    string
		k     int
		score float64
	}
	var all []cand
	for _, p := range s.pr {
		n, hit := 0, 0
		it := p.reads.Iterator()
		for it.HasNext() {
			n++
			if inLeak[s.dict.id(it.Next())] {
				hit++
			}
		}
		if hit > 0 {
			all = append(all, cand{p.id, hit, sc.score(hit, n)})
		}
	}
	slices.SortFunc(all, func(a, b cand) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.k, a.k), cmp.Compare(a.id, b.id))
	})
	var ids []string
	for _, c := range all[:min(k, len(all))] {
		ids = append(ids, c.id)
	}
	return ids
}

// TestRankMatchesBruteForce checks that org pruning and parallel ranking
// give exactly the ranking of scoring everyone, on random worlds where
// principals also move between orgs.
func TestRankMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := 0; round < 30; round++ {
		s := NewAccessSets()
		r := newMapResolver()
		nc := 500 + rng.IntN(2000)
		for i := 0; i < nc; i++ {
			r.add(cid(i), "", "", "")
		}
		np := 5 + rng.IntN(200)
		for p := 0; p < np; p++ {
			org := fmt.Sprintf("org-%d", rng.IntN(1+np/10))
			n := rng.IntN(300)
			base := rng.IntN(nc)
			for j := 0; j < n; j++ {
				if rng.IntN(50) == 0 {
					org = fmt.Sprintf("org-%d", rng.IntN(1+np/10)) // moves
				}
				c := (base + rng.IntN(1+nc/(1+rng.IntN(10)))) % nc
				ev := read(fmt.Sprintf("p-%03d", p), org, cid(c))
				ev.CustomerRegion = fmt.Sprintf("R%d", c%3)
				s.Add(ev)
			}
		}
		var lk Leak
		lk.Columns = []string{ColumnID}
		lo := rng.IntN(nc)
		for i := 0; i < 1+rng.IntN(nc/2); i++ {
			lk.Rows = append(lk.Rows, Row{ID: cid((lo + i) % nc)})
		}
		k := 1 + rng.IntN(8)
		rep, err := Trace(context.Background(), lk, r, s, nil, WithMaxSuspects(k))
		if err != nil {
			t.Fatal(err)
		}
		res, _ := Resolve(context.Background(), lk, r)
		want := bruteRank(s, res.Customers, 0, k)
		var got []string
		for _, sp := range rep.Suspects {
			got = append(got, sp.Actor)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round %d: ranking %v, brute force %v", round, got, want)
		}
	}
}

func TestCounts(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		mod  func(*event.Event)
		want bool
	}{
		{"read", func(*event.Event) {}, true},
		{"search found", func(e *event.Event) { e.Action, e.Found = event.ActionSearch, &yes }, true},
		{"search missed", func(e *event.Event) { e.Action, e.Found = event.ActionSearch, &no }, false},
		{"search no match", func(e *event.Event) { e.Action, e.Customer = event.ActionSearch, "" }, false},
		{"export", func(e *event.Event) { e.Action = event.ActionExport }, true},
		{"denied", func(e *event.Event) { e.Decision = event.Deny }, false},
		{"ticket", func(e *event.Event) { e.Action = event.ActionTicketCreate }, false},
		{"consent", func(e *event.Event) { e.Action = event.ActionConsentConfirm }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := read("a", "o", "c-1")
			tt.mod(&ev)
			if got := Counts(ev); got != tt.want {
				t.Errorf("Counts = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSnapshotRoundTrip checks that persisted sets trace exactly like the
// originals, keep Applied, keep numbering new customers after the old ones,
// and that damaged snapshots are refused without touching the sets.
func TestSnapshotRoundTrip(t *testing.T) {
	r, s := world(t)
	s.Apply(41, read("emp-e", "dist-9", cid(96)))
	data, err := s.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back := NewAccessSets()
	if err := back.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if back.Applied() != 42 || !reflect.DeepEqual(back.Stats(), s.Stats()) {
		t.Errorf("stats %+v, want %+v", back.Stats(), s.Stats())
	}
	leak, _ := ParseLeak(strings.NewReader(leakCSV([2]int{1, 99})))
	want, _ := Trace(context.Background(), leak, r, s, nil)
	got, err := Trace(context.Background(), leak, r, back, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("trace after reload differs:\n got %+v\nwant %+v", got, want)
	}
	// New reads after reload extend the numbering without collisions, and
	// modify loaded bitmaps without touching the snapshot they came from.
	back.Add(read("emp-f", "dist-9", "c-new"))
	back.Add(read("emp-a", "dist-1", cid(61)))
	back.Add(read("emp-a", "dist-1", "c-new2"))
	if !back.HasRead("emp-f", "c-new") || back.HasRead("emp-f", cid(1)) || back.Reads("emp-a") != 62 || !back.HasRead("emp-a", "c-new2") {
		t.Error("reloaded sets misnumber new customers")
	}
	if fresh := NewAccessSets(); fresh.UnmarshalBinary(data) != nil || fresh.Reads("emp-a") != 60 || fresh.HasRead("emp-a", cid(61)) {
		t.Error("modifying reloaded sets changed the snapshot")
	}
	var buf bytes.Buffer
	if _, err := back.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	again := NewAccessSets()
	if _, err := again.ReadFrom(&buf); err != nil || !again.HasRead("emp-f", "c-new") {
		t.Fatalf("second round trip: %v", err)
	}

	bad := map[string][]byte{
		"empty":     nil,
		"truncated": data[:len(data)/2],
		"flipped":   append(append([]byte{}, data[:40]...), append([]byte{data[40] ^ 1}, data[41:]...)...),
		"magic":     append([]byte("custos access sets v9\n"), data[len(snapshotMagic):]...),
	}
	for name, b := range bad {
		if err := again.UnmarshalBinary(b); !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: err = %v, want ErrBadSnapshot", name, err)
		}
	}
	if !again.HasRead("emp-f", "c-new") {
		t.Error("failed unmarshal changed the sets")
	}
}

// TestConcurrentAddAndTrace runs adds while traces run (meaningful under
// -race) and checks every add lands.
func TestConcurrentAddAndTrace(t *testing.T) {
	r, s := world(t)
	leak, _ := ParseLeak(strings.NewReader(leakCSV([2]int{1, 999})))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				s.Add(read(fmt.Sprintf("w-%d", w), "dist-7", cid(1+i)))
			}
		}()
	}
	for i := 0; i < 5; i++ {
		if _, err := Trace(context.Background(), leak, r, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	for w := 0; w < 4; w++ {
		if n := s.Reads(fmt.Sprintf("w-%d", w)); n != 500 {
			t.Errorf("w-%d has %d reads, want 500", w, n)
		}
	}
}

func TestLocalNumbering(t *testing.T) {
	s := NewAccessSets()
	for i := 0; i < 3*chunkSize; i++ {
		ev := read("a", "o", cid(i))
		ev.CustomerRegion = []string{"GD", "BJ", "SH"}[i%3]
		s.Add(ev)
	}
	n0, _ := s.dict.lookup(cid(0))
	n3, _ := s.dict.lookup(cid(3))
	n1, _ := s.dict.lookup(cid(1))
	if n3 != n0+1 || n1>>16 == n0>>16 {
		t.Errorf("numbers %d %d %d: region GD not contiguous or BJ sharing its chunk", n0, n3, n1)
	}
	if got := s.dict.id(n1); got != cid(1) {
		t.Errorf("id(%d) = %s", n1, got)
	}
	if st := s.Stats(); st.Customers != 3*chunkSize || st.Pairs != 3*chunkSize {
		t.Errorf("stats %+v", st)
	}
}

// batchResolver adds ResolveBatch to a mapResolver, counting calls.
type batchResolver struct {
	*mapResolver
	calls int
}

func (b *batchResolver) ResolveBatch(ctx context.Context, column string, values []string) ([]string, error) {
	b.calls++
	out := make([]string, len(values))
	for i, v := range values {
		var id string
		var ok bool
		switch column {
		case ColumnID:
			id, ok, _ = b.ByID(ctx, v)
		case ColumnPhone:
			id, ok, _ = b.ByPhone(ctx, v)
		case ColumnAccount:
			id, ok, _ = b.ByAccount(ctx, v)
		}
		if ok {
			out[i] = id
		}
	}
	return out, nil
}

// TestResolveBatchAgrees checks that batch resolution gives exactly the
// per-value resolution, on random rows mixing columns, misses, conflicts
// and duplicates.
func TestResolveBatchAgrees(t *testing.T) {
	r, _ := world(t)
	rng := rand.New(rand.NewPCG(3, 4))
	maybe := func(s string) string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return s
	}
	var leak Leak
	for i := 0; i < 3000; i++ {
		c := 1 + rng.IntN(1100) // some beyond the 999 customers
		leak.Rows = append(leak.Rows, Row{
			Line:    i + 2,
			ID:      maybe(cid(c)),
			Phone:   maybe(fmt.Sprintf("+86138%08d", 1+rng.IntN(1100))),
			Account: maybe(fmt.Sprintf("user%d@example.com", c)),
			Name:    maybe(fmt.Sprintf("name %d", rng.IntN(600))),
		})
	}
	want, err := Resolve(context.Background(), leak, r)
	if err != nil {
		t.Fatal(err)
	}
	br := &batchResolver{mapResolver: r}
	got, err := Resolve(context.Background(), leak, br)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batch resolution differs: %+v vs %+v", got.Unresolved, want.Unresolved)
	}
	if br.calls < 3 || br.calls > 6 {
		t.Errorf("%d batch calls for 3 columns of under 2000 distinct values", br.calls)
	}
	if want.ByName == 0 || want.Ambiguous == 0 || want.Unresolved == 0 {
		t.Errorf("test leak too tame: %+v", want)
	}
	// Precedence: a row resolves by id before phone before account.
	for i, row := range leak.Rows[:200] {
		res, _ := Resolve(context.Background(), Leak{Rows: []Row{row}}, r)
		var exp string
		for _, try := range []func() (string, bool, error){
			func() (string, bool, error) { return r.ByID(context.Background(), row.ID) },
			func() (string, bool, error) { return r.ByPhone(context.Background(), row.Phone) },
			func() (string, bool, error) { return r.ByAccount(context.Background(), row.Account) },
		} {
			if id, ok, _ := try(); ok && exp == "" {
				exp = id
			}
		}
		if exp == "" && row.Name != "" && len(r.names[row.Name]) == 1 {
			exp = r.names[row.Name][0]
		}
		if (exp == "") != (len(res.Customers) == 0) || (exp != "" && res.Customers[0] != exp) {
			t.Fatalf("row %d %+v resolved to %v, want %q", i, row, res.Customers, exp)
		}
	}
}
