package metric

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRegisterAllOrNone checks that a set whose last collector clashes
// with one already registered leaves nothing of the set registered, so the
// caller can register a corrected set again.
func TestRegisterAllOrNone(t *testing.T) {
	r := prometheus.NewRegistry()
	if err := r.Register(Gauge("taken", "already there")); err != nil {
		t.Fatal(err)
	}
	a := Counter("a_total", "first of the set")
	if err := Register(r, a, Gauge("taken", "clashes")); err == nil {
		t.Fatal("Register with a clashing name: no error")
	}
	if err := Register(r, a); err != nil {
		t.Fatalf("a left registered after the failed set: %v", err)
	}
}
