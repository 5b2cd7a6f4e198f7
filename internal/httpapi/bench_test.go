package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

// world is an in-process custos on a real SQLite store and audit log.
type world struct {
	h       http.Handler
	tickets []string // ticket i is for customer i, at store-1
	token   string
}

func newWorld(tb testing.TB, customers int) *world {
	tb.Helper()
	w := &world{token: "bench-token-0123456789abcdef"}
	cfg := config.Default()
	cfg.Quotas = map[string]config.Quota{"store_clerk": {CustomersPerHour: 1 << 30, CustomersPerDay: 1 << 30}} // charged, never refused
	w.h = inProcess(tb, cfg, func(v *vault.Vault) store.Batch {
		var b store.Batch
		for i := 0; i < customers; i++ {
			id := fmt.Sprintf("c-%07d", i)
			phone := fmt.Sprintf("+86138%08d", i)
			b.Customers = append(b.Customers, store.Customer{ID: id, Region: "GD", Site: "store-1",
				Name: v.Seal(id, "name", "Customer "+id), Phone: v.Seal(id, "phone", phone), Account: v.Seal(id, "account", id+"@example.com"),
				PhoneIndex: v.BlindIndex(vault.IndexPhone, phone)})
			tid := fmt.Sprintf("T-%07d", i)
			b.Tickets = append(b.Tickets, store.Ticket{ID: tid, Customer: id, Site: "store-1", OpenedBy: "crm", OpenedAt: time.Now(), CRM: true})
			w.tickets = append(w.tickets, tid)
		}
		b.Principals = []store.Principal{{ID: "emp-1", Name: "Bench", Org: "dist-1", OrgKind: "distributor", Role: "store_clerk",
			Site: "store-1", Region: "GD", TokenHash: v.TokenHash(w.token), Status: store.StatusActive}}
		return b
	}, nil)
	return w
}

func (w *world) read(tb testing.TB, i int) {
	i %= len(w.tickets)
	req := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/v1/customers/c-%07d", i), nil)
	req.Header.Set("Authorization", "Bearer "+w.token)
	req.Header.Set("Custos-Purpose", "ticket:"+w.tickets[i])
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		tb.Fatalf("read: %d %s", rec.Code, rec.Body)
	}
}

// BenchmarkGuardedRead measures the full read path in process: token,
// purpose (ticket lookup), Cedar policy with every field decision,
// decryption, masking and the durable, group-committed audit append. It
// reports reads/s and the p99 latency across 16 concurrent callers.
func BenchmarkGuardedRead(b *testing.B) {
	w := newWorld(b, 1000)
	var mu sync.Mutex
	var lat []time.Duration
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 concurrent callers
	b.ResetTimer()
	start := time.Now()
	var n int
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		i := 0
		for pb.Next() {
			t0 := time.Now()
			w.read(b, i)
			local = append(local, time.Since(t0))
			i += 7
		}
		mu.Lock()
		lat = append(lat, local...)
		n += len(local)
		mu.Unlock()
	})
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(n)/el.Seconds(), "reads/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	}
}

func TestGuardedReadInProcess(t *testing.T) {
	w := newWorld(t, 10)
	for i := 0; i < 10; i++ {
		w.read(t, i)
	}
}
