// Package httpapi is custos's HTTP API (shared/CONTRACT.md §2): the guarded
// read path and everything around it. Handlers are thin: they decode,
// establish facts, ask the policy, append the decision to the audit log, and
// only then answer.
//
// Every decision on a customer, allow or deny, is appended to the audit log
// and durable before the response is written. If the append fails the caller
// gets 503 and no data.
package httpapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/config"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/trace"
	"github.com/custos-dev/custos/internal/vault"
	"github.com/custos-dev/custos/internal/watch"
)

// AuditReader serves the auditor-facing endpoints (an *auditlog.Log).
type AuditReader interface {
	// Checkpoint returns the latest signed checkpoint (signed-note text).
	Checkpoint(ctx context.Context) ([]byte, error)
	// Entry returns one entry with its inclusion proof; auditlog.ErrPending
	// while no published checkpoint covers it.
	Entry(ctx context.Context, index uint64) (auditlog.EntryProof, error)
	// ByCustomer returns the customer's entries in log order, each with
	// its proof (or marked pending).
	ByCustomer(ctx context.Context, customer string) ([]auditlog.EntryProof, error)
	// Prove returns records with their proofs against one checkpoint.
	Prove(ctx context.Context, recs []store.AuditRecord) ([]auditlog.EntryProof, error)
}

// Tracer runs leak attribution for POST /v1/trace.
type Tracer interface {
	TraceCSV(ctx context.Context, csv []byte) (trace.Report, error)
}

// Store is what the API reads directly, beside the gateway: quota usage,
// alerts, the audit records for listings, dashboard sessions.
type Store interface {
	QuotaUsage(ctx context.Context, principal string, at time.Time) (hour, day int, err error)
	Principal(ctx context.Context, id string) (store.Principal, error)
	Alerts(ctx context.Context, limit int) ([]store.Alert, error)
	AuditSize(ctx context.Context) (uint64, error)
	AuditRange(ctx context.Context, from, to uint64) ([]store.AuditRecord, error)
	AuditByCustomer(ctx context.Context, customer string) ([]store.AuditRecord, error)
	PutSession(ctx context.Context, idHash []byte, principal string, expires time.Time) error
	Session(ctx context.Context, idHash []byte) (principal string, expires time.Time, err error)
	DeleteSession(ctx context.Context, idHash []byte) error
}

// RiskSource is the detectors' view of people: risk ranking and timelines
// (a *watch.Runner).
type RiskSource interface {
	// People returns people ranked by risk, highest first.
	People(ctx context.Context, limit int) ([]watch.PersonView, error)
	// Person returns one person's risk, reasons and daily timeline with
	// the peer band.
	Person(ctx context.Context, id string) (watch.PersonDetail, error)
}

// Server is the HTTP API. Set the fields, then call Handler. Fields must not
// change after that.
type Server struct {
	// Gateway is the security core every decision goes through. Required.
	Gateway *gateway.Gateway
	Store   Store
	Vault   *vault.Vault
	Policy  policy.Authorizer
	Config  config.Config
	Logger  *slog.Logger
	// Registerer receives the API's metrics; nil means none.
	Registerer prometheus.Registerer
	// Gatherer serves /metrics to an operator (Config.MetricsToken); nil
	// means no /metrics on the API's address.
	Gatherer prometheus.Gatherer
	// Now is the clock (default time.Now).
	Now func() time.Time

	// Optional parts, mounted when set.
	AuditReader AuditReader
	LogHandler  http.Handler // served under /log/
	Web         http.Handler // served at / (the dashboard)
	Tracer      Tracer
	Alerts      gateway.Alerter
	OpenAPI     []byte
	// Risk serves the detectors' view of people for the dashboard.
	Risk  RiskSource
	Extra map[string]http.Handler // extra "METHOD /path" routes

	// MaxBody caps request bodies (default 1 MiB; trace uploads 64 MiB).
	MaxBody int64
	// Health says whether custos can serve (see health.go); nil means
	// /healthz always answers 200.
	Health HealthChecker

	once    sync.Once
	metrics *metrics
	unready atomic.Bool // the last health check failed
}

type metrics struct {
	ready     prometheus.Gauge
	requests  *prometheus.CounterVec
	decisions *prometheus.CounterVec
	latency   *prometheus.HistogramVec
}

