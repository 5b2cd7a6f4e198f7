package auditlog

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// BenchmarkAppend measures durable audited appends through the group commit
// with c concurrent appenders: appends/s, p50/p99 Append latency, and the
// longest publication lag (commit to signed checkpoint) seen. With think,
// each appender pauses that long between appends, as a gateway's clients
// do between a response and their next request.
//
//	go test ./internal/auditlog -run '^$' -bench Append -benchtime 40000x
func BenchmarkAppend(b *testing.B) {
	for _, bc := range []struct {
		c     int
		think time.Duration
	}{{1, 0}, {16, 0}, {64, 0}, {16, 300 * time.Microsecond}} {
		c, name := bc.c, fmt.Sprintf("appenders=%d", bc.c)
		if bc.think > 0 {
			name += fmt.Sprintf(",think=%s", bc.think)
		}
		b.Run(name, func(b *testing.B) {
			e := newEnv(b)
			lat := make([][]time.Duration, c)
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for g := range c {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
						t0 := time.Now()
						if _, err := e.log.Append(context.Background(), testEvent(int(i))); err != nil {
							b.Error(err)
							return
						}
						lat[g] = append(lat[g], time.Since(t0))
						if bc.think > 0 {
							time.Sleep(bc.think)
						}
					}
				}()
			}
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			e.waitPublished(b, uint64(b.N))
			all := slices.Concat(lat...)
			slices.Sort(all)
			q := func(p float64) float64 {
				return float64(all[min(len(all)-1, int(p*float64(len(all))))].Microseconds()) / 1000
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(e.log.commits.Load()), "recs/commit")
			b.ReportMetric(float64(e.log.commitNanos.Load())/float64(e.log.commits.Load())/1e6, "ms/commit")
			b.ReportMetric(q(0.50), "p50_ms")
			b.ReportMetric(q(0.99), "p99_ms")
			var m dto.Metric
			if err := e.log.m.publishDelay.Write(&m); err == nil && m.GetHistogram().GetSampleCount() > 0 {
				h := m.GetHistogram()
				b.ReportMetric(1000*h.GetSampleSum()/float64(h.GetSampleCount()), "mean_publish_lag_ms")
			}
			e.log.lag.mu.Lock()
			b.ReportMetric(float64(e.log.lag.maxDelay.Milliseconds()), "max_publish_lag_ms")
			e.log.lag.mu.Unlock()
		})
	}
}

// BenchmarkVerify measures Verify over a log of b.N entries (entries/s).
//
//	go test ./internal/auditlog -run '^$' -bench Verify -benchtime 100000x
func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	const c = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := e.log.Append(context.Background(), testEvent(int(i))); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	e.waitPublished(b, uint64(b.N))
	if err := e.log.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	rep, err := Verify(context.Background(), e.store, e.dir, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(rep.Records)/time.Since(start).Seconds(), "entries/s")
}
