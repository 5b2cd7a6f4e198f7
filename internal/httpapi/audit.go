package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if s.AuditReader == nil {
		s.fail(w, r, gateway.Unavailable("audit log not served"))
		return
	}
	cp, err := s.AuditReader.Checkpoint(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(cp)
}

func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request, p store.Principal) {
	idx, err := strconv.ParseUint(r.PathValue("index"), 10, 63)
	if err != nil {
		s.fail(w, r, gateway.BadRequest("index must be a non-negative integer"))
		return
	}
	if _, err := s.Gateway.Gate(r.Context(), p, policy.ActionAuditRead, event.ActionAuditRead, policy.Request{}); err != nil {
		s.fail(w, r, err)
		return
	}
	if s.AuditReader == nil {
		s.fail(w, r, gateway.Unavailable("audit log not served"))
		return
	}
	e, err := s.AuditReader.Entry(r.Context(), idx)
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.fail(w, r, gateway.NotFound("no entry at this index"))
		return
	case errors.Is(err, auditlog.ErrPending):
		s.fail(w, r, &gateway.Error{Code: "pending", Msg: "entry is durable but not yet in a published checkpoint; retry shortly", RetryAfter: time.Second})
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, e)
}

// Customer sign-in (/my): a one-time code to the customer's own phone,
// then a session token bound to that customer (see gateway.SubjectLogin).

type loginRequest struct {
	Phone string `json:"phone"`
}

func (s *Server) subjectLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.Gateway.SubjectLogin(r.Context(), req.Phone, sourceOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, v)
}

func (s *Server) subjectConfirm(w http.ResponseWriter, r *http.Request) {
	var req codeRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	v, err := s.Gateway.SubjectConfirm(r.Context(), r.PathValue("id"), req.Code, sourceOf(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// subjectAccesses lists every access to one customer's record: for that
// customer (own session token) or the privacy role.
func (s *Server) subjectAccesses(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer, own, ok := s.subjectOrPrivacy(w, r, event.ActionSubjectView)
	if !ok {
		return
	}
	// One read of the customer's entries: with proofs from the log, or
	// (no log attached) the bare records.
	var recs []auditlog.EntryProof
	var err error
	if s.AuditReader != nil {
		recs, err = s.AuditReader.ByCustomer(ctx, customer)
	} else {
		var rs []store.AuditRecord
		rs, err = s.Store.AuditByCustomer(ctx, customer)
		for _, rec := range rs {
			recs = append(recs, auditlog.EntryProof{Index: rec.Index, Event: rec.Event})
		}
	}
	var out []gateway.AccessView
	if err == nil {
		out, err = s.Gateway.Accesses(recs, own, s.AuditReader != nil)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": customer, "accesses": out})
}

type objectionRequest struct {
	Index   uint64 `json:"index"`
	Comment string `json:"comment"`
}

// subjectObject lets a customer flag an access ("I was not there"): it
// raises an alert on the person who made it.
func (s *Server) subjectObject(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer := r.PathValue("customer")
	cust, ok := s.Gateway.SubjectOf(bearer(r))
	if !ok {
		s.fail(w, r, &gateway.Error{Code: "unauthenticated", Msg: "sign in at /my first"})
		return
	}
	if cust != customer {
		s.fail(w, r, gateway.Forbidden("you can object only to accesses to your own record"))
		return
	}
	var req objectionRequest
	if err := decode(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	recs, err := s.Store.AuditRange(ctx, req.Index, req.Index+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if len(recs) != 1 || recs[0].Customer != customer {
		s.fail(w, r, gateway.NotFound("no such access to your record"))
		return
	}
	ev, err := event.Parse(recs[0].Event)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Alerts != nil {
		if err := s.Alerts.Raise(ctx, store.Alert{Actor: ev.Actor, Time: s.Now().UTC(), Score: 0.7, Kind: "objection", Records: 1,
			Reasons: []string{fmt.Sprintf("customer objects to access #%d: I was not there / I did not ask for this", req.Index)}}); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]any{"index": req.Index, "status": "reported to the security team"})
}

func (s *Server) trace(w http.ResponseWriter, r *http.Request, p store.Principal) {
	if s.Tracer == nil {
		s.fail(w, r, gateway.Unavailable("trace is not available on this server"))
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rep, err := s.Tracer.TraceCSV(r.Context(), body)
	if err != nil {
		var ge *gateway.Error
		if errors.As(err, &ge) {
			s.fail(w, r, err)
			return
		}
		s.fail(w, r, gateway.BadRequest("leak file: "+sanitize(err.Error())))
		return
	}
	if err := s.Gateway.Record(r.Context(), p, event.ActionTrace); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}
