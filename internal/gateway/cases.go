package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/evidence"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
)

// Prover proves audit records against one signed checkpoint (an
// *auditlog.Log), for evidence bundles.
type Prover interface {
	Prove(ctx context.Context, recs []store.AuditRecord) ([]auditlog.EntryProof, error)
	VerifierKey() string
	Origin() string
}

// SearchQuery is GET /v1/audit/search's query: every non-empty filter
// must match; Cursor continues a previous page.
type SearchQuery struct {
	Actor, Customer, Org, Site, Action, Decision string
	Since, Until                                 time.Time
	Limit                                        int
	Cursor                                       string
}

// SearchResult is one page of audit search.
type SearchResult struct {
	Entries []SearchEntry `json:"entries"`
	// Next continues with older entries; empty on the last page.
	Next string `json:"next"`
}

// SearchEntry is one audit entry found: its index and event.
type SearchEntry struct {
	Index uint64          `json:"index"`
	Event json.RawMessage `json:"event"`
}

const cursorPrefix = "c1."

// SearchAudit returns the audit entries matching q, newest first, for the
// auditor and security roles. The search is audited without its filters
// (they may name people or customers).
func (g *Gateway) SearchAudit(ctx context.Context, p store.Principal, q SearchQuery) (SearchResult, error) {
	g.init()
	sq := store.AuditQuery{Actor: q.Actor, Customer: q.Customer, Org: q.Org, Site: q.Site, Action: q.Action,
		Decision: q.Decision, Since: q.Since, Until: q.Until, Limit: q.Limit}
	for _, v := range []string{q.Actor, q.Customer, q.Org, q.Site, q.Action} {
		if v != "" && !store.ValidID(v) {
			return SearchResult{}, BadRequest("filters are ids: letters, digits and ._@:- only")
		}
	}
	if q.Decision != "" && q.Decision != event.Allow && q.Decision != event.Deny {
		return SearchResult{}, BadRequest(`decision is "allow" or "deny"`)
	}
	if q.Limit < 0 || q.Limit > 1000 {
		return SearchResult{}, BadRequest("limit is 1 to 1000")
	}
	if q.Cursor != "" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(q.Cursor, cursorPrefix))
		n, perr := strconv.ParseUint(string(b), 10, 64)
		if !strings.HasPrefix(q.Cursor, cursorPrefix) || err != nil || perr != nil || n == 0 {
			return SearchResult{}, BadRequest("cursor is not one this server gave")
		}
		sq.Before = n
	}
	recs, err := gatedList(ctx, g, p, policy.ActionAuditSearch, event.ActionAuditSearch, g.Store.SearchAudit, sq)
	if err != nil {
		return SearchResult{}, err
	}
	out := SearchResult{Entries: make([]SearchEntry, 0, len(recs))}
	for _, r := range recs {
		out.Entries = append(out.Entries, SearchEntry{Index: r.Index, Event: r.Event})
	}
	if limit := store.ClampLimit(q.Limit, 100, 1000); len(recs) == limit && recs[len(recs)-1].Index > 0 {
		out.Next = cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatUint(recs[len(recs)-1].Index, 10)))
	}
	return out, nil
}

// CaseView is a case as the API shows it.
type CaseView struct {
	ID       int64          `json:"id"`
	Alert    int64          `json:"alert"`
	Person   string         `json:"person"`
	Status   string         `json:"status"`
	Assignee string         `json:"assignee"`
	Outcome  string         `json:"outcome,omitempty"`
	From     time.Time      `json:"from"`
	Opened   time.Time      `json:"opened"`
	OpenedBy string         `json:"opened_by"`
	Updated  time.Time      `json:"updated"`
	Notes    []CaseNoteView `json:"notes,omitempty"`
}

// CaseNoteView is one note on a case.
type CaseNoteView struct {
	Time   time.Time `json:"time"`
	Author string    `json:"author"`
	Text   string    `json:"text"`
}

func caseView(c store.Case) CaseView {
	v := CaseView{ID: c.ID, Alert: c.AlertID, Person: c.Person, Status: c.Status, Assignee: c.Assignee, Outcome: c.Outcome,
		From: c.From, Opened: c.CreatedAt, OpenedBy: c.CreatedBy, Updated: c.UpdatedAt}
	for _, n := range c.Notes {
		v.Notes = append(v.Notes, CaseNoteView{Time: n.Time, Author: n.Author, Text: n.Text})
	}
	return v
}

// caseWindow is how far before its alert a case's evidence reaches.
const caseWindow = 7 * 24 * time.Hour

