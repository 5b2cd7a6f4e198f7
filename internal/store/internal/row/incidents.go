package row

import (
	"encoding/json"
	"fmt"

	"github.com/custos-dev/custos/internal/store"
)

// IncidentCols are an incident's columns with its counts, in the order
// Incident reads them; FROM must be IncidentFrom.
const IncidentCols = `i.id, i.title, i.found_at, i.fields, i.notice, i.leak_hash, i.created_by, i.created_at, i.report,
	(SELECT COUNT(*) FROM incident_customers c WHERE c.incident_id = i.id),
	(SELECT COUNT(*) FROM incident_customers c WHERE c.incident_id = i.id AND c.notified_at <> 0)`

// IncidentFrom is the table IncidentCols read.
const IncidentFrom = ` FROM incidents i`

// Incident scans IncidentCols.
func Incident(r Scanner) (store.Incident, error) {
	var in store.Incident
	var found, created int64
	var fields string
	if err := r.Scan(&in.ID, &in.Title, &found, &fields, &in.Notice, &in.LeakHash, &in.CreatedBy, &created, &in.Report,
		&in.Customers, &in.Notified); err != nil {
		return in, err
	}
	in.FoundAt, in.CreatedAt = Time(found), Time(created)
	if err := json.Unmarshal([]byte(fields), &in.Fields); err != nil {
		return in, fmt.Errorf("incident %d fields: %w", in.ID, err)
	}
	return in, nil
}

// Fields encodes an incident's fields for the fields column.
func Fields(in store.Incident) string {
	b, _ := json.Marshal(in.Fields)
	return string(b)
}

// IncidentCustomer scans customer, notified_at.
func IncidentCustomer(r Scanner) (store.IncidentCustomer, error) {
	var c store.IncidentCustomer
	var at int64
	err := r.Scan(&c.Customer, &at)
	if at != 0 {
		c.NotifiedAt = Time(at)
	}
	return c, err
}

// ErasureRequest scans customer, at.
func ErasureRequest(r Scanner) (store.ErasureRequest, error) {
	var e store.ErasureRequest
	var at int64
	err := r.Scan(&e.Customer, &at)
	e.At = Time(at)
	return e, err
}

// Notice scans incident_id, customer.
func Notice(r Scanner) (store.Notice, error) {
	var n store.Notice
	err := r.Scan(&n.Incident, &n.Customer)
	return n, err
}
