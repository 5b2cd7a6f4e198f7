package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/vault"
)

const crmToken = "crm-token-0123456789abcdef"

// newCRMWorld is an in-process custos with one principal, the CRM
// integration, on a real SQLite store and audit log.
func newCRMWorld(tb testing.TB) http.Handler {
	tb.Helper()
	return inProcess(tb, config.Default(), func(v *vault.Vault) store.Batch {
		return store.Batch{Principals: []store.Principal{{ID: "crm", Name: "CRM", Org: "brand", OrgKind: "company", Role: "integration",
			TokenHash: v.TokenHash(crmToken), Status: store.StatusActive}}}
	}, nil)
}

func put(h http.Handler, id, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPut, "/v1/customers/"+id, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+crmToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func customerBody(i, version int) string {
	return fmt.Sprintf(`{"name":"Customer %d","phone":"+86137%08d","account":"c%d.v%d@example.com","region":"GD","site":"store-1"}`,
		i, (i*31+version)%100_000_000, i, version)
}

// TestPutCustomerHandler checks the handler's statuses and bodies: 201 then
// 200 with the id and no personal data, and the contract's JSON 400s.
func TestPutCustomerHandler(t *testing.T) {
	h := newCRMWorld(t)
	for _, tc := range []struct {
		id, body string
		status   int
		want     string
	}{
		{"c-1", customerBody(1, 0), 201, `{"id":"c-1","created":true}`},
		{"c-1", customerBody(1, 1), 200, `{"id":"c-1","created":false}`},
		{"c-1", `{"name":"A","phone":"+8613700000000","account":"a@b.c","region":"GD","id":"c-2"}`, 400, `"code":"invalid_request"`},
		{"c-1", `{"name":"A","phone":"0","account":"a@b.c","region":"GD"}`, 400, `"code":"invalid_request"`},
		{"c-1", `[]`, 400, `"code":"invalid_request"`},
	} {
		rec := put(h, tc.id, tc.body)
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("PUT %s %s: %d %s; want %d %s", tc.id, tc.body, rec.Code, rec.Body, tc.status, tc.want)
		}
		if rec.Header().Get("Content-Type") != "application/json" {
			t.Errorf("Content-Type %q", rec.Header().Get("Content-Type"))
		}
	}
}

// BenchmarkPutCustomer measures the CRM's single-record write in process,
// 16 concurrent callers, each write audited (durable group commit) and
// committed (its own transaction, fsync'd): writes/s and p99. It decides
// whether a batch form is needed (docs/PERFORMANCE.md).
func BenchmarkPutCustomer(b *testing.B) {
	h := newCRMWorld(b)
	var mu sync.Mutex
	var lat []time.Duration
	var seq atomic.Int64
	b.SetParallelism(8) // 8 × GOMAXPROCS(2) = 16 concurrent callers
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var local []time.Duration
		for pb.Next() {
			i := int(seq.Add(1))
			t0 := time.Now()
			if rec := put(h, fmt.Sprintf("c-%07d", i%50_000), customerBody(i%50_000, i)); rec.Code/100 != 2 {
				b.Errorf("PUT: %d %s", rec.Code, rec.Body)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		b.ReportMetric(float64(len(lat))/el.Seconds(), "writes/s")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	}
}
