package postgres_test

import (
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// The benchmarks measure the two writes every read through the gateway
// makes (a quota charge and an audit append) with one Store and with two
// Stores on one database (two gateways), all goroutines in parallel:
//
//	go test -run '^$' -bench . -benchtime 2000x ./internal/store/postgres/

func benchStores(b *testing.B, gateways int) []store.Store {
	dbURL := newDatabase(b)
	var ss []store.Store
	for range gateways {
		ss = append(ss, open(b, dbURL))
	}
	return ss
}

func BenchmarkChargeQuota(b *testing.B) {
	for _, gw := range []int{1, 2} {
		b.Run(fmt.Sprintf("gateways=%d", gw), func(b *testing.B) {
			ss := benchStores(b, gw)
			at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
			var n atomic.Int64
			b.SetParallelism(parallelism())
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					s := ss[int(i)%len(ss)]
					// 50 principals, each reading distinct customers.
					if _, err := s.ChargeQuota(b.Context(), fmt.Sprintf("emp-%d", i%50), fmt.Sprintf("c-%d", i),
						at, store.QuotaLimits{PerHour: 1 << 30}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	for _, gw := range []int{1, 2} {
		for _, size := range []int{1, 64} {
			b.Run(fmt.Sprintf("gateways=%d/batch=%d", gw, size), func(b *testing.B) {
				ss := benchStores(b, gw)
				recs := make([]store.AuditRecord, size)
				for i := range recs {
					recs[i] = store.AuditRecord{Time: time.Now(), Actor: "emp-1", Customer: "c-1",
						Event: make([]byte, 300), Salt: make([]byte, 16)}
				}
				var n atomic.Int64
				b.SetParallelism(parallelism())
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						s := ss[int(n.Add(1))%len(ss)]
						if _, err := s.AppendAudit(b.Context(), recs); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "records/s")
			})
		}
	}
}

// parallelism is goroutines per CPU in the benchmarks (BENCH_PARALLELISM,
// default 4).
func parallelism() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_PARALLELISM")); err == nil && n > 0 {
		return n
	}
	return 4
}

// BenchmarkImport imports customers in batches of 10,000 (b.N rounded up).
func BenchmarkImport(b *testing.B) {
	s := benchStores(b, 1)[0]
	const batch = 10000
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		var cs []store.Customer
		for i := done; i < done+batch; i++ {
			cs = append(cs, store.Customer{ID: fmt.Sprintf("c-%08d", i), Region: "GD", Site: "store-0001",
				Name: make([]byte, 40), Phone: make([]byte, 40), Account: make([]byte, 40),
				PhoneIndex: []byte(fmt.Sprintf("p%d", i)), AccountIndex: []byte(fmt.Sprintf("a%d", i)), NameIndex: []byte(fmt.Sprintf("n%d", i))})
		}
		if err := s.Import(b.Context(), store.Batch{Customers: cs}); err != nil {
			b.Fatal(err)
		}
	}
}
