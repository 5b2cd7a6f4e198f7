// Package metric builds the unlabelled Prometheus metrics custos's
// packages keep in their own structs, and registers a package's set all
// at once or not at all. It keeps no registry of its own: callers pass
// theirs in.
package metric

import "github.com/prometheus/client_golang/prometheus"

// Counter returns a new counter.
func Counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
}

// Gauge returns a new gauge.
func Gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
}

// GaugeFunc returns a new gauge whose value is f's when it is collected.
func GaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
}

// Histogram returns a new histogram with the given bucket bounds.
func Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets})
}

// Register registers every collector in cs with r, or, if one fails,
// unregisters those it registered and returns that error.
func Register(r prometheus.Registerer, cs ...prometheus.Collector) error {
	for i, c := range cs {
		if err := r.Register(c); err != nil {
			Unregister(r, cs[:i]...)
			return err
		}
	}
	return nil
}

// Unregister unregisters every collector in cs from r.
func Unregister(r prometheus.Registerer, cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Unregister(c)
	}
}
