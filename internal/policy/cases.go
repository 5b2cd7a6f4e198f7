package policy

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// ErrBadCase is wrapped by RunCases errors about the case file itself.
var ErrBadCase = errors.New("bad policy test case")

// Case is one policy test case: one line of a case file (JSON lines; blank
// lines and lines starting with # or // are skipped). Unknown keys are an
// error. See docs/POLICY.md.
type Case struct {
	Name      string        `json:"name"`
	Principal CasePrincipal `json:"principal"`
	Action    string        `json:"action"`
	Customer  CaseCustomer  `json:"customer"`
	// Purpose is a kind ("ticket", "consent", "breakglass") or a header
	// value ("ticket:T-1"); "" for none.
	Purpose       string `json:"purpose"`
	PurposeValid  bool   `json:"purpose_valid"`
	QuotaExceeded bool   `json:"quota_exceeded"`
	SelfApproval  bool   `json:"self_approval"`
	TargetRole    string `json:"target_role"`
	RequesterOrg  string `json:"requester_org"`
	Risk          string `json:"risk"`
	// Hour of the request, 0-23 UTC; 12 when absent.
	Hour *int `json:"hour"`

	// Expect is "allow" or "deny".
	Expect string `json:"expect"`
	// Reason, when set, is the expected deny reason.
	Reason string `json:"reason"`
	// Fields, when set, are expected field modes ("full", "masked",
	// "withheld"); fields not listed are not checked.
	Fields map[string]string `json:"fields"`
	// Policies, when set, must each be among the determining policies.
	Policies []string `json:"policies"`
}

// CasePrincipal is a case's principal. Status defaults to "active".
type CasePrincipal struct {
	ID      string `json:"id"`
	Org     string `json:"org"`
	OrgKind string `json:"org_kind"`
	Role    string `json:"role"`
	Site    string `json:"site"`
	Region  string `json:"region"`
	Status  string `json:"status"`
}

