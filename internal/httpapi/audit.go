package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// accessView is one line of a customer's access history.
type accessView struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor,omitempty"` // the privacy role's view only
	Org      string    `json:"org"`
	Role     string    `json:"role"`
	Site     string    `json:"site"`
	Action   string    `json:"action"`
	Purpose  string    `json:"purpose"`
	Decision string    `json:"decision"`
	Reason   string    `json:"reason,omitempty"`
	Fields   []string  `json:"fields"`
	// Proof is the entry with its inclusion proof, as GET /v1/audit/entries
	// returns it (the customer's own view: its public form), when the log
	// serves proofs.
	Proof *auditlog.EntryProof `json:"proof,omitempty"`
}

// subjectAccesses lists every access to one customer's record: for that
// customer (own session token) or the privacy role.
func (s *Server) subjectAccesses(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	customer := r.PathValue("customer")
	if !store.ValidID(customer) {
		s.fail(w, r, gateway.BadRequest("customer must be an id"))
		return
	}
	own := false
	if cust, ok := s.Gateway.SubjectOf(bearer(r)); ok {
		if cust != customer {
			s.fail(w, r, gateway.Forbidden("you can see only your own record's history"))
			return
		}
		if err := s.Gateway.RecordSubject(ctx, customer, event.ActionSubjectView); err != nil {
			s.fail(w, r, err)
			return
		}
		own = true
	} else {
		p, err := s.authenticate(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if _, err := s.Gateway.Gate(ctx, p, policy.ActionAccessesRead, event.ActionSubjectView, policy.Request{Resource: policy.Resource{ID: customer}}); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.Gateway.RecordAccessesView(ctx, p, customer); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	// One read of the customer's entries: with proofs from the log, or
	// (no log attached) the bare records.
	var recs []auditlog.EntryProof
	if s.AuditReader != nil {
		es, err := s.AuditReader.ByCustomer(ctx, customer)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		recs = es
	} else {
		rs, err := s.Store.AuditByCustomer(ctx, customer)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		for _, rec := range rs {
			recs = append(recs, auditlog.EntryProof{Index: rec.Index, Event: rec.Event})
		}
	}
	out := make([]accessView, 0, len(recs))
	for _, rec := range recs {
		ev, err := event.Parse(rec.Event)
		if err != nil {
			s.fail(w, r, fmt.Errorf("audit record %d: %w", rec.Index, err))
			return
		}
		switch ev.Action {
		case event.ActionRead, event.ActionSearch, event.ActionExport:
		default:
			continue // sign-ins, history views and tickets are not accesses to the data
		}
		if strings.HasPrefix(ev.Purpose, policy.PurposeLegal+":") && s.Now().Before(ev.Time.Add(s.Config.LegalDisclosureDelay.Duration)) {
			continue // disclosed to the customer only after the legal delay; not even counted
		}
		v := accessView{Index: rec.Index, Time: ev.Time, Org: ev.Org, Role: ev.Role, Site: ev.Site,
			Action: ev.Action, Purpose: purposeKind(ev.Purpose), Decision: ev.Decision, Reason: ev.Reason, Fields: ev.Fields}
		if s.AuditReader != nil {
			proof := rec
			if own {
				proof = rec.Public() // names the company, role and site, never the person
			}
			v.Proof = &proof
		}
		if !own {
			v.Actor = ev.Actor
		}
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"customer": customer, "accesses": out})
}

// purposeKind shows the customer the kind of purpose and the ticket or
// consent id, never a break-glass free text (it may name third parties).
func purposeKind(p string) string {
	if k, _, ok := strings.Cut(p, ":"); ok && (k == policy.PurposeBreakGlass || k == policy.PurposeLegal) {
		return k
	}
	return p
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
