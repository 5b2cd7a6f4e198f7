package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/custos-dev/custos/api"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// PurposeHeader carries the purpose of an access.
const PurposeHeader = "Custos-Purpose"

// call adapts a gateway operation to HTTP: decode the JSON body into In
// (none when In is struct{}), call f with the request's context, encode
// its result with status ok. Every handler of the API's core is one call.
func call[In, Out any](s *Server, ok int, f func(ctx context.Context, r *http.Request, p store.Principal, in In) (Out, error)) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p store.Principal) {
		var in In
		if _, none := any(in).(struct{}); !none {
			if err := decode(r, &in); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		out, err := f(r.Context(), r, p, in)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, ok, out)
	}
}

type none = struct{}

// callCreating is call for operations that create something unless it
// exists: 201 when f created it, 200 when it returned the existing one.
func callCreating[In, Out any](s *Server, f func(ctx context.Context, r *http.Request, p store.Principal, in In) (Out, bool, error)) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p store.Principal) {
		var created bool
		call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, in In) (Out, error) {
			out, c, err := f(ctx, r, p, in)
			created = c
			return out, err
		})(&createdWriter{ResponseWriter: w, created: &created}, r, p)
	}
}

// createdWriter turns a 200 into a 201 when *created.
type createdWriter struct {
	http.ResponseWriter
	created *bool
}

func (w *createdWriter) WriteHeader(code int) {
	if code == http.StatusOK && *w.created {
		code = http.StatusCreated
	}
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) coreRoutes(handle func(string, http.HandlerFunc)) {
	g := s.Gateway
	handle("GET /v1/me", s.authed(s.me))
	handle("GET /v1/customers/{id}", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.CustomerView, error) {
		return g.Read(ctx, p, r.PathValue("id"), r.Header.Get(PurposeHeader))
	})))
	handle("PUT /v1/customers/{id}", s.authed(s.putCustomer))
	handle("POST /v1/customers/search", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, q gateway.Query) (gateway.CustomerView, error) {
		return g.Search(ctx, p, q, r.Header.Get(PurposeHeader))
	})))
	handle("GET /v1/customers", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (none, error) {
		return none{}, g.RefuseBulk(ctx, p, policy.ActionList)
	})))
	handle("POST /v1/customers/export", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (none, error) {
		return none{}, g.RefuseBulk(ctx, p, policy.ActionExport)
	})))
	handle("POST /v1/tickets", s.authed(call(s, http.StatusCreated, func(ctx context.Context, r *http.Request, p store.Principal, req gateway.TicketRequest) (gateway.TicketView, error) {
		return g.OpenTicket(ctx, p, req)
	})))
	handle("POST /v1/tickets/{id}/assign", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, req struct {
		To string `json:"to"`
	}) (gateway.TicketView, error) {
		return g.AssignTicket(ctx, p, r.PathValue("id"), req.To)
	})))
	handle("POST /v1/tickets/{id}/close", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.TicketView, error) {
		return g.CloseTicket(ctx, p, r.PathValue("id"))
	})))
	handle("POST /v1/consents", s.authed(call(s, http.StatusCreated, func(ctx context.Context, r *http.Request, p store.Principal, req struct {
		Customer string `json:"customer"`
	}) (gateway.ConsentView, error) {
		return g.StartConsent(ctx, p, req.Customer)
	})))
	handle("POST /v1/consents/{id}/confirm", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, req codeRequest) (gateway.ConsentView, error) {
		return g.ConfirmConsent(ctx, p, r.PathValue("id"), req.Code)
	})))
	handle("POST /v1/breakglass", s.authed(call(s, http.StatusCreated, func(ctx context.Context, r *http.Request, p store.Principal, req struct {
		Customer string `json:"customer"`
		Reason   string `json:"reason"`
	}) (gateway.BreakGlassView, error) {
		return g.RequestBreakGlass(ctx, p, req.Customer, req.Reason)
	})))
	handle("POST /v1/breakglass/{id}/approve", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.BreakGlassView, error) {
		return g.ApproveBreakGlass(ctx, p, r.PathValue("id"))
	})))
	handle("POST /v1/principals/{id}/suspend", s.authed(s.changeStatus(store.StatusSuspended)))
	handle("POST /v1/principals/{id}/reinstate", s.authed(s.changeStatus(store.StatusActive)))
	handle("POST /v1/principals/{id}/notice", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, req struct {
		LastDay string `json:"last_day"` // YYYY-MM-DD
	}) (map[string]string, error) {
		day, err := time.Parse("2006-01-02", req.LastDay)
		if err != nil {
			return nil, gateway.BadRequest(`"last_day" must be a date, YYYY-MM-DD`)
		}
		id := r.PathValue("id")
		return map[string]string{"id": id, "last_day": req.LastDay}, g.Notice(ctx, p, id, day)
	})))
}

type codeRequest struct {
	Code string `json:"code"`
}

// changeStatus suspends or reinstates: 200 when done, 202 while a second
// analyst's approval is pending.
func (s *Server) changeStatus(status string) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p store.Principal) {
		var req struct {
			Reason string `json:"reason"`
		}
		if err := decode(r, &req); err != nil {
			s.fail(w, r, err)
			return
		}
		res, err := s.Gateway.ChangeStatus(r.Context(), p, r.PathValue("id"), status, req.Reason)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if res.Pending {
			writeJSON(w, http.StatusAccepted, res)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, p store.Principal) {
	q := s.Config.Quotas[p.Role]
	h, d, err := s.Store.QuotaUsage(r.Context(), p.ID, s.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rem := func(limit, used int) int {
		if limit == 0 {
			return -1 // unlimited
		}
		return max(limit-used, 0)
	}
	status := p.Status
	if status == "" {
		status = store.StatusActive
	}
	writeJSON(w, http.StatusOK, api.Me{ID: p.ID, Name: p.Name, Org: p.Org, OrgKind: p.OrgKind, Role: p.Role,
		Site: p.Site, Region: p.Region, Status: status,
		Quota: api.Quota{PerHour: q.CustomersPerHour, PerDay: q.CustomersPerDay, UsedHour: h, UsedDay: d,
			RemainingHour: rem(q.CustomersPerHour, h), RemainingDay: rem(q.CustomersPerDay, d)}})
}