// CaseCustomer is a case's customer.
type CaseCustomer struct {
	ID     string `json:"id"`
	Region string `json:"region"`
	Site   string `json:"site"`
	Canary bool   `json:"canary"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	Line       int    // line number in the file, from 1
	Name       string // the case's name, or "line N" when it has none
	Got        Decision
	Mismatches []string // empty when the case passed
}

// OK reports whether the case passed.
func (c CaseResult) OK() bool { return len(c.Mismatches) == 0 }

// String is "<name> (line N): <mismatches>".
func (c CaseResult) String() string {
	if c.OK() {
		return fmt.Sprintf("%s (line %d): ok", c.Name, c.Line)
	}
	return fmt.Sprintf("%s (line %d): %s", c.Name, c.Line, strings.Join(c.Mismatches, "; "))
}

// Request is the request a case describes.
func (c *Case) Request() Request {
	kind, id, _ := strings.Cut(c.Purpose, ":")
	hour := 12
	if c.Hour != nil {
		hour = *c.Hour
	}
	p := c.Principal
	cu := c.Customer
	return Request{
		Principal:     Principal{ID: p.ID, Org: p.Org, OrgKind: p.OrgKind, Role: p.Role, Site: p.Site, Region: p.Region, Status: p.Status},
		Action:        c.Action,
		Resource:      Resource{ID: cu.ID, Region: cu.Region, Site: cu.Site, Canary: cu.Canary},
		Purpose:       Purpose{Kind: kind, ID: id, Valid: c.PurposeValid},
		Time:          time.Date(2026, 3, 2, hour, 0, 0, 0, time.UTC),
		QuotaExceeded: c.QuotaExceeded,
		SelfApproval:  c.SelfApproval,
		TargetRole:    c.TargetRole,
		RequesterOrg:  c.RequesterOrg,
		Risk:          c.Risk,
	}
}

// check validates the case itself.
func (c *Case) check() error {
	if c.Action == "" {
		return errors.New(`"action" is required`)
	}
	if c.Expect != "allow" && c.Expect != "deny" {
		return fmt.Errorf(`"expect" must be "allow" or "deny", not %q`, c.Expect)
	}
	if c.Reason != "" && c.Expect != "deny" {
		return errors.New(`"reason" is only for "expect": "deny"`)
	}
	if c.Hour != nil && (*c.Hour < 0 || *c.Hour > 23) {
		return fmt.Errorf(`"hour" %d is not 0-23`, *c.Hour)
	}
	for f, m := range c.Fields {
		if !slices.Contains(Fields, f) {
			return fmt.Errorf("unknown field %q (fields: %s)", f, strings.Join(Fields, ", "))
		}
		if _, ok := parseMode(m); !ok {
			return fmt.Errorf("field %q: mode %q is not full, masked or withheld", f, m)
		}
	}
	return nil
}

func parseMode(s string) (FieldMode, bool) {
	switch s {
	case "full":
		return Full, true
	case "masked":
		return Masked, true
	case "withheld":
		return Withheld, true
	}
	return Withheld, false
}

// RunCases runs every case in r (the case-file format, see Case) against a
// and returns one result per case, in file order. An error (wrapping
// ErrBadCase, naming the line) means the file itself is bad: unreadable,
// not JSON, unknown keys or values; then no results are returned.
func RunCases(a Authorizer, r io.Reader) ([]CaseResult, error) {
	cases, lines, err := ParseCases(r)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	out := make([]CaseResult, 0, len(cases))
	for i := range cases {
		c := &cases[i]
		res := CaseResult{Line: lines[i], Name: c.Name}
		if res.Name == "" {
			res.Name = fmt.Sprintf("line %d", lines[i])
		}
		res.Got = a.Authorize(ctx, c.Request())
		res.Mismatches = compare(c, res.Got)
		out = append(out, res)
	}
	return out, nil
}

// ParseCases reads a case file and returns the cases with their line
// numbers.
func ParseCases(r io.Reader) ([]Case, []int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var cases []Case
	var lines []int
	n := 0
	for sc.Scan() {
		n++
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' || bytes.HasPrefix(line, []byte("//")) {
			continue
		}
		var c Case
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: %v", ErrBadCase, n, err)
		}
		if dec.More() {
			return nil, nil, fmt.Errorf("%w: line %d: more than one JSON value", ErrBadCase, n)
		}
		if err := c.check(); err != nil {
			return nil, nil, fmt.Errorf("%w: line %d: %v", ErrBadCase, n, err)
		}
		cases = append(cases, c)
		lines = append(lines, n)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: after line %d: %v", ErrBadCase, n, err)
	}
	if len(cases) == 0 {
		return nil, nil, fmt.Errorf("%w: no cases", ErrBadCase)
	}
	return cases, lines, nil
}

// compare lists how got differs from what c expects.
func compare(c *Case, got Decision) []string {
	var mm []string
	gotDec := "deny"
	if got.Allow {
		gotDec = "allow"
	}
	if gotDec != c.Expect {
		s := fmt.Sprintf("decision: want %s, got %s", c.Expect, gotDec)
		if !got.Allow {
			s += " (" + got.Reason + ")"
		}
		mm = append(mm, s)
	} else if c.Reason != "" && got.Reason != c.Reason {
		mm = append(mm, fmt.Sprintf("reason: want %s, got %s", c.Reason, got.Reason))
	}
	for _, f := range Fields {
		want, ok := c.Fields[f]
		if !ok {
			continue
		}
		if g := got.Fields[f].String(); g != want {
			mm = append(mm, fmt.Sprintf("field %s: want %s, got %s", f, want, g))
		}
	}
	for _, p := range c.Policies {
		if !slices.Contains(got.Policies, p) {
			mm = append(mm, fmt.Sprintf("policy %s not among the determining policies %v", p, got.Policies))
		}
	}
	return mm
}
