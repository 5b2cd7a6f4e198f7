package detect_test

import (
	"runtime"
	"testing"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/detect/scenario"
	"github.com/custos-dev/custos/internal/event"
)

// BenchmarkDetect measures Engine.Observe over a generated week of a
// 300-person partner network (events already parsed), reporting events/s.
func BenchmarkDetect(b *testing.B) {
	var evs []event.Event
	scenario.Generate(scenario.Params{Seed: 7, People: 300, Days: 7}, func(ev event.Event) { evs = append(evs, ev) })
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		e := detect.New(detect.DefaultConfig())
		for i := range evs {
			e.Observe(evs[i])
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkParse measures the fast event-line parser.
func BenchmarkParse(b *testing.B) {
	var lines [][]byte
	scenario.Generate(scenario.Params{Seed: 7, People: 100, Days: 2}, func(ev event.Event) { lines = append(lines, ev.Canonical()) })
	p := detect.NewParser()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, l := range lines {
			if _, err := p.Parse(l); err != nil {
				b.Fatal(err)
			}
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// TestMemoryPerPerson measures the engine's heap per person after two
// weeks of a 300-person world, and checks it stays bounded: it is fixed-size
// state per person (plus one day's distinct set), not a log of events.
func TestMemoryPerPerson(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a world")
	}
	var evs []event.Event
	scenario.Generate(scenario.Params{Seed: 9, People: 300, Days: 14}, func(ev event.Event) { evs = append(evs, ev) })
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := detect.New(detect.DefaultConfig())
	for i := range evs {
		e.Observe(evs[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / float64(e.People())
	t.Logf("%d events, %d people: %.0f heap bytes per person", len(evs), e.People(), per)
	if per > 16<<10 {
		t.Errorf("%.0f bytes per person, want under 16 KiB", per)
	}
	runtime.KeepAlive(e)
	runtime.KeepAlive(evs)
}
