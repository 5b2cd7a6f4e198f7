package httpapi

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/gateway"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/watch"
)

// Dashboard endpoints beyond the contract's, for the security team's pages:
//
//	GET  /v1/people?limit=N        people ranked by risk (alerts.read)
//	GET  /v1/people/{id}           one person's risk and daily timeline (alerts.read)
//	GET  /v1/audit/entries?from=&limit=  recent audit entries with proofs (audit.read)
//	GET  /v1/policies              policies and quotas in force (policies.read)
//	GET  /session                  who the session cookie signs in (session.go)
//	POST /session, /session/logout the dashboard's cookie sign-in (session.go)
//
// People and Person answer 503 "unavailable" while no RiskSource is set.

// evPoliciesRead is the audit action recorded when policies.read is denied.
const evPoliciesRead = "policies.read"

// dashboardRoutes registers the JSON endpoints the dashboard needs beyond
// the contract's (people at risk, timelines, audit listing, policies), and
// the dashboard's session sign-in.
func (s *Server) dashboardRoutes(handle func(pattern string, h http.HandlerFunc)) {
	handle("GET /v1/people", s.gated(policy.ActionAlertsRead, event.ActionAlertsRead, s.people))
	handle("GET /v1/people/{id}", s.gated(policy.ActionAlertsRead, event.ActionAlertsRead, s.person))
	handle("GET /v1/audit/entries", s.gated(policy.ActionAuditRead, event.ActionAuditRead, s.auditEntries))
	handle("GET /v1/policies", s.gated(policy.ActionPoliciesRead, evPoliciesRead, s.policies))
	handle("GET /session", s.sessionState)
	handle("POST /session", s.sessionLogin)
	handle("POST /session/logout", s.sessionLogout)
}

func errUnavailable(msg string) error { return gateway.Unavailable(msg) }

// queryInt reads an integer query parameter in [lo, hi], def when absent.
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, gateway.BadRequest(name + " must be an integer " + strconv.Itoa(lo) + ".." + strconv.Itoa(hi))
	}
	return n, nil
}

func (s *Server) people(w http.ResponseWriter, r *http.Request, p store.Principal) {
	limit, err := queryInt(r, "limit", 100, 1, 10000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if s.Risk == nil {
		s.fail(w, r, errUnavailable("risk ranking is not available on this server"))
		return
	}
	v, err := s.Risk.People(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]watch.PersonView{"people": v})
}

func (s *Server) person(w http.ResponseWriter, r *http.Request, p store.Principal) {
	id := r.PathValue("id")
	if !store.ValidID(id) {
		s.fail(w, r, gateway.BadRequest("person id must be an exact id"))
		return
	}
	if s.Risk == nil {
		s.fail(w, r, errUnavailable("risk timelines are not available on this server"))
		return
	}
	v, err := s.Risk.Person(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, gateway.NotFound("no such person"))
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// auditListing is the body of GET /v1/audit/entries.
type auditListing struct {
	// Size is the number of entries in the log (committed to the store).
	Size uint64 `json:"size"`
	// TreeSize is the size of the latest signed checkpoint.
	TreeSize   uint64 `json:"tree_size"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// Entries are newest first: with proofs (as GET /v1/audit/entries/{i})
	// for entries the checkpoint covers, and marked pending otherwise.
	Entries []auditlog.EntryProof `json:"entries"`
}

// auditEntries lists the newest entries of the audit log (or those below
// from, for paging back), each with its inclusion proof.
func (s *Server) auditEntries(w http.ResponseWriter, r *http.Request, p store.Principal) {
	limit, err := queryInt(r, "limit", 25, 1, 200)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var before uint64
	hasFrom := r.URL.Query().Get("from") != ""
	if hasFrom {
		n, err := strconv.ParseUint(r.URL.Query().Get("from"), 10, 63)
		if err != nil {
			s.fail(w, r, gateway.BadRequest("from must be a non-negative integer (list entries below it)"))
			return
		}
		before = n
	}
	if s.AuditReader == nil {
		s.fail(w, r, errUnavailable("audit log not served"))
		return
	}
	ctx := r.Context()
	size, err := s.Store.AuditSize(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := auditListing{Size: size, Entries: []auditlog.EntryProof{}}
	if cp, err := s.AuditReader.Checkpoint(ctx); err == nil {
		out.Checkpoint = string(cp)
		out.TreeSize = checkpointSize(cp)
	}
	if !hasFrom || before > size {
		before = size
	}
	from := uint64(0)
	if before > uint64(limit) {
		from = before - uint64(limit)
	}
	recs, err := s.Store.AuditRange(ctx, from, before)
	var proofs []auditlog.EntryProof
	if err == nil {
		proofs, err = s.AuditReader.Prove(ctx, recs) // all against one checkpoint
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	slices.Reverse(proofs)
	out.Entries = append(out.Entries, proofs...)
	writeJSON(w, http.StatusOK, out)
}

// checkpointSize reads the tree size (second line) of a checkpoint note.
func checkpointSize(note []byte) uint64 {
	sc := bufio.NewScanner(bytes.NewReader(note))
	for i := 0; sc.Scan(); i++ {
		if i == 1 {
			n, err := strconv.ParseUint(sc.Text(), 10, 64)
			if err != nil {
				return 0
			}
			return n
		}
	}
	return 0
}

func (s *Server) policies(w http.ResponseWriter, r *http.Request, p store.Principal) {
	writeJSON(w, http.StatusOK, s.Gateway.PoliciesInForce())
}

// alertView is an alert with its actor's status now.
type alertView struct {
	store.Alert
	Status string `json:"actor_status,omitempty"`
}

func (s *Server) alerts(w http.ResponseWriter, r *http.Request, p store.Principal) {
	limit, err := queryInt(r, "limit", 200, 1, 10000)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	as, err := s.Store.Alerts(r.Context(), limit)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]alertView, 0, len(as))
	status := map[string]string{}
	for _, a := range as {
		st, ok := status[a.Actor]
		if !ok {
			if pr, err := s.Store.Principal(r.Context(), a.Actor); err == nil {
				st = pr.Status
			}
			status[a.Actor] = st
		}
		out = append(out, alertView{Alert: a, Status: st})
	}
	writeJSON(w, http.StatusOK, map[string]any{"alerts": out})
}
