package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/policy"
	"github.com/custos-dev/custos/internal/store"
	"github.com/custos-dev/custos/internal/trace"
)

// LeakTracer resolves and attributes a leaked list (a *trace.Tracer).
type LeakTracer interface {
	TraceCSV(ctx context.Context, csv []byte) (trace.Report, error)
}

// IncidentRequest is POST /v1/incidents.
type IncidentRequest struct {
	Title   string    `json:"title"`
	FoundAt time.Time `json:"found_at"`
	Fields  []string  `json:"fields"`
	Leak    string    `json:"leak"`
	Notice  string    `json:"notice"`
}

// IncidentView is an incident as the API shows it.
type IncidentView struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	FoundAt   time.Time `json:"found_at"`
	Fields    []string  `json:"fields"`
	Notice    string    `json:"notice,omitempty"`
	Customers int       `json:"customers"`
	Notified  int       `json:"notified"`
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// Trace is the trace report behind the incident (detail view only).
	Trace json.RawMessage `json:"trace,omitempty"`
}

func incidentView(in store.Incident, detail bool) IncidentView {
	v := IncidentView{ID: in.ID, Title: in.Title, FoundAt: in.FoundAt, Fields: in.Fields, Customers: in.Customers,
		Notified: in.Notified, CreatedBy: in.CreatedBy, CreatedAt: in.CreatedAt}
	if detail {
		v.Notice = in.Notice
		if json.Valid(in.Report) {
			v.Trace = in.Report
		}
	}
	return v
}

// incidentFields are the fields a leaked list may have held.
var incidentFields = []string{"id", "name", "phone", "account", "region", "site"}

// CreateIncident records a data incident from a leaked list: resolved as
// trace resolves it, audited, and owed a notice to every matched customer
// (RunNotices sends them). The same list again is the same incident
// (created false) and nobody is told twice. A list that resolves to no
// customer is refused and nothing is recorded.
func (g *Gateway) CreateIncident(ctx context.Context, p store.Principal, req IncidentRequest) (IncidentView, bool, error) {
	g.init()
	req.Title, req.Notice = strings.TrimSpace(req.Title), strings.TrimSpace(req.Notice)
	switch {
	case req.Title == "" || len(req.Title) > 200:
		return IncidentView{}, false, BadRequest(`"title" is 1 to 200 bytes`)
	case req.FoundAt.IsZero() || req.FoundAt.After(g.Now().Add(24*time.Hour)):
		return IncidentView{}, false, BadRequest(`"found_at" is when the list was found (RFC 3339), not in the future`)
	case req.Notice == "" || len(req.Notice) > 1000:
		return IncidentView{}, false, BadRequest(`"notice" is the text each customer is sent, 1 to 1000 bytes`)
	case strings.TrimSpace(req.Leak) == "":
		return IncidentView{}, false, BadRequest(`"leak" is the leaked list, CSV as for trace`)
	case len(req.Fields) == 0:
		return IncidentView{}, false, BadRequest(`"fields" names what the list held: ` + strings.Join(incidentFields, ", "))
	}
	for _, f := range req.Fields {
		if !slices.Contains(incidentFields, f) {
			return IncidentView{}, false, BadRequest(`"fields" are among ` + strings.Join(incidentFields, ", "))
		}
	}
	if g.Tracer == nil {
		return IncidentView{}, false, Unavailable("leak tracing is not served here")
	}
	if _, err := g.Gate(ctx, p, policy.ActionIncidents, event.ActionIncidentCreate, policy.Request{}); err != nil {
		return IncidentView{}, false, err
	}
	rep, err := g.Tracer.TraceCSV(ctx, []byte(req.Leak))
	var ge *Error
	switch {
	case errors.As(err, &ge):
		return IncidentView{}, false, err
	case err != nil:
		return IncidentView{}, false, BadRequest("leak: " + err.Error())
	}
	ev := g.event(p, event.ActionIncidentCreate)
	ev.Fields = slices.Sorted(slices.Values(req.Fields))
	if len(rep.Customers) == 0 {
		return IncidentView{}, false, g.deny(ctx, ev, "invalid_request", "the list resolves to no customer; nothing was recorded", 0)
	}
	h := sha256.New()
	for _, c := range rep.Customers {
		h.Write([]byte(c + "\n"))
	}
	if err := g.allow(ctx, ev); err != nil {
		return IncidentView{}, false, err
	}
	report, _ := json.Marshal(rep)
	in, created, err := g.Store.CreateIncident(ctx, store.Incident{Title: req.Title, FoundAt: req.FoundAt.UTC(), Fields: ev.Fields,
		Notice: req.Notice, LeakHash: h.Sum(nil), CreatedBy: p.ID, CreatedAt: g.Now().UTC(), Report: report}, rep.Customers)
	if err != nil {
		return IncidentView{}, false, err
	}
	g.wakeNotices()
	return incidentView(in, false), created, nil
}

