package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// investigationRoutes are audit search and cases.
func (s *Server) investigationRoutes(handle func(string, http.HandlerFunc)) {
	g := s.Gateway
	handle("GET /v1/audit/search", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.SearchResult, error) {
		q, err := searchQuery(r)
		if err != nil {
			return gateway.SearchResult{}, err
		}
		return g.SearchAudit(ctx, p, q)
	})))
	handle("POST /v1/alerts/{id}/case", s.authed(callCreating(s, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.CaseView, bool, error) {
		id, err := pathID(r)
		if err != nil {
			return gateway.CaseView{}, false, err
		}
		return g.OpenCase(ctx, p, id)
	})))
	handle("GET /v1/cases", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (map[string][]gateway.CaseView, error) {
		limit, err := queryInt(r, "limit", 100, 1, 1000)
		if err != nil {
			return nil, err
		}
		cs, err := g.Cases(ctx, p, limit)
		return map[string][]gateway.CaseView{"cases": cs}, err
	})))
	handle("GET /v1/cases/{id}", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, _ none) (gateway.CaseView, error) {
		id, err := pathID(r)
		if err != nil {
			return gateway.CaseView{}, err
		}
		return g.Case(ctx, p, id)
	})))
	handle("PATCH /v1/cases/{id}", s.authed(call(s, http.StatusOK, func(ctx context.Context, r *http.Request, p store.Principal, in gateway.CasePatch) (gateway.CaseView, error) {
		id, err := pathID(r)
		if err != nil {
			return gateway.CaseView{}, err
		}
		return g.UpdateCase(ctx, p, id, in)
	})))
	handle("GET /v1/cases/{id}/evidence", s.authed(func(w http.ResponseWriter, r *http.Request, p store.Principal) {
		id, err := pathID(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		b, err := g.Evidence(r.Context(), p, id)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/x-tar")
		w.Header().Set("Content-Disposition", `attachment; filename="case-`+strconv.FormatInt(id, 10)+`-evidence.tar"`)
		if err := b.WriteTar(w); err != nil {
			s.Logger.Error("evidence bundle", "case", id, "err", err)
		}
	}))
}

// pathID reads the {id} path value as a positive integer.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, gateway.BadRequest("id must be a positive integer")
	}
	return id, nil
}

// searchQuery reads GET /v1/audit/search's query parameters.
func searchQuery(r *http.Request) (gateway.SearchQuery, error) {
	v := r.URL.Query()
	q := gateway.SearchQuery{Actor: v.Get("actor"), Customer: v.Get("customer"), Org: v.Get("org"), Site: v.Get("site"),
		Action: v.Get("action"), Decision: v.Get("decision"), Cursor: v.Get("cursor")}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"since", &q.Since}, {"until", &q.Until}} {
		if s := v.Get(t.name); s != "" {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return q, gateway.BadRequest(t.name + " must be a time in RFC 3339 (2026-11-29T08:00:00Z)")
			}
			*t.dst = tm
		}
	}
	limit, err := queryInt(r, "limit", 100, 1, 1000)
	q.Limit = limit
	return q, err
}
