package trace

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/custos-dev/custos/internal/event"
)

// The scale benchmark (issue 6): a 1,000,000-row leak traced against
// 100,000 principals and 100,000,000 accesses. Building that world takes a
// minute and a few GB, so it runs only when asked:
//
//	CUSTOS_BENCH_TRACE=1 go test ./internal/trace -run '^$' -bench 'Trace$' -benchtime 3x -timeout 30m
//
// CUSTOS_BENCH_TRACE=0.1 scales every count down tenfold for a quick run.
// The world: 10,000,000 customers in 31 regions; principals in orgs of 50,
// 80% store staff reading in their own region, 20% call-centre agents
// reading nationwide, 1,000 distinct customers each; one insider who read
// 40,000 more in his region. The leak holds phones in mixed messy forms:
// the insider's 40,000, 960,000 random customers and 5% duplicate rows.

const benchEnv = "CUSTOS_BENCH_TRACE"

type benchWorld struct {
	sets      *AccessSets
	csv       []byte
	customers int
	insider   string
	build     time.Duration
}

var (
	benchOnce sync.Once
	benchW    *benchWorld
)

func benchScale(b *testing.B) float64 {
	v := os.Getenv(benchEnv)
	if v == "" {
		b.Skipf("set %s=1 (or a fraction) to run the scale benchmark", benchEnv)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 {
		b.Fatalf("%s=%q: want a scale in (0,1]", benchEnv, v)
	}
	return f
}

// phoneOf is customer i's phone; phoneResolver inverts it.
func phoneOf(i int) string { return fmt.Sprintf("+86139%08d", i) }

// computedResolver resolves ids and phones of the generated world by
// arithmetic instead of a 10-million-entry table: the benchmark measures
// trace, not the store's index lookups.
type computedResolver struct{ customers int }

func (c computedResolver) ByID(_ context.Context, id string) (string, bool, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(id, "c-"))
	return id, err == nil && n >= 0 && n < c.customers, nil
}

func (c computedResolver) ByPhone(_ context.Context, p string) (string, bool, error) {
	if !strings.HasPrefix(p, "+86139") {
		return "", false, nil
	}
	n, err := strconv.Atoi(p[6:])
	if err != nil || n >= c.customers {
		return "", false, nil
	}
	return benchID(n), true, nil
}

func (computedResolver) ByAccount(context.Context, string) (string, bool, error) {
	return "", false, nil
}

func (computedResolver) ByName(context.Context, string) ([]string, error) { return nil, nil }

func benchID(i int) string { return "c-" + strconv.Itoa(i) }

const benchRegions = 31