// Incidents lists incidents, newest first, with their notice progress.
func (g *Gateway) Incidents(ctx context.Context, p store.Principal) ([]IncidentView, error) {
	ins, err := gatedList(ctx, g, p, policy.ActionIncidents, event.ActionIncidentRead, g.Store.ListIncidents, 1000)
	if err != nil {
		return nil, err
	}
	out := make([]IncidentView, 0, len(ins))
	for _, in := range ins {
		out = append(out, incidentView(in, false))
	}
	return out, nil
}

// Incident returns one incident with its notice and trace.
func (g *Gateway) Incident(ctx context.Context, p store.Principal, id int64) (IncidentView, error) {
	in, err := gatedGet(ctx, g, p, policy.ActionIncidents, event.ActionIncidentRead, "incident", g.Store.Incident, id)
	if err != nil {
		return IncidentView{}, err
	}
	ev := g.event(p, event.ActionIncidentRead)
	ev.Purpose = "incident:" + strconv.FormatInt(id, 10)
	if err := g.allow(ctx, ev); err != nil {
		return IncidentView{}, err
	}
	return incidentView(in, true), nil
}

// SubjectIncident is one incident as its customer sees it: what leaked,
// when it was found, and who had read the record through custos before.
type SubjectIncident struct {
	ID      int64     `json:"id"`
	Title   string    `json:"title"`
	FoundAt time.Time `json:"found_at"`
	Fields  []string  `json:"fields"`
	Notice  string    `json:"notice"`
	// ReadBy are the companies, roles and sites whose staff read the
	// record through custos before the list was found; empty when nobody
	// had, which is evidence the leak did not come through custos.
	ReadBy []ReadBy `json:"read_by"`
}

