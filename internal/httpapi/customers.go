package httpapi

import (
	"net/http"

	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/store"
)

// putCustomer serves PUT /v1/customers/{id}: the CRM integration creates
// (201) or replaces (200) one customer record. The body is the record's
// fields (gateway.CustomerInput); the answer names the id and says which
// happened, and repeats no personal data.
func (s *Server) putCustomer(w http.ResponseWriter, r *http.Request, p store.Principal) {
	var in gateway.CustomerInput
	if err := decode(r, &in); err != nil {
		s.fail(w, r, err)
		return
	}
	res, err := s.Gateway.PutCustomer(r.Context(), p, r.PathValue("id"), in)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	writeJSON(w, status, res)
}