// OpenCase makes alert id a case (or returns the case it already is):
// assigned to the analyst who opens it, covering the person's activity
// from a week before the alert. created is false for an existing case.
func (g *Gateway) OpenCase(ctx context.Context, p store.Principal, alertID int64) (v CaseView, created bool, err error) {
	g.init()
	a, err := gatedGet(ctx, g, p, policy.ActionCases, event.ActionCaseOpen, "alert", g.Store.Alert, alertID)
	if err != nil {
		return CaseView{}, false, err
	}
	now := g.Now().UTC()
	ev := g.event(p, event.ActionCaseOpen)
	ev.Target, ev.Purpose = a.Actor, "alert:"+strconv.FormatInt(alertID, 10)
	if err := g.allow(ctx, ev); err != nil {
		return CaseView{}, false, err
	}
	c, created, err := g.Store.CreateCase(ctx, store.Case{AlertID: alertID, Person: a.Actor, Status: store.CaseOpen,
		Assignee: p.ID, From: a.Time.Add(-caseWindow), CreatedBy: p.ID, CreatedAt: now, UpdatedAt: now})
	if err != nil {
		return CaseView{}, false, err
	}
	return caseView(c), created, nil
}

// Cases lists cases, most recently updated first.
func (g *Gateway) Cases(ctx context.Context, p store.Principal, limit int) ([]CaseView, error) {
	cs, err := gatedList(ctx, g, p, policy.ActionCases, event.ActionCaseRead, g.Store.Cases, limit)
	if err != nil {
		return nil, err
	}
	out := make([]CaseView, 0, len(cs))
	for _, c := range cs {
		out = append(out, caseView(c))
	}
	return out, nil
}

// Case returns one case with its notes.
func (g *Gateway) Case(ctx context.Context, p store.Principal, id int64) (CaseView, error) {
	c, err := g.readCase(ctx, p, id, event.ActionCaseRead)
	if err != nil {
		return CaseView{}, err
	}
	return caseView(c), nil
}

// readCase gates action on case id, reads it and records the access.
func (g *Gateway) readCase(ctx context.Context, p store.Principal, id int64, action string) (store.Case, error) {
	g.init()
	c, err := gatedGet(ctx, g, p, policy.ActionCases, action, "case", g.Store.Case, id)
	if err != nil {
		return store.Case{}, err
	}
	ev := g.event(p, action)
	ev.Target, ev.Purpose = c.Person, "case:"+strconv.FormatInt(id, 10)
	return c, g.allow(ctx, ev)
}

// CasePatch is PATCH /v1/cases/{id}: the fields given change.
type CasePatch struct {
	Status   *string `json:"status"`
	Assignee *string `json:"assignee"`
	Note     *string `json:"note"`
	Outcome  *string `json:"outcome"`
}