// ReadBy is one company, role and site that read a record, never a person.
type ReadBy struct {
	Org   string    `json:"org"`
	Role  string    `json:"role"`
	Site  string    `json:"site"`
	Reads int       `json:"reads"`
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// SubjectIncidents returns the incidents customer's record appeared in.
// The caller has established that the customer (or the privacy role) asks,
// and audits the view.
func (g *Gateway) SubjectIncidents(ctx context.Context, customer string) ([]SubjectIncident, error) {
	ins, err := g.Store.IncidentsOf(ctx, customer)
	if err != nil || len(ins) == 0 {
		return []SubjectIncident{}, err
	}
	recs, err := g.Store.AuditByCustomer(ctx, customer)
	if err != nil {
		return nil, err
	}
	var evs []event.Event
	for _, r := range recs {
		ev, err := event.Parse(r.Event)
		if err == nil && ev.Decision == event.Allow && trace.Counts(ev) {
			evs = append(evs, ev)
		}
	}
	out := make([]SubjectIncident, 0, len(ins))
	for _, in := range ins {
		si := SubjectIncident{ID: in.ID, Title: in.Title, FoundAt: in.FoundAt, Fields: in.Fields, Notice: in.Notice, ReadBy: []ReadBy{}}
		by := map[[3]string]int{}
		for _, ev := range evs {
			if !ev.Time.Before(in.FoundAt) {
				continue
			}
			k := [3]string{ev.Org, ev.Role, ev.Site}
			i, ok := by[k]
			if !ok {
				i = len(si.ReadBy)
				by[k] = i
				si.ReadBy = append(si.ReadBy, ReadBy{Org: ev.Org, Role: ev.Role, Site: ev.Site, First: ev.Time})
			}
			r := &si.ReadBy[i]
			r.Reads++
			r.Last = ev.Time
		}
		out = append(out, si)
	}
	return out, nil
}

// noticeActor is the audit actor of incident notices.
const noticeActor = "custos:notify"

// RunNotices sends the notices incidents owe, at most perSecond a second,
// until ctx ends. Each is audited and marked sent before it goes out, so a
// customer is never told twice about one incident, even by several
// gateways or across a restart.
func (g *Gateway) RunNotices(ctx context.Context, perSecond int) {
	g.init()
	perSecond = max(perSecond, 1)
	for {
		ns, err := g.Store.PendingNotices(ctx, perSecond)
		if err != nil && ctx.Err() == nil {
			g.Logger.Warn("incident notices: read pending", "err", err)
		}
		texts := map[int64]string{} // each incident's notice, read once a batch
		for _, n := range ns {
			if ctx.Err() != nil {
				return
			}
			text, ok := texts[n.Incident]
			if !ok {
				in, err := g.Store.Incident(ctx, n.Incident)
				if err != nil {
					g.Logger.Warn("incident notice", "incident", n.Incident, "err", err)
					continue
				}
				text, texts[n.Incident] = in.Notice, in.Notice
			}
			g.sendNotice(ctx, n, text)
		}
		wait := time.Second
		if len(ns) == 0 {
			wait = 5 * time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-g.noticeWake:
		case <-time.After(wait):
		}
	}
}

func (g *Gateway) wakeNotices() {
	select {
	case g.noticeWake <- struct{}{}:
	default:
	}
}

// sendNotice tells n's customer notice (the incident's text).
func (g *Gateway) sendNotice(ctx context.Context, n store.Notice, notice string) {
	phone := ""
	if c, err := g.Store.Customer(ctx, n.Customer); err == nil && len(c.Phone) > 0 {
		phone, _ = g.Vault.Unseal(c, "phone")
	}
	ev := event.Event{Time: g.Now().UTC(), Actor: noticeActor, Action: event.ActionIncidentNotice, Customer: n.Customer,
		Purpose: "incident:" + strconv.FormatInt(n.Incident, 10), Fields: []string{}}
	if phone == "" {
		ev.Reason = "no_phone" // erased, or no phone on record: marked, never sent
	}
	if err := g.allow(ctx, ev); err != nil {
		return
	}
	ok, err := g.Store.MarkNotified(ctx, n, g.Now().UTC())
	if err != nil || !ok || phone == "" {
		return
	}
	text := notice + " Sign in to your own page (/my) to see which companies had read your record."
	if err := g.Notifier.Notify(ctx, phone, text); err != nil {
		g.Logger.Warn("incident notice not delivered", "incident", n.Incident, "err", err)
	}
}

// Erase erases customer's personal data for good (privacy role, reason
// required): audited first, then the record and its blind indexes are
// deleted and a tombstone kept. Afterwards the customer answers like one
// that never existed; the audit log keeps its entries, which hold no
// personal data, and still verifies.
func (g *Gateway) Erase(ctx context.Context, p store.Principal, customer, reason string) error {
	g.init()
	reason = strings.TrimSpace(reason)
	if !store.ValidID(customer) || reason == "" || len(reason) > 500 {
		return BadRequest(`give "reason" (free text, at most 500 bytes) for a customer id`)
	}
	if _, err := g.Gate(ctx, p, policy.ActionErase, event.ActionSubjectErase, policy.Request{Resource: policy.Resource{ID: customer}}); err != nil {
		return err
	}
	ev := g.event(p, event.ActionSubjectErase)
	ev.Customer = customer
	if _, err := g.Store.Customer(ctx, customer); errors.Is(err, store.ErrNotFound) {
		return g.deny(ctx, ev, "not_found", "no such customer", 0)
	} else if err != nil {
		return err
	}
	if err := g.allow(ctx, ev); err != nil {
		return err
	}
	err := g.Store.EraseCustomer(ctx, customer, p.ID, reason, g.Now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return nil // erased meanwhile by another call
	}
	return err
}

// IncidentReport is the report for a regulator: how many customers, by
// region and field, the suspected sources, the timeline and the notices.
type IncidentReport struct {
	Incident IncidentView   `json:"incident"`
	ByRegion map[string]int `json:"by_region"`
	// ByField counts the customers whose record each leaked field exposed.
	ByField map[string]int `json:"by_field"`
	// NeverAccessed counts affected customers nobody had read through
	// custos: their data left by another way.
	NeverAccessed int              `json:"never_accessed"`
	Suspects      []trace.Suspect  `json:"suspects"`
	Orgs          []trace.OrgCover `json:"orgs"`
	Timeline      []TimelineEntry  `json:"timeline"`
	NoticesSent   int              `json:"notices_sent"`
	NoticesDue    int              `json:"notices_due"`
	Made          time.Time        `json:"made"`
}

// TimelineEntry is one step of an incident.
type TimelineEntry struct {
	Time time.Time `json:"time"`
	What string    `json:"what"`
}

// IncidentReport builds incident id's report for a regulator.
func (g *Gateway) IncidentReport(ctx context.Context, p store.Principal, id int64) (IncidentReport, error) {
	v, err := g.Incident(ctx, p, id)
	if err != nil {
		return IncidentReport{}, err
	}
	cs, err := g.Store.IncidentCustomers(ctx, id)
	if err != nil {
		return IncidentReport{}, err
	}
	rep := IncidentReport{Incident: v, ByRegion: map[string]int{}, ByField: map[string]int{}, Made: g.Now().UTC(),
		Suspects: []trace.Suspect{}, Orgs: []trace.OrgCover{}}
	var first, last time.Time
	for _, c := range cs {
		region := "erased"
		if cu, err := g.Store.Customer(ctx, c.Customer); err == nil {
			region = cu.Region
		}
		rep.ByRegion[region]++
		if c.NotifiedAt.IsZero() {
			rep.NoticesDue++
			continue
		}
		rep.NoticesSent++
		if first.IsZero() || c.NotifiedAt.Before(first) {
			first = c.NotifiedAt
		}
		if c.NotifiedAt.After(last) {
			last = c.NotifiedAt
		}
	}
	for _, f := range v.Fields {
		rep.ByField[f] = len(cs)
	}
	var tr trace.Report
	if json.Unmarshal(v.Trace, &tr) == nil {
		rep.NeverAccessed = tr.NeverAccessed
		if tr.Suspects != nil {
			rep.Suspects = tr.Suspects
		}
		if tr.Orgs != nil {
			rep.Orgs = tr.Orgs
		}
	}
	rep.Timeline = []TimelineEntry{{v.FoundAt, "the list was found"}, {v.CreatedAt, "recorded in custos by " + v.CreatedBy}}
	if !first.IsZero() {
		rep.Timeline = append(rep.Timeline, TimelineEntry{first, "first customer told"}, TimelineEntry{last, "last customer told so far"})
	}
	return rep, nil
}

// RequestErasure records the customer's own request, from their page, to
// be erased; the privacy role carries it out with Erase. Audited.
func (g *Gateway) RequestErasure(ctx context.Context, customer string) error {
	if err := g.RecordSubject(ctx, customer, event.ActionSubjectEraseReq); err != nil {
		return err
	}
	_, err := g.Store.RequestErasure(ctx, customer, g.Now().UTC())
	return err
}

// ErasureRequestView is a pending request to be erased.
type ErasureRequestView struct {
	Customer string    `json:"customer"`
	At       time.Time `json:"at"`
}

// ErasureRequests lists the customers' pending requests (privacy role).
func (g *Gateway) ErasureRequests(ctx context.Context, p store.Principal) ([]ErasureRequestView, error) {
	if _, err := g.Gate(ctx, p, policy.ActionErase, event.ActionIncidentRead, policy.Request{}); err != nil {
		return nil, err
	}
	rs, err := g.Store.ErasureRequests(ctx)
	if err != nil {
		return nil, err
	}
	if err := g.allow(ctx, g.event(p, event.ActionIncidentRead)); err != nil {
		return nil, err
	}
	out := make([]ErasureRequestView, 0, len(rs))
	for _, r := range rs {
		out = append(out, ErasureRequestView{Customer: r.Customer, At: r.At})
	}
	return out, nil
}