func buildBenchWorld(scale float64) *benchWorld {
	start := time.Now()
	var (
		customers  = int(10_000_000 * scale)
		principals = int(100_000 * scale)
		perP       = 1000
		orgSize    = 50
		insiderN   = int(40_000 * scale)
		leakRows   = int(1_000_000 * scale)
	)
	rng := rand.New(rand.NewPCG(6, 6))
	s := NewAccessSets()
	// Number customers region by region, as the gateway's reads would.
	byRegion := make([][]uint32, benchRegions)
	for i := 0; i < customers; i++ {
		r := i % benchRegions
		byRegion[r] = append(byRegion[r], s.dict.number(benchID(i), "R"+strconv.Itoa(r)))
	}
	space := len(s.dict.chunks) * chunkSize
	readers := make([]uint8, space) // principals per customer number, capped at 2
	norgs := (principals + orgSize - 1) / orgSize
	orgMembers := make([][]*roaring.Bitmap, norgs)
	insider := ""
	nums := make([]uint32, 0, insiderN+perP)
	for p := 0; p < principals; p++ {
		org := p / orgSize
		region := org % benchRegions
		national := org%5 == 4 // a fifth of the orgs are call centres
		nums = nums[:0]
		seen := map[uint32]bool{}
		want := perP
		if p == principals/2 {
			want += insiderN
			insider = fmt.Sprintf("emp-%06d", p)
		}
		for len(nums) < want {
			var n uint32
			if national {
				rr := byRegion[rng.IntN(benchRegions)]
				n = rr[rng.IntN(len(rr))]
			} else {
				rr := byRegion[region]
				n = rr[rng.IntN(len(rr))]
			}
			if !seen[n] {
				seen[n] = true
				nums = append(nums, n)
			}
		}
		slices.Sort(nums)
		bm := roaring.BitmapOf(nums...)
		ps := &principalSet{id: fmt.Sprintf("emp-%06d", p), org: fmt.Sprintf("org-%04d", org), reads: bm}
		s.principals[ps.id] = len(s.pr)
		s.pr = append(s.pr, ps)
		orgMembers[org] = append(orgMembers[org], bm)
		s.pairs += uint64(len(nums))
		for _, n := range nums {
			if readers[n] < 2 {
				readers[n]++
			}
		}
	}
	orgReaders := make([]uint8, space)
	for o, members := range orgMembers {
		u := roaring.FastOr(members...)
		og := &orgSet{id: fmt.Sprintf("org-%04d", o), reads: u}
		s.orgs[og.id] = len(s.og)
		s.og = append(s.og, og)
		it := u.Iterator()
		for it.HasNext() {
			if n := it.Next(); orgReaders[n] < 2 {
				orgReaders[n]++
			}
		}
	}
	var once, multi, orgOnce, orgMulti []uint32
	for n := 0; n < space; n++ {
		switch readers[n] {
		case 1:
			once = append(once, uint32(n))
		case 2:
			multi = append(multi, uint32(n))
		}
		switch orgReaders[n] {
		case 1:
			orgOnce = append(orgOnce, uint32(n))
		case 2:
			orgMulti = append(orgMulti, uint32(n))
		}
	}
	s.once, s.multi, s.orgOnce, s.orgMulti = roaring.BitmapOf(once...), roaring.BitmapOf(multi...), roaring.BitmapOf(orgOnce...), roaring.BitmapOf(orgMulti...)

	// The leak: the insider's extra reads, random customers, duplicates,
	// phones in mixed forms.
	var ins []int
	it := s.pr[s.principals[insider]].reads.Iterator()
	for it.HasNext() {
		id := s.dict.id(it.Next())
		i, _ := strconv.Atoi(id[2:])
		ins = append(ins, i)
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeffName, Phone ,Note\r\n")
	for r := 0; r < leakRows; r++ {
		var i int
		switch {
		case r < len(ins):
			i = ins[r]
		case rng.IntN(20) == 0 && r > 0:
			i = rng.IntN(customers) // stands in for a duplicate: same cost
		default:
			i = rng.IntN(customers)
		}
		p := phoneOf(i)
		switch r % 4 {
		case 0:
			fmt.Fprintf(&buf, "Someone,%s,x\r\n", p)
		case 1:
			fmt.Fprintf(&buf, "Someone, %s ,\r\n", p[1:])
		case 2:
			fmt.Fprintf(&buf, "Someone,%s %s-%s,\r\n", p[3:6], p[6:10], p[10:])
		default:
			fmt.Fprintf(&buf, "Someone,\"+86 %s\"\r\n", p[3:])
		}
	}
	return &benchWorld{sets: s, csv: buf.Bytes(), customers: customers, insider: insider, build: time.Since(start)}
}

// cpuTime is the process's user and system CPU time so far: unlike wall
// time, it does not grow when other processes share the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

// BenchmarkTrace measures the whole trace of the scale world: parse the
// leak CSV, resolve its rows, rank every principal and org.
func BenchmarkTrace(b *testing.B) {
	scale := benchScale(b)
	benchOnce.Do(func() { benchW = buildBenchWorld(scale) })
	w := benchW
	st := w.sets.Stats()
	b.Logf("world: %d customers, %d principals, %d orgs, %d accesses (distinct pairs), bitmaps %.0f MB serialized, heap %.0f MB, built in %v",
		w.customers, st.Principals, st.Orgs, st.Pairs, float64(st.Bytes)/(1<<20), heapMB(), w.build.Round(time.Second))
	r := computedResolver{customers: w.customers}
	ctx := context.Background()
	b.ResetTimer()
	var parse, total time.Duration
	var rep Report
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		leak, err := ParseLeak(bytes.NewReader(w.csv))
		if err != nil {
			b.Fatal(err)
		}
		parse += time.Since(t0)
		rep, err = Trace(ctx, leak, r, w.sets, nil, WithUniverse(w.customers))
		if err != nil {
			b.Fatal(err)
		}
		total += time.Since(t0)
	}
	b.StopTimer()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(parse.Seconds()/float64(b.N), "parse-s/op")
	b.ReportMetric(total.Seconds()/float64(b.N), "total-s/op")
	if len(rep.Suspects) == 0 || rep.Suspects[0].Actor != w.insider {
		b.Fatalf("top suspect %+v, want %s", rep.Suspects[:min(1, len(rep.Suspects))], w.insider)
	}
	b.Logf("report: rows %d matched %d never %d; top %s covered %.4f exclusive %d score %.4f; heap after %.0f MB",
		rep.Rows, rep.Matched, rep.NeverAccessed, rep.Suspects[0].Actor, rep.Suspects[0].Covered, rep.Suspects[0].Exclusive, rep.Suspects[0].Score, heapMB())
}

