package gateway

import (
	"html/template"
	"io"
	"slices"
)

// WriteHTML writes the report as a printable HTML page (no script, no
// outside resources).
func (r IncidentReport) WriteHTML(w io.Writer) error {
	regions := make([]string, 0, len(r.ByRegion))
	for k := range r.ByRegion {
		regions = append(regions, k)
	}
	slices.Sort(regions)
	return reportTmpl.Execute(w, map[string]any{"R": r, "Regions": regions})
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"mulf": func(f float64) float64 { return f * 100 },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Incident {{.R.Incident.ID}}: {{.R.Incident.Title}}</title>
<style>body{font:14px/1.45 system-ui,sans-serif;max-width:50rem;margin:2rem auto;color:#1b2430}
table{border-collapse:collapse;margin:.5rem 0 1rem}th,td{border:1px solid #ccd3dc;padding:.25rem .5rem;text-align:left}th{background:#eef2f6}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:1.5rem}@media print{body{margin:0}}</style></head><body>
<h1>Data incident report: {{.R.Incident.Title}}</h1>
<p>Incident {{.R.Incident.ID}}, found {{.R.Incident.FoundAt.UTC.Format "2006-01-02 15:04 MST"}}; report made {{.R.Made.Format "2006-01-02 15:04 MST"}}.</p>
<h2>Affected customers</h2>
<table><tr><th>Customers in the list</th><td>{{.R.Incident.Customers}}</td></tr>
<tr><th>Never opened through custos</th><td>{{.R.NeverAccessed}}</td></tr>
<tr><th>Notices sent</th><td>{{.R.NoticesSent}} (still due: {{.R.NoticesDue}})</td></tr></table>
<h2>By region</h2><table><tr><th>Region</th><th>Customers</th></tr>{{range .Regions}}<tr><td>{{.}}</td><td>{{index $.R.ByRegion .}}</td></tr>{{end}}</table>
<h2>By field leaked</h2><table><tr><th>Field</th><th>Customers</th></tr>{{range $f, $n := .R.ByField}}<tr><td>{{$f}}</td><td>{{$n}}</td></tr>{{end}}</table>
<h2>Suspected sources</h2>
{{if .R.Orgs}}<table><tr><th>Company</th><th>Share of the list its staff had read</th></tr>{{range .R.Orgs}}<tr><td>{{.Org}}</td><td>{{printf "%.0f%%" (mulf .Covered)}}</td></tr>{{end}}</table>{{else}}<p>No company had read these records through custos.</p>{{end}}
{{if .R.Suspects}}<table><tr><th>Person</th><th>Company</th><th>Share read</th><th>Read by nobody else</th></tr>{{range .R.Suspects}}<tr><td>{{.Actor}}</td><td>{{.Org}}</td><td>{{printf "%.0f%%" (mulf .Covered)}}</td><td>{{.Exclusive}}</td></tr>{{end}}</table>{{end}}
<h2>Timeline</h2><table>{{range .R.Timeline}}<tr><td>{{.Time.UTC.Format "2006-01-02 15:04:05 MST"}}</td><td>{{.What}}</td></tr>{{end}}</table>
<h2>The notice sent to each customer</h2><blockquote>{{.R.Incident.Notice}}</blockquote>
</body></html>
`))
