package httpapi

import (
	"net/http"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// incidentReport serves GET /v1/incidents/{id}/report: JSON, or a printable
// HTML page with ?format=html.
func (s *Server) incidentReport(w http.ResponseWriter, r *http.Request, p store.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "html" {
		s.fail(w, r, gateway.BadRequest(`format is "json" or "html"`))
		return
	}
	rep, err := s.Gateway.IncidentReport(r.Context(), p, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if format != "html" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
	if err := rep.WriteHTML(w); err != nil {
		s.Logger.Error("incident report", "incident", id, "err", err)
	}
}
