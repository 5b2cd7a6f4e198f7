package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/custos-dev/custos/internal/store"
)

// HealthChecker says whether custos can serve. Health MUST return nil only
// while the store can take an audit append (every answer needs one), and
// an error saying why not otherwise; it is called on every /healthz and
// MUST be cheap (package auditlog's Log.Health is).
type HealthChecker interface {
	Health(ctx context.Context) error
}

// healthTimeout bounds one health check, so that a load balancer's probe
// gets an answer while the database does not.
const healthTimeout = 3 * time.Second

// healthBody is /healthz's answer. A failing check also carries the
// contract's error object, so clients that read only errors see it too.
type healthBody struct {
	Status string       `json:"status"`
	Reason string       `json:"reason,omitempty"`
	Error  *errorDetail `json:"error,omitempty"`
}

// healthz serves /healthz and /readyz: 200 {"status":"ok"} while the
// store can take an audit append, 503 {"status":"unavailable","reason":…}
// with a Retry-After while it cannot. A load balancer should send traffic
// only on 200; custos recovers by itself when the store does.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.Health == nil {
		writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	err := s.Health.Health(ctx)
	if err == nil {
		if s.unready.CompareAndSwap(true, false) {
			s.Logger.Info("health check passing again")
		}
		s.metrics.ready.Set(1)
		writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
		return
	}
	if r.Context().Err() != nil {
		return // the caller left
	}
	if s.unready.CompareAndSwap(false, true) {
		s.Logger.Warn("health check failing", "err", err)
	}
	s.metrics.ready.Set(0)
	// The body is public: it names the kind of trouble, not the
	// database's address or the driver's message (those go to the log).
	var reason string
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		reason = "the store did not answer within " + healthTimeout.String()
	case errors.Is(err, store.ErrUnavailable):
		reason = "the store cannot take an audit append (unreachable, disk full or failing, or out of connections)"
	default:
		reason = "the audit log cannot append"
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(store.DefaultRetryAfter/time.Second)))
	writeJSON(w, http.StatusServiceUnavailable, healthBody{Status: "unavailable", Reason: reason,
		Error: &errorDetail{Code: "unavailable", Message: "custos cannot record decisions right now; " + reason}})
}

// livez serves /livez: 200 while the process serves HTTP at all, whatever
// the store's state (a liveness probe that restarts custos on a database
// outage would only add restarts to the outage).
func (s *Server) livez(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthBody{Status: "ok"})
}
