package auditlog

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the log's Prometheus metrics. They carry no labels and no
// event contents.
type metrics struct {
	appends         prometheus.Counter
	appendErrors    prometheus.Counter
	appendSeconds   prometheus.Histogram
	commitBatch     prometheus.Histogram
	commitSeconds   prometheus.Histogram
	storeSize       prometheus.Gauge
	integratedSize  prometheus.Gauge
	checkpointSize  prometheus.Gauge
	integrateErrors prometheus.Counter
	inconsistent    prometheus.Gauge
	publishDelay    prometheus.Histogram
	publishLag      prometheus.GaugeFunc
	feedLag         *lagCollector
	witnessRefusals prometheus.Counter
	available       prometheus.Gauge

	reg prometheus.Registerer
}

func newMetrics(l *Log) *metrics {
	return &metrics{
		appends: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "custos_audit_appends_total",
			Help: "Audit records committed to the store.",
		}),
		appendErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "custos_audit_append_errors_total",
			Help: "Audit records whose commit failed.",
		}),
		appendSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custos_audit_append_seconds",
			Help:    "Time from Append to the record's commit (group commit).",
			Buckets: []float64{.0002, .0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .5},
		}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custos_audit_commit_batch_records",
			Help:    "Records per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custos_audit_commit_seconds",
			Help:    "Time one group commit takes to make its records durable in the store.",
			Buckets: []float64{.0002, .0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .5},
		}),
		storeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_audit_store_size",
			Help: "Audit records committed to the store.",
		}),
		integratedSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_audit_integrated_size",
			Help: "Entries integrated into the tiled log.",
		}),
		checkpointSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_audit_checkpoint_size",
			Help: "Tree size of the latest signed checkpoint.",
		}),
		integrateErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "custos_audit_integrate_errors_total",
			Help: "Failed integration attempts (retried).",
		}),
		inconsistent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_audit_inconsistent",
			Help: "1 when integration stopped because the tiled log and the store disagree.",
		}),
		publishDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "custos_audit_publish_delay_seconds",
			Help:    "Time from a group commit to the first signed checkpoint covering it.",
			Buckets: []float64{.05, .1, .2, .3, .4, .5, .75, 1, 2, 5, 10},
		}),
		publishLag: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "custos_audit_publish_lag_seconds",
			Help: "How long the oldest committed audit record has waited for a signed checkpoint (0 when all are covered).",
		}, func() float64 { return l.lag.oldest().Seconds() }),
		feedLag: newLagCollector(&l.hub),
		witnessRefusals: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "custos_audit_witness_refusals_total",
			Help: "Checkpoints a witness refused to cosign because its view of the log differs (split view, rollback) or it does not trust the log.",
		}),
		available: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_audit_store_available",
			Help: "1 while the store takes audit appends (last group commit or health probe succeeded), 0 while it cannot.",
		}),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.appends, m.appendErrors, m.appendSeconds, m.commitBatch, m.commitSeconds, m.storeSize,
		m.integratedSize, m.checkpointSize, m.integrateErrors, m.inconsistent, m.publishDelay, m.publishLag, m.feedLag,
		m.witnessRefusals, m.available}
}

func (m *metrics) register(r prometheus.Registerer) error {
	for i, c := range m.all() {
		if err := r.Register(c); err != nil {
			for _, d := range m.all()[:i] {
				r.Unregister(d)
			}
			return err
		}
	}
	m.reg = r
	return nil
}

// unregister removes the metrics so that a new Log can register again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	for _, c := range m.all() {
		m.reg.Unregister(c)
	}
	m.reg = nil
}
