package policy

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkAuthorizeRead measures the full decision for a customer read:
// the read itself plus every field decision, as the gateway asks it, both
// evaluated by Cedar (cedar) and as Authorize answers a decision it has made
// before (cached). Besides ns/op it reports the p50 and p99 of individually
// timed calls (goal: p99 under 50µs).
func BenchmarkAuthorizeRead(b *testing.B) {
	for _, bc := range []struct {
		name string
		req  Request
	}{
		{"ticket", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, ID: "T-1", Valid: true}, Time: time.Now()}},
		{"consent", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeConsent, ID: "K-1", Valid: true}, Time: time.Now()}},
		{"deny-no-purpose", Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Time: time.Now()}},
	} {
		e := Default()
		for _, mode := range []struct {
			name   string
			decide func(Request) Decision
		}{
			{"cedar", e.decide},
			{"cached", func(r Request) Decision { return e.Authorize(context.Background(), r) }},
		} {
			b.Run(bc.name+"/"+mode.name, func(b *testing.B) {
				durs := make([]time.Duration, 0, b.N)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					t0 := time.Now()
					d := mode.decide(bc.req)
					durs = append(durs, time.Since(t0))
					if d.Allow && len(d.Fields) != len(Fields) {
						b.Fatal("fields missing")
					}
				}
				b.StopTimer()
				slices.Sort(durs)
				b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
			})
		}
	}
}
