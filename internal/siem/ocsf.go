package siem

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/auditlog"
	"github.com/custos-dev/custos/internal/event"
	"github.com/custos-dev/custos/internal/store"
)

// OCSF classes custos emits (OCSF schema 1.3).
const (
	OCSFVersion = "1.3.0"
	// ClassAPIActivity is API Activity (category Application Activity):
	// one audit-log entry.
	ClassAPIActivity = 6003
	// ClassDetectionFinding is Detection Finding (category Findings): one
	// alert.
	ClassDetectionFinding = 2004
)

// Record is one exported item: an OCSF event with what the transports need.
type Record struct {
	// UID is unique per item and stable across re-sends
	// ("custos-audit-<index>", "custos-alert-<id>"): receivers dedupe on it.
	UID string
	// Kind is "audit" or "alert".
	Kind string
	Time time.Time
	// Severity is the syslog severity (RFC 5424: 2 critical … 6 informational).
	Severity int
	// OCSF is the event as OCSF JSON.
	OCSF []byte
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

type ocsfMetadata struct {
	Version  string      `json:"version"`
	Product  ocsfProduct `json:"product"`
	UID      string      `json:"uid"`
	LogName  string      `json:"log_name"`
	Sequence int64       `json:"sequence,omitempty"`
}

func metadata(uid, log string, seq int64) ocsfMetadata {
	return ocsfMetadata{Version: OCSFVersion, Product: ocsfProduct{Name: "custos", VendorName: "custos"}, UID: uid, LogName: log, Sequence: seq}
}

type ocsfOrg struct {
	UID   string `json:"uid,omitempty"`
	OUUID string `json:"ou_uid,omitempty"`
}

type ocsfGroup struct {
	Name string `json:"name"`
	Type string `json:"type,omitempty"`
}

type ocsfUser struct {
	UID    string      `json:"uid"`
	Org    *ocsfOrg    `json:"org,omitempty"`
	Groups []ocsfGroup `json:"groups,omitempty"`
}

type ocsfActor struct {
	User    ocsfUser `json:"user"`
	AppName string   `json:"app_name"`
}

// classHeader is what every OCSF event starts with: its class, category,
// activity, type, time, severity and status.
type classHeader struct {
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	Time         int64  `json:"time"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status"`
}

// apiActivity is an OCSF API Activity event.
type apiActivity struct {
	classHeader
	StatusDetail string           `json:"status_detail,omitempty"`
	Message      string           `json:"message"`
	Metadata     ocsfMetadata     `json:"metadata"`
	Actor        ocsfActor        `json:"actor"`
	API          map[string]any   `json:"api"`
	SrcEndpoint  map[string]any   `json:"src_endpoint,omitempty"`
	Resources    []map[string]any `json:"resources,omitempty"`
	Unmapped     map[string]any   `json:"unmapped"`
}

// activityOf maps a custos action to OCSF's API Activity activity.
func activityOf(action string) (int, string) {
	switch {
	case strings.HasSuffix(action, ".read"), action == event.ActionSearch, action == event.ActionSubjectView, action == event.ActionTrace:
		return 2, "Read"
	case strings.HasSuffix(action, ".create"), strings.HasSuffix(action, ".start"), strings.HasSuffix(action, ".request"),
		action == event.ActionSubjectLogin:
		return 1, "Create"
	case strings.HasPrefix(action, "principal."), strings.HasSuffix(action, ".confirm"), strings.HasSuffix(action, ".approve"):
		return 3, "Update"
	}
	return 99, "Other"
}

// AuditRecord converts one audit-log record to OCSF API Activity.
func AuditRecord(rec store.AuditRecord) (Record, error) {
	ev, err := event.Parse(rec.Event)
	if err != nil {
		return Record{}, fmt.Errorf("siem: audit record %d: %w", rec.Index, err)
	}
	return auditActivity(rec, &ev)
}

// auditRecord is AuditRecord for a record from the audit feed, already
// parsed.
func auditRecord(r auditlog.Record) (Record, error) {
	if r.Event == nil {
		return Record{}, fmt.Errorf("siem: audit record %d: %w", r.Index, r.Err)
	}
	return auditActivity(r.AuditRecord, r.Event)
}

// auditActivity builds the OCSF record; ev is shared and not modified.
func auditActivity(rec store.AuditRecord, ev *event.Event) (Record, error) {
	uid := fmt.Sprintf("custos-audit-%d", rec.Index)
	actID, actName := activityOf(ev.Action)
	a := apiActivity{
		classHeader: classHeader{ClassUID: ClassAPIActivity, ClassName: "API Activity", CategoryUID: 6, CategoryName: "Application Activity",
			ActivityID: actID, ActivityName: actName, TypeUID: ClassAPIActivity*100 + actID, TypeName: "API Activity: " + actName,
			Time: ev.Time.UnixMilli(), SeverityID: 1, Severity: "Informational", StatusID: 1, Status: "Success"},
		Message:  ev.Action + " " + ev.Decision,
		Metadata: metadata(uid, "audit", int64(rec.Index)),
		Actor:    ocsfActor{User: ocsfUser{UID: ev.Actor}, AppName: "custos"},
		API:      map[string]any{"operation": ev.Action, "service": map[string]any{"name": "custos"}},
		Unmapped: map[string]any{"audit_index": rec.Index, "decision": ev.Decision, "purpose": ev.Purpose,
			"purpose_valid": ev.PurposeValid, "fields": ev.Fields, "region": ev.Region},
	}
	sev := 6
	if ev.Decision == event.Deny {
		a.StatusID, a.Status, a.StatusDetail = 2, "Failure", ev.Reason
		a.SeverityID, a.Severity = 2, "Low"
		sev = 5
	}
	if ev.Org != "" || ev.Site != "" {
		a.Actor.User.Org = &ocsfOrg{UID: ev.Org, OUUID: ev.Site}
	}
	if ev.Role != "" {
		a.Actor.User.Groups = []ocsfGroup{{Name: ev.Role, Type: "role"}}
	}
	if ev.Source != "" {
		a.SrcEndpoint = map[string]any{"ip": ev.Source}
	}
	if ev.Customer != "" {
		r := map[string]any{"uid": ev.Customer, "type": "customer"}
		if ev.CustomerRegion != "" {
			r["region"] = ev.CustomerRegion
		}
		a.Resources = append(a.Resources, r)
	}
	if ev.Target != "" {
		a.Resources = append(a.Resources, map[string]any{"uid": ev.Target, "type": "principal"})
	}
	if ev.Found != nil {
		a.Unmapped["found"] = *ev.Found
	}
	if ev.Canary {
		a.Unmapped["canary"] = true
		a.SeverityID, a.Severity, sev = 4, "High", 4
	}
	b, err := json.Marshal(a)
	if err != nil {
		return Record{}, fmt.Errorf("siem: audit record %d: %w", rec.Index, err)
	}
	return Record{UID: uid, Kind: "audit", Time: ev.Time, Severity: sev, OCSF: b}, nil
}

// detectionFinding is an OCSF Detection Finding.
type detectionFinding struct {
	classHeader
	ConfidenceScore int            `json:"confidence_score"`
	Message         string         `json:"message"`
	Metadata        ocsfMetadata   `json:"metadata"`
	FindingInfo     map[string]any `json:"finding_info"`
	Actor           ocsfActor      `json:"actor"`
	Unmapped        map[string]any `json:"unmapped"`
}

// AlertRecord converts one alert to OCSF Detection Finding.
func AlertRecord(a store.Alert) (Record, error) {
	uid := fmt.Sprintf("custos-alert-%d", a.ID)
	sevID, sevName, sys := 2, "Low", 5
	switch {
	case a.Score >= 0.95:
		sevID, sevName, sys = 5, "Critical", 2
	case a.Score >= 0.8:
		sevID, sevName, sys = 4, "High", 3
	case a.Score >= 0.5:
		sevID, sevName, sys = 3, "Medium", 4
	}
	kind := a.Kind
	if kind == "" {
		kind = "detector"
	}
	reasons := a.Reasons
	if reasons == nil {
		reasons = []string{}
	}
	f := detectionFinding{
		classHeader: classHeader{ClassUID: ClassDetectionFinding, ClassName: "Detection Finding", CategoryUID: 2, CategoryName: "Findings",
			ActivityID: 1, ActivityName: "Create", TypeUID: ClassDetectionFinding*100 + 1, TypeName: "Detection Finding: Create",
			Time: a.Time.UnixMilli(), SeverityID: sevID, Severity: sevName, StatusID: 1, Status: "New"},
		ConfidenceScore: int(a.Score*100 + 0.5),
		Message:         fmt.Sprintf("custos %s alert on %s: %s", kind, a.Actor, strings.Join(reasons, "; ")),
		Metadata:        metadata(uid, "alerts", a.ID),
		FindingInfo: map[string]any{"uid": uid, "title": "custos " + kind + " alert", "desc": strings.Join(reasons, "; "),
			"types": []string{kind}, "analytic": map[string]any{"name": kind, "type_id": 1, "type": "Rule"}},
		Actor:    ocsfActor{User: ocsfUser{UID: a.Actor}, AppName: "custos"},
		Unmapped: map[string]any{"score": a.Score, "reasons": reasons, "records": a.Records, "containment": a.Action},
	}
	b, err := json.Marshal(f)
	if err != nil {
		return Record{}, fmt.Errorf("siem: alert %d: %w", a.ID, err)
	}
	return Record{UID: uid, Kind: "alert", Time: a.Time, Severity: sys, OCSF: b}, nil
}
