// Package event defines the access event: the one record of a decision that
// the gateway writes to the audit log, the detectors read, and trace counts.
//
// Its JSON form is the contract's access-event line (shared/CONTRACT.md §3).
// Canonical returns the exact bytes that the audit log commits to, so that
// anyone holding an event can recompute its leaf.
package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Actions, as the contract names them.
const (
	ActionRead           = "customer.read"
	ActionSearch         = "customer.search"
	ActionExport         = "customer.export"
	ActionWrite          = "customer.write" // the CRM integration creates or replaces a record
	ActionTicketCreate   = "ticket.create"
	ActionTicketAssign   = "ticket.assign"
	ActionTicketClose    = "ticket.close"
	ActionConsentStart   = "consent.start"
	ActionConsentConfirm = "consent.confirm"
	ActionNotice         = "principal.notice"
	ActionSuspend        = "principal.suspend"
	ActionReinstate      = "principal.reinstate"
	ActionStepUp         = "principal.stepup"
	ActionBreakGlassReq  = "breakglass.request"
	// ActionApprovalRequest is a first analyst's request for a change that
	// takes two (Purpose names the action asked for, Target the person).
	ActionApprovalRequest = "approval.request"
	ActionBreakGlassOK    = "breakglass.approve"
	ActionAuthFail        = "auth.fail"
	ActionTrace           = "trace.run"
	ActionSubjectLogin    = "subject.login"
	ActionSubjectView     = "subject.accesses"
	ActionAlertsRead      = "alerts.read"
	ActionAuditRead       = "audit.read"
	ActionAuditSearch     = "audit.search"
	// Cases: Target is the person investigated, Purpose "case:<id>"
	// (or "alert:<id>" when opening), Reason what changed (never a note).
	ActionCaseOpen     = "case.open"
	ActionCaseRead     = "case.read"
	ActionCaseUpdate   = "case.update"
	ActionCaseEvidence = "case.evidence"
	// Incidents: Fields name what leaked; a notice's Customer is the
	// customer told, its Purpose "incident:<id>".
	ActionIncidentCreate  = "incident.create"
	ActionIncidentRead    = "incident.read"
	ActionIncidentNotice  = "incident.notice"
	ActionSubjectErase    = "subject.erase"
	ActionSubjectEraseReq = "subject.erase_request"
	ActionSubjectIncView  = "subject.incidents"
)

// Decisions.
const (
	Allow = "allow"
	Deny  = "deny"
)

// Event is one access decision. Field order is the canonical order; do not
// reorder fields, since Canonical's bytes are committed to by the audit log.
type Event struct {
	Time           time.Time `json:"time"`
	Actor          string    `json:"actor"`
	Org            string    `json:"org"`
	Role           string    `json:"role"`
	Site           string    `json:"site"`
	Region         string    `json:"region"`
	Action         string    `json:"action"`
	Customer       string    `json:"customer"`
	CustomerRegion string    `json:"customer_region"`
	CustomerSite   string    `json:"customer_site,omitempty"`
	Fields         []string  `json:"fields"`
	Purpose        string    `json:"purpose"`
	PurposeValid   bool      `json:"purpose_valid"`
	Decision       string    `json:"decision"`
	Reason         string    `json:"reason"`
	// Found reports, for searches and reads, whether the looked-up record
	// exists. It lets detectors see enumeration (many misses) even though the
	// caller was told nothing. Nil when unknown (events from older sources).
	Found *bool `json:"found,omitempty"`
	// Canary is set when Customer is a canary record.
	Canary bool `json:"canary,omitempty"`
	// Target is the principal acted on by principal.* actions.
	Target string `json:"target,omitempty"`
	// Source is the caller's network address class for auth failures.
	Source string `json:"source,omitempty"`
	// Basis says how the purpose of a read was established: BasisOwnTicket,
	// BasisAssignedTicket, BasisCRMTicket, BasisConsent, BasisBreakGlass or
	// BasisLegal; empty when no purpose held.
	Basis string `json:"basis,omitempty"`
	// TicketAge is the age in seconds of the ticket a read was made under.
	TicketAge int64 `json:"ticket_age,omitempty"`
	// Masked names the fields of Fields that were shown masked (a read
	// under a ticket shows the phone and account masked); the others were
	// shown in clear.
	Masked []string `json:"masked,omitempty"`
}

