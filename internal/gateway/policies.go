package gateway

import (
	"sort"

	"github.com/custos-dev/custos/internal/policy"
)

// policyEngine is implemented by the Cedar engine's reloader.
type policyEngine interface {
	Engine() *policy.Engine
}

// PoliciesView is what GET /v1/policies answers: the policies and limits in
// force.
type PoliciesView struct {
	Policies        []string       `json:"policies"`
	Files           []string       `json:"files,omitempty"`
	Digest          string         `json:"digest,omitempty"`
	Quotas          []QuotaInForce `json:"quotas"`
	ConsentTTL      string         `json:"consent_ttl"`
	ConsentGrant    string         `json:"consent_grant"`
	ConsentAttempts int            `json:"consent_max_attempts"`
	BreakGlassGrant string         `json:"breakglass_grant"`
	StepUpScore     float64        `json:"stepup_score"`
	SuspendScore    float64        `json:"suspend_score"`
	Containment     bool           `json:"containment"`
}

// QuotaInForce is one role's distinct-customer quota.
type QuotaInForce struct {
	Role    string `json:"role"`
	PerHour int    `json:"customers_per_hour"`
	PerDay  int    `json:"customers_per_day"`
}

// PoliciesInForce describes what is in force: the configuration's quotas
// and limits and, for the Cedar engine, its policy ids. The caller gates it
// (policies.read).
func (g *Gateway) PoliciesInForce() PoliciesView {
	c := g.Config
	v := PoliciesView{
		Policies: []string{}, Quotas: []QuotaInForce{},
		ConsentTTL: c.ConsentTTL.String(), ConsentGrant: c.ConsentGrant.String(),
		ConsentAttempts: c.ConsentMaxAttempts, BreakGlassGrant: c.BreakGlassGrant.String(),
		StepUpScore: c.Detect.StepUpScore, SuspendScore: c.Detect.SuspendScore, Containment: !c.Detect.Disabled,
	}
	if pe, ok := g.Policy.(policyEngine); ok {
		if e := pe.Engine(); e != nil {
			v.Policies, v.Files, v.Digest = e.PolicyIDs(), e.Files(), e.Digest()
		}
	}
	for role, q := range c.Quotas {
		v.Quotas = append(v.Quotas, QuotaInForce{Role: role, PerHour: q.CustomersPerHour, PerDay: q.CustomersPerDay})
	}
	sort.Slice(v.Quotas, func(i, j int) bool { return v.Quotas[i].Role < v.Quotas[j].Role })
	return v
}