// UpdateCase changes a case. An outcome closes it; a confirmed outcome
// keeps the person suspended until two analysts lift it, a benign one is
// fed back to the detectors (through the audit event they follow). The
// change is audited, without the note's text, before it is stored.
func (g *Gateway) UpdateCase(ctx context.Context, p store.Principal, id int64, in CasePatch) (CaseView, error) {
	g.init()
	if in.Status == nil && in.Assignee == nil && in.Note == nil && in.Outcome == nil {
		return CaseView{}, BadRequest(`give any of "status", "assignee", "note", "outcome"`)
	}
	if in.Status != nil && *in.Status != store.CaseOpen && *in.Status != store.CaseInvestigating && *in.Status != store.CaseClosed {
		return CaseView{}, BadRequest(`status is "open", "investigating" or "closed"`)
	}
	if in.Outcome != nil && *in.Outcome != store.OutcomeConfirmed && *in.Outcome != store.OutcomeBenign {
		return CaseView{}, BadRequest(`outcome is "confirmed" or "benign"`)
	}
	if in.Note != nil && (strings.TrimSpace(*in.Note) == "" || len(*in.Note) > 4000) {
		return CaseView{}, BadRequest("a note is 1 to 4000 bytes of text")
	}
	if in.Outcome != nil && in.Status != nil && *in.Status != store.CaseClosed {
		return CaseView{}, BadRequest("an outcome closes the case")
	}
	c, err := gatedGet(ctx, g, p, policy.ActionCases, event.ActionCaseUpdate, "case", g.Store.Case, id)
	if err != nil {
		return CaseView{}, err
	}
	if in.Assignee != nil && *in.Assignee != "" {
		a, err := g.Store.Principal(ctx, *in.Assignee)
		if err != nil || a.Role != "security_analyst" {
			return CaseView{}, BadRequest("the assignee must be a security analyst")
		}
	}
	now := g.Now().UTC()
	var changed []string
	if in.Status != nil && *in.Status != c.Status {
		c.Status = *in.Status
		changed = append(changed, "status="+c.Status)
	}
	if in.Assignee != nil && *in.Assignee != c.Assignee {
		c.Assignee = *in.Assignee
		changed = append(changed, "assignee="+c.Assignee)
	}
	if in.Outcome != nil {
		c.Outcome, c.Status = *in.Outcome, store.CaseClosed
		changed = append(changed, "status=closed", "outcome="+c.Outcome)
	}
	var note *store.CaseNote
	if in.Note != nil {
		note = &store.CaseNote{Time: now, Author: p.ID, Text: strings.TrimSpace(*in.Note)}
		changed = append(changed, "note")
	}
	ev := g.event(p, event.ActionCaseUpdate)
	ev.Target, ev.Purpose, ev.Reason = c.Person, "case:"+strconv.FormatInt(id, 10), strings.Join(changed, " ")
	if a, err := g.Store.Alert(ctx, c.AlertID); err == nil && c.Outcome != "" {
		ev.Reason += " kind=" + a.Kind // the detectors damp this kind for a benign outcome
	}
	if err := g.allow(ctx, ev); err != nil {
		return CaseView{}, err
	}
	c.UpdatedAt = now
	if err := g.Store.UpdateCase(ctx, c, note); err != nil {
		return CaseView{}, err
	}
	if in.Outcome != nil && *in.Outcome == store.OutcomeConfirmed {
		if err := g.holdConfirmed(ctx, p, c); err != nil {
			return CaseView{}, err
		}
	}
	c, err = g.Store.Case(ctx, id)
	if err != nil {
		return CaseView{}, err
	}
	return caseView(c), nil
}

// holdConfirmed suspends the person of a confirmed case (source "case"),
// so that only two analysts can lift it.
func (g *Gateway) holdConfirmed(ctx context.Context, p store.Principal, c store.Case) error {
	t, err := g.Store.Principal(ctx, c.Person)
	if err != nil {
		return err
	}
	if t.Status == store.StatusSuspended && (t.StatusSource == SourceDetect || t.StatusSource == SourceCase) {
		return nil
	}
	ev := g.event(p, event.ActionSuspend)
	ev.Target = c.Person
	return g.setStatus(ctx, ev, t, store.StatusSuspended, SourceCase, p.ID, "case "+strconv.FormatInt(c.ID, 10)+" confirmed")
}

// Evidence returns the evidence bundle of case id: the person's audit
// entries from the case's window, proven against one signed checkpoint.
func (g *Gateway) Evidence(ctx context.Context, p store.Principal, id int64) (evidence.Bundle, error) {
	if g.Prover == nil {
		return evidence.Bundle{}, Unavailable("the audit log is not served here")
	}
	c, err := g.readCase(ctx, p, id, event.ActionCaseEvidence)
	if err != nil {
		return evidence.Bundle{}, err
	}
	to := g.Now().UTC().Add(time.Second) // the window runs to the present
	var recs []store.AuditRecord
	q := store.AuditQuery{Actor: c.Person, Since: c.From, Until: to, Limit: 1000}
	for len(recs) < evidence.MaxEntries {
		page, err := g.Store.SearchAudit(ctx, q)
		if err != nil {
			return evidence.Bundle{}, err
		}
		recs = append(recs, page...)
		if len(page) < q.Limit {
			break
		}
		q.Before = page[len(page)-1].Index
	}
	slices.Reverse(recs) // oldest first
	proofs, err := g.Prover.Prove(ctx, recs)
	if err != nil {
		return evidence.Bundle{}, err
	}
	b := evidence.Bundle{VerifierKey: g.Prover.VerifierKey(), Manifest: evidence.Manifest{Format: evidence.Format,
		Case: c.ID, Alert: c.AlertID, Person: c.Person, From: c.From, To: to, Status: c.Status, Outcome: c.Outcome,
		Made: g.Now().UTC(), Origin: g.Prover.Origin(), Entries: []uint64{}}}
	for _, e := range proofs {
		if e.Pending {
			continue // not yet in a signed checkpoint: the next bundle has it
		}
		b.Entries = append(b.Entries, e)
		b.Manifest.Entries = append(b.Manifest.Entries, e.Index)
		b.Checkpoint, b.Manifest.TreeSize = e.Checkpoint, e.TreeSize
	}
	return b, nil
}