// How a purpose was established (Event.Basis). Only a CRM ticket, a
// consent and an allowed search are traces of a real visit.
const (
	BasisOwnTicket      = "own_ticket"
	BasisAssignedTicket = "assigned_ticket"
	BasisCRMTicket      = "crm_ticket"
	BasisConsent        = "consent"
	BasisBreakGlass     = "breakglass"
	BasisLegal          = "legal"
)

// Canonical returns the event's canonical bytes: compact JSON in field order,
// with time in UTC at nanosecond precision (RFC 3339), Fields never null.
// They are the bytes encoding/json writes for the event (HTML characters
// not escaped), written by appendCanonical without reflection;
// FuzzCanonicalMatchesJSON checks that the two agree.
func (e Event) Canonical() []byte {
	e.Time = e.Time.UTC()
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return e.canonicalJSON() // outside RFC 3339: encoding/json refuses it
	}
	return e.appendCanonical(make([]byte, 0, 512))
}

// canonicalJSON is Canonical through encoding/json.
func (e Event) canonicalJSON() []byte {
	e.Time = e.Time.UTC()
	if e.Fields == nil {
		e.Fields = []string{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		panic("event: internal error: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Parse decodes one JSON line into an Event. Unknown fields are ignored.
// It checks only what every consumer needs: a time, an actor and an action.
//
// Parse is the one parser for audit records: the canonical form (see
// Canonical) is read by a hand-written scanner that allocates only the
// strings it returns; anything else (escaped strings, other key orders,
// whitespace, unknown keys) goes through encoding/json. Both paths return
// the same Event for the same input (FuzzParseFastMatchesJSON checks it).
func Parse(line []byte) (Event, error) {
	e, ok := parseCanonical(line)
	if !ok {
		var err error
		if e, err = parseJSON(line); err != nil {
			return Event{}, err
		}
	}
	return e, check(&e)
}

// Normalized returns what Parse(e.Canonical()) returns, without writing
// and reading the bytes: time in UTC without a monotonic reading, invalid
// UTF-8 as U+FFFD byte by byte, Fields never nil, an empty Masked nil, and
// the same check (FuzzNormalizedMatchesParse checks the two agree). Its
// slices and pointer are its own. The audit log hands it to the feed's
// consumers beside the record's canonical bytes.
func (e Event) Normalized() (Event, error) {
	e.Time = e.Time.UTC()
	for _, p := range []*string{&e.Actor, &e.Org, &e.Role, &e.Site, &e.Region, &e.Action, &e.Customer, &e.CustomerRegion,
		&e.CustomerSite, &e.Purpose, &e.Decision, &e.Reason, &e.Target, &e.Source, &e.Basis} {
		*p = validUTF8(*p)
	}
	e.Fields = normalList(e.Fields)
	if e.Masked = normalList(e.Masked); len(e.Masked) == 0 {
		e.Masked = nil
	}
	if e.Found != nil {
		found := *e.Found
		e.Found = &found
	}
	return e, check(&e)
}

// normalList is a copy of vs with its strings valid UTF-8, empty (not
// nil) when vs is.
func normalList(vs []string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = validUTF8(v)
	}
	return out
}

// validUTF8 is s with each byte that is not part of valid UTF-8 replaced
// by U+FFFD, as encoding/json writes it.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// parseJSON is Parse's general path.
func parseJSON(line []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(line, &e); err != nil {
		return Event{}, fmt.Errorf("parse event: %w", err)
	}
	return e, nil
}

// check validates what every consumer needs.
func check(e *Event) error {
	if e.Time.IsZero() {
		return fmt.Errorf("parse event: missing time")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		// Canonical writes UTC; RFC 3339 has no room for other years.
		return fmt.Errorf("parse event: time %s is out of range in UTC", e.Time.Format(time.RFC3339))
	}
	if e.Actor == "" {
		return fmt.Errorf("parse event: missing actor")
	}
	if e.Action == "" {
		return fmt.Errorf("parse event: missing action")
	}
	return nil
}