// BenchmarkTraceRank measures the ranking alone (resolution done).
func BenchmarkTraceRank(b *testing.B) {
	scale := benchScale(b)
	benchOnce.Do(func() { benchW = buildBenchWorld(scale) })
	w := benchW
	leak, err := ParseLeak(bytes.NewReader(w.csv))
	if err != nil {
		b.Fatal(err)
	}
	res, err := Resolve(context.Background(), leak, computedResolver{customers: w.customers})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var rep Report
		if err := w.sets.rank(context.Background(), res.Customers, options{maxSuspects: 20, maxOrgs: 20, universe: w.customers}, &rep); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot measures persisting and loading the scale world's sets.
func BenchmarkSnapshot(b *testing.B) {
	scale := benchScale(b)
	benchOnce.Do(func() { benchW = buildBenchWorld(scale) })
	w := benchW
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		data, err := w.sets.MarshalBinary()
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		back := NewAccessSets()
		if err := back.UnmarshalBinary(data); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(data))/(1<<20), "MB")
		b.ReportMetric(t1.Sub(t0).Seconds(), "save-s")
		b.ReportMetric(time.Since(t1).Seconds(), "load-s")
	}
}

// BenchmarkAdd measures recording one read as the gateway does.
func BenchmarkAdd(b *testing.B) {
	s := NewAccessSets()
	rng := rand.New(rand.NewPCG(1, 1))
	evs := make([]struct{ actor, customer string }, 1<<16)
	for i := range evs {
		evs[i].actor = fmt.Sprintf("emp-%05d", rng.IntN(10000))
		evs[i].customer = fmt.Sprintf("c-%07d", rng.IntN(1000000))
	}
	ev := read("", "org-1", "")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		e := evs[i&(len(evs)-1)]
		ev.Actor, ev.Customer = e.actor, e.customer
		s.Add(ev)
	}
}

// BenchmarkParseEvent measures reading one audit record's event when
// rebuilding access sets (event.Parse, the one parser).
func BenchmarkParseEvent(b *testing.B) {
	line := read("emp-00421", "dist-017", "c-0001234").Canonical()
	for i := 0; i < b.N; i++ {
		if _, err := event.Parse(line); err != nil {
			b.Fatal(err)
		}
	}
}
