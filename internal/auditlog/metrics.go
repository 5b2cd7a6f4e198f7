package auditlog

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/custos-dev/custos/internal/metric"
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
	// commitBuckets bound the time to a group commit, in seconds.
	commitBuckets := []float64{.0002, .0005, .001, .002, .003, .005, .0075, .01, .02, .05, .1, .5}
	return &metrics{
		appends: metric.Counter("custos_audit_appends_total",
			"Audit records committed to the store."),
		appendErrors: metric.Counter("custos_audit_append_errors_total",
			"Audit records whose commit failed."),
		appendSeconds: metric.Histogram("custos_audit_append_seconds",
			"Time from Append to the record's commit (group commit).",
			commitBuckets),
		commitBatch: metric.Histogram("custos_audit_commit_batch_records",
			"Records per group commit.",
			prometheus.ExponentialBuckets(1, 2, 12)),
		commitSeconds: metric.Histogram("custos_audit_commit_seconds",
			"Time one group commit takes to make its records durable in the store.",
			commitBuckets),
		storeSize: metric.Gauge("custos_audit_store_size",
			"Audit records committed to the store."),
		integratedSize: metric.Gauge("custos_audit_integrated_size",
			"Entries integrated into the tiled log."),
		checkpointSize: metric.Gauge("custos_audit_checkpoint_size",
			"Tree size of the latest signed checkpoint."),
		integrateErrors: metric.Counter("custos_audit_integrate_errors_total",
			"Failed integration attempts (retried)."),
		inconsistent: metric.Gauge("custos_audit_inconsistent",
			"1 when integration stopped because the tiled log and the store disagree."),
		publishDelay: metric.Histogram("custos_audit_publish_delay_seconds",
			"Time from a group commit to the first signed checkpoint covering it.",
			[]float64{.05, .1, .2, .3, .4, .5, .75, 1, 2, 5, 10}),
		publishLag: metric.GaugeFunc("custos_audit_publish_lag_seconds",
			"How long the oldest committed audit record has waited for a signed checkpoint (0 when all are covered).",
			func() float64 { return l.lag.oldest().Seconds() }),
		feedLag: newLagCollector(&l.hub),
		witnessRefusals: metric.Counter("custos_audit_witness_refusals_total",
			"Checkpoints a witness refused to cosign because its view of the log differs (split view, rollback) or it does not trust the log."),
		available: metric.Gauge("custos_audit_store_available",
			"1 while the store takes audit appends (last group commit or health probe succeeded), 0 while it cannot."),
	}
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.appends, m.appendErrors, m.appendSeconds, m.commitBatch, m.commitSeconds, m.storeSize,
		m.integratedSize, m.checkpointSize, m.integrateErrors, m.inconsistent, m.publishDelay, m.publishLag, m.feedLag,
		m.witnessRefusals, m.available}
}

func (m *metrics) register(r prometheus.Registerer) error {
	if err := metric.Register(r, m.all()...); err != nil {
		return err
	}
	m.reg = r
	return nil
}

// unregister removes the metrics so that a new Log can register again.
func (m *metrics) unregister() {
	if m.reg == nil {
		return
	}
	metric.Unregister(m.reg, m.all()...)
	m.reg = nil
}
