// Package policy decides who may do what. The gateway establishes facts
// (who the principal is, whether the purpose checks out, quota and risk
// state) and asks an Authorizer for a Decision; the Authorizer never does
// I/O on the request path.
package policy

import (
	"context"
	"time"
)

// Actions the gateway asks about.
const (
	ActionRead           = "read"            // read one customer record
	ActionSearch         = "search"          // exact-match lookup
	ActionExport         = "export"          // bulk export (denied by default)
	ActionList           = "list"            // list customers (denied by default)
	ActionTicketCreate   = "ticket.create"   // open a service ticket
	ActionConsentStart   = "consent.start"   // send a code to the customer
	ActionConsentConfirm = "consent.confirm" // confirm it
	ActionBreakGlassReq  = "breakglass.request"
	ActionBreakGlassOK   = "breakglass.approve"
	ActionSuspend        = "principal.suspend"
	ActionReinstate      = "principal.reinstate"
	ActionTrace          = "trace"
	ActionAlertsRead     = "alerts.read"
	ActionAuditRead      = "audit.read"
	ActionAuditSearch    = "audit.search"  // search the audit log
	ActionCases          = "cases"         // open, work and export investigations
	ActionIncidents      = "incidents"     // record data incidents and read them
	ActionErase          = "subject.erase" // erase a customer's personal data
	ActionAccessesRead   = "accesses.read" // a customer's access history
	ActionPoliciesRead   = "policies.read"
	ActionProvision      = "provision" // SCIM
)

// Fields of a customer record that policy decides on, one by one.
var Fields = []string{"name", "phone", "account", "region"}

// FieldMode says how one field is shown.
type FieldMode int

const (
	Withheld FieldMode = iota // not shown at all
	Masked                    // shown masked (phone: last four digits; account: first letter and domain)
	Full                      // shown in full
)

func (m FieldMode) String() string {
	switch m {
	case Full:
		return "full"
	case Masked:
		return "masked"
	default:
		return "withheld"
	}
}

// Purpose kinds, from the Custos-Purpose header.
const (
	PurposeNone       = ""
	PurposeTicket     = "ticket"
	PurposeConsent    = "consent"
	PurposeBreakGlass = "breakglass"
	// PurposeLegal is a legal or investigative request (a court order, a
	// police case). The default pack grants nothing under it; a deployment
	// that must serve such requests adds a policy. Customers see these
	// accesses only after a delay (config legal_disclosure_delay).
	PurposeLegal = "legal"
)

// Principal is the subject of a request, as policy sees it.
type Principal struct {
	ID      string
	Org     string
	OrgKind string
	Role    string
	Site    string
	Region  string
	Status  string // store.StatusActive, StatusStepUp, StatusSuspended
}

// Resource is the customer a request is about (zero for actions on none).
type Resource struct {
	ID     string
	Region string
	Site   string
	Canary bool
}

// Purpose is the declared purpose and what the gateway found out about it.
type Purpose struct {
	Kind  string // PurposeTicket, PurposeConsent, PurposeBreakGlass or ""
	ID    string
	Valid bool // the gateway checked it: open ticket for this customer at
	// the principal's site, confirmed unexpired consent bound to this
	// principal and customer, or an approved unexpired break-glass
}

// Request is one question to the Authorizer.
type Request struct {
	Principal     Principal
	Action        string
	Resource      Resource
	Purpose       Purpose
	Time          time.Time
	QuotaExceeded bool
	// SelfApproval is set on break-glass approvals by the requester.
	SelfApproval bool
	// TargetRole is set for principal.suspend / reinstate (the target's role).
	TargetRole string
	// RequesterOrg is set on break-glass approvals: the org of the principal
	// who requested the break-glass (partner managers approve only their own
	// org's requests by default).
	RequesterOrg string
	// Risk is the detectors' risk state of the principal ("" when none); the
	// default pack does not use it, custom policies may.
	Risk string
}

// Decision is the Authorizer's answer. Fields is set for read and search:
// a mode per name in Fields.
type Decision struct {
	Allow  bool
	Reason string // on deny: a contract error code such as "purpose_required"
	Fields map[string]FieldMode
	// Policies names the policies that determined the decision (for audit).
	Policies []string
}

// Authorizer decides requests. Implementations MUST be safe for concurrent
// use and MUST NOT block on I/O.
type Authorizer interface {
	Authorize(ctx context.Context, r Request) Decision
}