// Init sets the server's defaults, registers its metrics and installs its
// decision hook on the Gateway, once; Handler and the other entry points
// call it. A caller whose background work uses the Gateway before the
// first request (the detectors' containment) calls it first, so that the
// hook is not installed while the Gateway reads it.
func (s *Server) Init() {
	s.once.Do(func() {
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Logger == nil {
			s.Logger = slog.New(slog.DiscardHandler)
		}
		if s.MaxBody == 0 {
			s.MaxBody = 1 << 20
		}
		s.metrics = &metrics{
			requests: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "custos_http_requests_total", Help: "HTTP requests by route and status code.",
			}, []string{"route", "code"}),
			decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "custos_decisions_total", Help: "Access decisions by action, decision and reason.",
			}, []string{"action", "decision", "reason"}),
			latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
				Name: "custos_http_request_duration_seconds", Help: "HTTP request latency by route.",
				Buckets: []float64{.0005, .001, .002, .005, .01, .025, .05, .1, .25, 1},
			}, []string{"route"}),
		}
		s.metrics.ready = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "custos_ready", Help: "1 when the last health check (/healthz, /readyz) passed, 0 when it failed.",
		})
		s.metrics.ready.Set(1)
		if s.Registerer != nil {
			s.Registerer.MustRegister(s.metrics.requests, s.metrics.decisions, s.metrics.latency, s.metrics.ready)
		}
		prev := s.Gateway.OnDecision
		s.Gateway.OnDecision = func(ev *event.Event) {
			s.metrics.decisions.WithLabelValues(ev.Action, ev.Decision, ev.Reason).Inc()
			if prev != nil {
				prev(ev)
			}
		}
	})
}

// Handler returns the API's handler.
func (s *Server) Handler() http.Handler {
	s.Init()
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.instrument(pattern, h))
	}
	handle("GET /healthz", s.healthz)
	handle("GET /readyz", s.healthz)
	handle("GET /livez", s.livez)
	s.coreRoutes(handle)
	handle("GET /v1/alerts", s.gated(policy.ActionAlertsRead, event.ActionAlertsRead, s.alerts))
	handle("GET /v1/audit/checkpoint", s.gated(policy.ActionAuditRead, event.ActionAuditRead, s.auditCheckpoint))
	handle("GET /v1/audit/entries/{index}", s.authed(s.auditEntry))
	handle("POST /v1/subjects/login", s.subjectLogin)
	handle("POST /v1/subjects/login/{id}/confirm", s.subjectConfirm)
	handle("GET /v1/subjects/{customer}/accesses", s.subjectAccesses)
	handle("POST /v1/subjects/{customer}/objections", s.subjectObject)
	handle("POST /v1/trace", s.gated(policy.ActionTrace, event.ActionTrace, s.trace))
	s.dashboardRoutes(handle)
	s.investigationRoutes(handle)
	s.incidentRoutes(handle)
	if s.Gatherer != nil && s.Config.MetricsToken != "" {
		mux.Handle("GET /metrics", s.operatorOnly(promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{})))
	}
	if s.OpenAPI != nil {
		handle("GET /openapi.json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.OpenAPI)
		})
	}
	if s.LogHandler != nil {
		mux.Handle("GET /log/", s.LogHandler)
	}
	for pattern, h := range s.Extra {
		mux.Handle(pattern, h)
	}
	// Unknown API paths and methods get JSON errors, never HTML. The
	// catch-all matches every method, so it tells a known path with the
	// wrong method (405) from an unknown path (404) itself.
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this path")
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	if s.Web != nil {
		mux.Handle("/", s.Web)
	} else {
		mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
		})
	}
	return s.recoverer(CSRFGuard(jsonMethodErrors(mux)))
}

// allowedMethods returns the methods for which mux has a route for r's path
// other than the "/v1/" catch-all.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/v1/" {
			allow = append(allow, m)
		}
	}
	return allow
}

// operatorOnly serves h to callers with the operator's metrics token.
func (s *Server) operatorOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := bearer(r)
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.Config.MetricsToken)) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "metrics are for the operator: send Authorization: Bearer <metrics token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// recoverer turns a panic into a JSON 500 and logs it without request data.
func (s *Server) recoverer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Logger.Error("handler panic", "route", r.Pattern, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		h.ServeHTTP(w, r)
	})
}

// jsonMethodErrors rewrites the mux's plain-text 405 into the JSON error body.
func jsonMethodErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&methodRewriter{ResponseWriter: w}, r)
	})
}

type methodRewriter struct {
	http.ResponseWriter
	swallow bool
}

func (m *methodRewriter) WriteHeader(code int) {
	if code == http.StatusMethodNotAllowed && m.Header().Get("Content-Type") != "application/json" {
		m.swallow = true
		m.Header().Set("Content-Type", "application/json")
		m.Header().Del("X-Content-Type-Options")
		m.ResponseWriter.WriteHeader(code)
		json.NewEncoder(m.ResponseWriter).Encode(errorBody{errorDetail{"method_not_allowed", "method not allowed on this path"}})
		return
	}
	m.ResponseWriter.WriteHeader(code)
}

