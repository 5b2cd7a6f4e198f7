package evidence

import (
	"bytes"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// summaryData is what the summary shows, all derived from the manifest and
// the entries.
type summaryData struct {
	M          Manifest
	Org        string
	Role       string
	Site       string
	First      string
	Last       string
	Customers  int
	Allowed    int
	Denied     int
	Fields     string
	Actions    []count
	Days       []count
	Rows       []summaryRow
	Checkpoint string
	Key        string
}

type count struct {
	Name string
	N    int
}

type summaryRow struct {
	Index    uint64
	Time     string
	Action   string
	Customer string
	Fields   string
	Purpose  string
	Decision string
	Reason   string
}

// Summary renders the bundle's readable summary (HTML). It is a function
// of the manifest, the checkpoint, the key and the entries alone, so that
// Verify can check it byte for byte.
func (b Bundle) Summary() ([]byte, error) {
	d := summaryData{M: b.Manifest, Checkpoint: b.Checkpoint, Key: b.VerifierKey}
	customers := map[string]bool{}
	fields := map[string]bool{}
	actions := map[string]int{}
	days := map[string]int{}
	for _, e := range b.Entries {
		ev, err := event.Parse(e.Event)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", e.Index, err)
		}
		d.Org, d.Role, d.Site = ev.Org, ev.Role, ev.Site
		ts := ev.Time.UTC().Format(time.RFC3339)
		if d.First == "" || ts < d.First {
			d.First = ts
		}
		if ts > d.Last {
			d.Last = ts
		}
		if ev.Decision == event.Allow {
			d.Allowed++
			if ev.Customer != "" {
				customers[ev.Customer] = true
			}
			for _, f := range ev.Fields {
				fields[f] = true
			}
		} else {
			d.Denied++
		}
		actions[ev.Action]++
		days[ev.Time.UTC().Format("2006-01-02")]++
		d.Rows = append(d.Rows, summaryRow{Index: e.Index, Time: ts, Action: ev.Action, Customer: ev.Customer,
			Fields: strings.Join(ev.Fields, ", "), Purpose: ev.Purpose, Decision: ev.Decision, Reason: ev.Reason})
	}
	d.Customers = len(customers)
	d.Fields = strings.Join(sortedKeys(fields), ", ")
	for _, k := range sortedKeys(actions) {
		d.Actions = append(d.Actions, count{k, actions[k]})
	}
	for _, k := range sortedKeys(days) {
		d.Days = append(d.Days, count{k, days[k]})
	}
	var buf bytes.Buffer
	if err := summaryTmpl.Execute(&buf, d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

var summaryTmpl = template.Must(template.New("summary").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Evidence: case {{.M.Case}}, {{.M.Person}}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#1b2430}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.6rem}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccd3dc;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#eef2f6}.deny{color:#a01818}pre{white-space:pre-wrap;background:#f4f6f8;padding:.5rem}
@media print{body{margin:0}}
</style></head><body>
<h1>Evidence bundle: case {{.M.Case}}</h1>
<p>Every access decision below is an entry of custos's tamper-evident audit log (origin <code>{{.M.Origin}}</code>),
proven against the signed checkpoint of {{.M.TreeSize}} entries reproduced at the end.
Check the bundle offline with <code>custos audit verify-bundle FILE --key KEY</code>; see docs/AUDITLOG.md for checking it with standard tools.</p>
<h2>Who, when, how much</h2>
<table>
<tr><th>Person</th><td>{{.M.Person}}{{if .Org}} ({{.Role}} at {{.Org}}{{if .Site}}, {{.Site}}{{end}}){{end}}</td></tr>
<tr><th>Case</th><td>{{.M.Case}}, opened from alert {{.M.Alert}}; status {{.M.Status}}{{if .M.Outcome}}, outcome {{.M.Outcome}}{{end}}</td></tr>
<tr><th>Window</th><td>{{.M.From.UTC.Format "2006-01-02 15:04:05 MST"}} to {{.M.To.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
<tr><th>Entries</th><td>{{len .Rows}} ({{.Allowed}} allowed, {{.Denied}} denied){{if .First}}, first {{.First}}, last {{.Last}}{{end}}</td></tr>
<tr><th>Distinct customers read</th><td>{{.Customers}}</td></tr>
<tr><th>Fields taken</th><td>{{if .Fields}}{{.Fields}}{{else}}none{{end}}</td></tr>
<tr><th>Bundle made</th><td>{{.M.Made.UTC.Format "2006-01-02 15:04:05 MST"}}</td></tr>
</table>
<h2>Actions</h2>
<table><tr><th>Action</th><th>Entries</th></tr>{{range .Actions}}<tr><td>{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table>
<h2>By day (UTC)</h2>
<table><tr><th>Day</th><th>Entries</th></tr>{{range .Days}}<tr><td>{{.Name}}</td><td>{{.N}}</td></tr>{{end}}</table>
<h2>Every entry</h2>
<table><tr><th>#</th><th>Time (UTC)</th><th>Action</th><th>Customer</th><th>Fields</th><th>Purpose</th><th>Decision</th></tr>
{{range .Rows}}<tr{{if ne .Decision "allow"}} class="deny"{{end}}><td>{{.Index}}</td><td>{{.Time}}</td><td>{{.Action}}</td><td>{{.Customer}}</td><td>{{.Fields}}</td><td>{{.Purpose}}</td><td>{{.Decision}}{{if .Reason}} ({{.Reason}}){{end}}</td></tr>
{{end}}</table>
<h2>Checkpoint</h2>
<pre>{{.Checkpoint}}</pre>
<h2>Verifier key</h2>
<pre>{{.Key}}</pre>
</body></html>
`))
