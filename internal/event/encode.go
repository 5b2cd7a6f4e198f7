package event

import (
	"strconv"
	"time"

	"github.com/custos-dev/custos/internal/jsonenc"
)

// appendCanonical appends e's canonical JSON to b; e.Time is in UTC with a
// year of four digits.
func (e Event) appendCanonical(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = appendField(b, `,"actor":`, e.Actor)
	b = appendField(b, `,"org":`, e.Org)
	b = appendField(b, `,"role":`, e.Role)
	b = appendField(b, `,"site":`, e.Site)
	b = appendField(b, `,"region":`, e.Region)
	b = appendField(b, `,"action":`, e.Action)
	b = appendField(b, `,"customer":`, e.Customer)
	b = appendField(b, `,"customer_region":`, e.CustomerRegion)
	if e.CustomerSite != "" {
		b = appendField(b, `,"customer_site":`, e.CustomerSite)
	}
	b = appendList(append(b, `,"fields":`...), e.Fields)
	b = appendField(b, `,"purpose":`, e.Purpose)
	b = strconv.AppendBool(append(b, `,"purpose_valid":`...), e.PurposeValid)
	b = appendField(b, `,"decision":`, e.Decision)
	b = appendField(b, `,"reason":`, e.Reason)
	if e.Found != nil {
		b = strconv.AppendBool(append(b, `,"found":`...), *e.Found)
	}
	if e.Canary {
		b = append(b, `,"canary":true`...)
	}
	if e.Target != "" {
		b = appendField(b, `,"target":`, e.Target)
	}
	if e.Source != "" {
		b = appendField(b, `,"source":`, e.Source)
	}
	if e.Basis != "" {
		b = appendField(b, `,"basis":`, e.Basis)
	}
	if e.TicketAge != 0 {
		b = strconv.AppendInt(append(b, `,"ticket_age":`...), e.TicketAge, 10)
	}
	if len(e.Masked) > 0 {
		b = appendList(append(b, `,"masked":`...), e.Masked)
	}
	return append(b, '}')
}

func appendField(b []byte, key, v string) []byte {
	return jsonenc.AppendString(append(b, key...), v)
}

// appendList appends vs as a JSON array ([] when empty or nil).
func appendList(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, v)
	}
	return append(b, ']')
}