func (m *methodRewriter) Write(b []byte) (int, error) {
	if m.swallow {
		return len(b), nil
	}
	return m.ResponseWriter.Write(b)
}

func (m *methodRewriter) Flush() {
	if f, ok := m.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (m *methodRewriter) Unwrap() http.ResponseWriter { return m.ResponseWriter }

// AuditIndexHeader names, on every audited response, the index of the
// audit-log entry that recorded the decision (the last one, if several).
const AuditIndexHeader = "Custos-Audit-Index"

type statusRecorder struct {
	http.ResponseWriter
	code int
	note *gateway.Note
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
		if idx, ok := s.note.Index(); ok {
			s.Header().Set(AuditIndexHeader, strconv.FormatUint(idx, 10))
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.WriteHeader(http.StatusOK)
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx, note := gateway.WithNote(r.Context())
		rec := &statusRecorder{ResponseWriter: w, note: note}
		r = r.WithContext(ctx)
		limit := s.MaxBody
		if strings.HasSuffix(route, " /v1/trace") || strings.HasSuffix(route, " /v1/incidents") {
			limit = 64 << 20
		}
		r.Body = http.MaxBytesReader(rec, r.Body, limit)
		h(rec, r)
		if rec.code == 0 {
			rec.code = http.StatusOK
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.metrics.latency.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// Error bodies, as the contract fixes them.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if a, ok := v.(jsonAppender); ok {
		// The same bytes as below, without reflection (the guarded read).
		bp := jsonBufs.Get().(*[]byte)
		b := append(a.AppendJSON((*bp)[:0]), '\n')
		w.Write(b)
		if cap(b) <= 64<<10 {
			*bp = b
			jsonBufs.Put(bp)
		}
		return
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// jsonAppender is a value that writes its own JSON, byte for byte what
// encoding/json writes with HTML escaping off.
type jsonAppender interface{ AppendJSON([]byte) []byte }

// jsonBufs holds the buffers jsonAppenders write into.
var jsonBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, errorBody{errorDetail{code, msg}})
}

// statusFor maps a contract error code to its HTTP status.
func statusFor(code string) int {
	switch code {
	case "invalid_request":
		return http.StatusBadRequest
	case "unauthenticated":
		return http.StatusUnauthorized
	case "not_found":
		return http.StatusNotFound
	case "method_not_allowed":
		return http.StatusMethodNotAllowed
	case "too_large":
		return http.StatusRequestEntityTooLarge
	case "principal_suspended":
		return http.StatusLocked
	case "quota_exceeded", "rate_limited":
		return http.StatusTooManyRequests
	case "unavailable", "pending":
		return http.StatusServiceUnavailable
	case "conflict":
		return http.StatusConflict
	default:
		return http.StatusForbidden
	}
}

// fail writes err as the contract's JSON error: a *gateway.Error as it
// says, a store that cannot be reached or written (store.ErrUnavailable)
// as 503 "unavailable"; every 503 carries a Retry-After. Anything else is
// a bug: it is logged and becomes a 500 without details.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if ge := gateway.AsError(err); ge != nil {
		if errors.Is(err, store.ErrUnavailable) {
			s.Logger.Warn("store unavailable", "route", r.Pattern, "err", err)
		}
		status := statusFor(ge.Code)
		retry := ge.RetryAfter
		if retry <= 0 && status == http.StatusServiceUnavailable {
			retry = time.Second
		}
		if retry > 0 {
			secs := int((retry + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
		}
		writeError(w, status, ge.Code, ge.Msg)
		return
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body over %d bytes", mbe.Limit))
		return
	}
	if errors.Is(err, context.Canceled) {
		return
	}
	s.Logger.Error("request failed", "route", r.Pattern, "err", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error")
}

// decode reads a JSON body into v: one object, known fields only, no
// trailing data.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return gateway.BadRequest("body must be a JSON object with the documented fields: " + sanitize(err.Error()))
	}
	if dec.More() {
		return gateway.BadRequest("body must hold exactly one JSON object")
	}
	return nil
}

// sanitize keeps decoder messages short and free of echoed input.
func sanitize(msg string) string {
	if i := strings.Index(msg, "\""); i >= 0 && strings.HasPrefix(msg, "json: unknown field") {
		return "unknown field"
	}
	if len(msg) > 120 {
		msg = msg[:120]
	}
	return msg
}

// sourceOf returns the caller's IP address (no port).
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
