package httpapi

import (
	"context"
	"net/http"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// incidentRoutes are data incidents and the customers' rights.
func (s *Server) incidentRoutes(handle func(string, http.HandlerFunc)) {
	g := s.Gateway
	handle("POST /v1/incidents", s.authed(callCreating(s, func(ctx context.Context, r *http.Request, p store.Principal, req gateway.IncidentRequest) (gateway.IncidentView, bool, error) {
		return g.CreateIncident(ctx, p, req)
	})))
	handle("GET /v1/incidents", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (map[string][]gateway.IncidentView, error) {
		ins, err := g.Incidents(ctx, p)
		return map[string][]gateway.IncidentView{"incidents": ins}, err
	})))
	handle("GET /v1/incidents/{id}", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.IncidentView, error) {
		id, err := pathID(r)
		if err != nil {
			return gateway.IncidentView{}, err
		}
		return g.Incident(ctx, p, id)
	})))
	handle("GET /v1/incidents/{id}/report", s.authed(s.incidentReport))
	handle("GET /v1/subjects/{customer}/incidents", func(w http.ResponseWriter, r *http.Request) {
		customer, _, ok := s.subjectOrPrivacy(w, r, event.ActionSubjectIncView)
		if !ok {
			return
		}
		ins, err := g.SubjectIncidents(r.Context(), customer)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"customer": customer, "incidents": ins})
	})
	handle("POST /v1/subjects/{customer}/erasure-request", func(w http.ResponseWriter, r *http.Request) {
		customer := r.PathValue("customer")
		if cust, own := g.SubjectOf(bearer(r)); !own || cust != customer {
			s.fail(w, r, gateway.Forbidden("only the customer, signed in on their own page, asks to be erased"))
			return
		}
		if err := g.RequestErasure(r.Context(), customer); err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]string{"customer": customer, "status": "requested"})
	})
	handle("GET /v1/erasure-requests", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (map[string][]gateway.ErasureRequestView, error) {
		rs, err := g.ErasureRequests(ctx, p)
		return map[string][]gateway.ErasureRequestView{"requests": rs}, err
	})))
	handle("POST /v1/subjects/{customer}/erase", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, req struct {
		Reason string `json:"reason"`
	}) (map[string]string, error) {
		c := r.PathValue("customer")
		return map[string]string{"customer": c, "status": "erased"}, g.Erase(ctx, p, c, req.Reason)
	})))
}

// subjectOrPrivacy admits the customer of the path (own session token: own
// is set) or a principal the policy lets read access histories, and audits
// the view as action. It answers the request itself when it returns false.
func (s *Server) subjectOrPrivacy(w http.ResponseWriter, r *http.Request, action string) (customer string, own, ok bool) {
	ctx := r.Context()
	customer = r.PathValue("customer")
	if !store.ValidID(customer) {
		s.fail(w, r, gateway.BadRequest("customer must be an id"))
		return "", false, false
	}
	if cust, own := s.Gateway.SubjectOf(bearer(r)); own {
		if cust != customer {
			s.fail(w, r, gateway.Forbidden("you can see only your own record"))
			return "", false, false
		}
		if err := s.Gateway.RecordSubject(ctx, customer, action); err != nil {
			s.fail(w, r, err)
			return "", false, false
		}
		return customer, true, true
	}
	p, err := s.authenticate(r)
	if err == nil {
		_, err = s.Gateway.Gate(ctx, p, policy.ActionAccessesRead, action, policy.Request{Resource: policy.Resource{ID: customer}})
	}
	if err == nil {
		err = s.Gateway.RecordCustomerView(ctx, p, customer, action)
	}
	if err != nil {
		s.fail(w, r, err)
		return "", false, false
	}
	return customer, false, true
}
