// Package config is custos's configuration: one documented struct, loaded
// from TOML, with defaults in code and validation at startup.
package config

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/custos-dev/custos/internal/oidc"
	"github.com/custos-dev/custos/internal/siem"
)

// Quota is a role's limit in distinct customers read. 0 means unlimited.
type Quota struct {
	// CustomersPerHour is the most distinct customers in one clock hour.
	CustomersPerHour int `toml:"customers_per_hour"`
	// CustomersPerDay is the most distinct customers in one UTC day.
	CustomersPerDay int `toml:"customers_per_day"`
}

// Config is the whole configuration. The zero value is not valid: start
// from Default.
type Config struct {
	// Quotas per role, keyed by role name. Roles missing here get the
	// defaults; a role given here replaces its default.
	Quotas map[string]Quota `toml:"quotas"`
	// ConsentTTL is how long a one-time code is valid (default 10m).
	ConsentTTL Duration `toml:"consent_ttl"`
	// ConsentGrant is how long a confirmed consent grants access (default 30m).
	ConsentGrant Duration `toml:"consent_grant"`
	// ConsentMaxAttempts wrong codes lock a consent (default 5).
	ConsentMaxAttempts int `toml:"consent_max_attempts"`
	// LegalDisclosureDelay is how long accesses under a legal purpose stay
	// hidden from the customer's own page (default 90 days, 2160h).
	LegalDisclosureDelay Duration `toml:"legal_disclosure_delay"`
	// BreakGlassGrant is how long an approved break-glass lasts (default 1h).
	BreakGlassGrant Duration `toml:"breakglass_grant"`
	// TicketTTL is how long a ticket serves after it is opened (default
	// 72h); nothing reads under an expired ticket.
	TicketTTL Duration `toml:"ticket_ttl"`
	// IncidentNoticeRate is how many incident notices a second custos
	// sends at most (default 10), so that a large incident does not
	// flood the SMS provider.
	IncidentNoticeRate int `toml:"incident_notices_per_second"`
	// MetricsToken, when set, is the bearer token an operator sends to read
	// /metrics; without it (and without MetricsAddr) /metrics is not served
	// on the API address. Keep it out of the file with CUSTOS_METRICS_TOKEN.
	MetricsToken string `toml:"metrics_token"`
	// MetricsAddr, when set, serves /metrics on this separate listen
	// address (e.g. 127.0.0.1:9470, reachable by the operator only).
	MetricsAddr string `toml:"metrics_addr"`
	// SCIMAllowedRoles are the roles SCIM provisioning may grant; empty
	// means the partner-staff roles only. Name company roles here only if
	// your identity provider is trusted to grant them.
	SCIMAllowedRoles []string `toml:"scim_allowed_roles"`
	// SecureCookies marks the dashboard's session cookie Secure even when
	// custos itself serves plain HTTP, for deployments behind a
	// TLS-terminating proxy.
	SecureCookies bool `toml:"secure_cookies"`
	// Policies is a directory of .cedar files; empty means <data>/policies.
	Policies string `toml:"policies"`
	// NotifyWebhook, when set, sends one-time codes by POSTing to this URL
	// instead of appending to <data>/outbox.jsonl.
	NotifyWebhook string `toml:"notify_webhook"`
	// Detect configures containment by the detectors.
	Detect Detect `toml:"detect"`
	// Audit configures the audit log's publication (the [audit] table).
	Audit Audit `toml:"audit"`
	// Durability of the embedded store: "full" (default) flushes to disk on
	// every group commit, so an acknowledged decision survives a power
	// loss; "process" survives a crash of the custos process (kill -9) but
	// may lose the last few milliseconds of decisions on a power loss or
	// kernel crash, for several times the throughput on slow disks.
	Durability string `toml:"durability"`
	// OIDC configures staff sign-in with an OpenID Connect provider (the
	// [oidc] table; see oidc.Config). Off unless oidc.issuer is set.
	OIDC oidc.Config `toml:"oidc"`
	// SIEM configures the export of audit events and alerts (the [siem]
	// table; see siem.Config). Off unless siem.syslog or siem.webhook is set.
	SIEM siem.Config `toml:"siem"`
	// Sites holds optional settings per site, keyed by site id: the
	// [sites."store-0931"] tables. Sites not named here take the defaults.
	Sites map[string]Site `toml:"sites"`
}

// Site is one site's settings.
type Site struct {
	// Timezone is the site's IANA time zone, such as "Asia/Shanghai". The
	// detectors judge off-hours work and hour-of-day patterns of the
	// site's staff in it. Optional; default UTC.
	Timezone string `toml:"timezone"`
}

// SiteZones returns the time zone of every site that names one.
func (c Config) SiteZones() (map[string]*time.Location, error) {
	out := make(map[string]*time.Location, len(c.Sites))
	for id, s := range c.Sites {
		if s.Timezone == "" {
			continue
		}
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return nil, &ValidationError{Field: "sites." + id + ".timezone",
				Problem: fmt.Sprintf("unknown time zone %q (want an IANA name such as Asia/Shanghai)", s.Timezone)}
		}
		out[id] = loc
	}
	return out, nil
}

// Audit configures the audit log beyond its defaults. All optional.
type Audit struct {
	// Origin names a new log (checkpoint first line); an existing signing
	// key keeps its name. Default "custos.local/audit".
	Origin string `toml:"origin"`
	// WitnessPolicy is a file in tessera's witness-policy format: every
	// checkpoint is then cosigned by those witnesses (C2SP tlog-witness).
	WitnessPolicy string `toml:"witness_policy"`
	// WitnessFailOpen publishes a checkpoint even without the witness
	// quorum (default false: wait for it).
	WitnessFailOpen bool `toml:"witness_fail_open"`
	// ExportFile receives every newly published checkpoint (append-only).
	ExportFile string `toml:"export_file"`
	// ExportURL receives every newly published checkpoint as an HTTP POST.
	ExportURL string `toml:"export_url"`
	// ExportInterval is how often checkpoints are exported (default 1m).
	ExportInterval Duration `toml:"export_interval"`
}

// Detect configures the online detectors' containment.
type Detect struct {
	// StepUpScore: at or above it, the person's reads need a consent (default 0.85).
	StepUpScore float64 `toml:"stepup_score"`
	// SuspendScore: at or above it, the person is suspended (default 0.95).
	SuspendScore float64 `toml:"suspend_score"`
	// Disabled turns automatic containment off (alerts still fire).
	Disabled bool `toml:"containment_disabled"`
}

// Duration is a time.Duration written as "10m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// DefaultQuotas are the out-of-the-box limits per role.
func DefaultQuotas() map[string]Quota {
	return map[string]Quota{
		"store_clerk":      {CustomersPerHour: 40, CustomersPerDay: 150},
		"store_manager":    {CustomersPerHour: 60, CustomersPerDay: 300},
		"repair_tech":      {CustomersPerHour: 30, CustomersPerDay: 120},
		"callcenter_agent": {CustomersPerHour: 60, CustomersPerDay: 400},
		"partner_admin":    {CustomersPerHour: 20, CustomersPerDay: 100},
		"integration":      {CustomersPerHour: 0, CustomersPerDay: 0},
	}
}

// Default returns the default configuration.
func Default() Config {
	return Config{
		Quotas:               DefaultQuotas(),
		ConsentTTL:           Duration{10 * time.Minute},
		ConsentGrant:         Duration{30 * time.Minute},
		ConsentMaxAttempts:   5,
		BreakGlassGrant:      Duration{time.Hour},
		TicketTTL:            Duration{72 * time.Hour},
		IncidentNoticeRate:   10,
		LegalDisclosureDelay: Duration{90 * 24 * time.Hour},
		Detect:               Detect{StepUpScore: 0.85, SuspendScore: 0.95},
		Durability:           "full",
	}
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid config")

// ValidationError names the field at fault.
type ValidationError struct {
	Field   string
	Problem string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("config: %s: %s", e.Field, e.Problem) }
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Load reads a TOML file over the defaults and validates the result.
// Unknown keys are an error, so a typo does not pass silently.
func Load(path string) (Config, error) {
	c := Default()
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read config: %w", err)
	}
	return Parse(b)
}

// Parse decodes TOML text over the defaults and validates the result.
func Parse(b []byte) (Config, error) {
	c := Default()
	var fromFile Config
	md, err := toml.Decode(string(b), &fromFile)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, &ValidationError{Field: und[0].String(), Problem: "unknown key"}
	}
	for role, q := range fromFile.Quotas {
		c.Quotas[role] = q
	}
	c.Sites = fromFile.Sites
	if md.IsDefined("consent_ttl") {
		c.ConsentTTL = fromFile.ConsentTTL
	}
	if md.IsDefined("consent_grant") {
		c.ConsentGrant = fromFile.ConsentGrant
	}
	if md.IsDefined("consent_max_attempts") {
		c.ConsentMaxAttempts = fromFile.ConsentMaxAttempts
	}
	if md.IsDefined("breakglass_grant") {
		c.BreakGlassGrant = fromFile.BreakGlassGrant
	}
	if md.IsDefined("legal_disclosure_delay") {
		c.LegalDisclosureDelay = fromFile.LegalDisclosureDelay
	}
	if md.IsDefined("ticket_ttl") {
		c.TicketTTL = fromFile.TicketTTL
	}
	if md.IsDefined("incident_notices_per_second") {
		c.IncidentNoticeRate = fromFile.IncidentNoticeRate
	}
	if md.IsDefined("metrics_token") {
		c.MetricsToken = fromFile.MetricsToken
	}
	if md.IsDefined("metrics_addr") {
		c.MetricsAddr = fromFile.MetricsAddr
	}
	if md.IsDefined("scim_allowed_roles") {
		c.SCIMAllowedRoles = fromFile.SCIMAllowedRoles
	}
	if md.IsDefined("secure_cookies") {
		c.SecureCookies = fromFile.SecureCookies
	}
	if md.IsDefined("policies") {
		c.Policies = fromFile.Policies
	}
	if md.IsDefined("notify_webhook") {
		c.NotifyWebhook = fromFile.NotifyWebhook
	}
	if md.IsDefined("audit") {
		c.Audit = fromFile.Audit
	}
	if md.IsDefined("durability") {
		c.Durability = fromFile.Durability
	}
	if md.IsDefined("detect", "stepup_score") {
		c.Detect.StepUpScore = fromFile.Detect.StepUpScore
	}
	if md.IsDefined("detect", "suspend_score") {
		c.Detect.SuspendScore = fromFile.Detect.SuspendScore
	}
	if md.IsDefined("detect", "containment_disabled") {
		c.Detect.Disabled = fromFile.Detect.Disabled
	}
	if md.IsDefined("oidc") {
		c.OIDC = fromFile.OIDC
		c.OIDC.IDPrefixSet = md.IsDefined("oidc", "id_prefix")
	}
	if md.IsDefined("siem") {
		c.SIEM = fromFile.SIEM
	}
	return c, c.Validate()
}

// Validate checks every field and returns the first problem found.
func (c Config) Validate() error {
	for role, q := range c.Quotas {
		if q.CustomersPerHour < 0 {
			return &ValidationError{Field: "quotas." + role + ".customers_per_hour", Problem: "must not be negative"}
		}
		if q.CustomersPerDay < 0 {
			return &ValidationError{Field: "quotas." + role + ".customers_per_day", Problem: "must not be negative"}
		}
	}
	if c.Durability != "full" && c.Durability != "process" {
		return &ValidationError{Field: "durability", Problem: `must be "full" or "process"`}
	}
	if c.ConsentTTL.Duration <= 0 {
		return &ValidationError{Field: "consent_ttl", Problem: "must be positive"}
	}
	if c.ConsentGrant.Duration <= 0 {
		return &ValidationError{Field: "consent_grant", Problem: "must be positive"}
	}
	if c.ConsentMaxAttempts < 1 {
		return &ValidationError{Field: "consent_max_attempts", Problem: "must be at least 1"}
	}
	if c.Audit.ExportInterval.Duration < 0 {
		return &ValidationError{Field: "audit.export_interval", Problem: "must not be negative"}
	}
	if c.LegalDisclosureDelay.Duration < 0 {
		return &ValidationError{Field: "legal_disclosure_delay", Problem: "must not be negative"}
	}
	if c.TicketTTL.Duration <= 0 {
		return &ValidationError{Field: "ticket_ttl", Problem: "must be positive"}
	}
	if c.IncidentNoticeRate < 1 || c.IncidentNoticeRate > 10000 {
		return &ValidationError{Field: "incident_notices_per_second", Problem: "must be 1 to 10000"}
	}
	if c.BreakGlassGrant.Duration <= 0 {
		return &ValidationError{Field: "breakglass_grant", Problem: "must be positive"}
	}
	if c.Detect.StepUpScore <= 0 || c.Detect.StepUpScore > 1 || c.Detect.SuspendScore <= 0 || c.Detect.SuspendScore > 1 {
		return &ValidationError{Field: "detect", Problem: "scores must be in (0, 1]"}
	}
	if c.OIDC.Issuer != "" || c.OIDC.ClientID != "" {
		if err := c.OIDC.Validate(); err != nil {
			return &ValidationError{Field: "oidc", Problem: err.Error()}
		}
	}
	if err := c.SIEM.Validate(); err != nil {
		return &ValidationError{Field: "siem", Problem: err.Error()}
	}
	if _, err := c.SiteZones(); err != nil {
		return err
	}
	if c.Detect.SuspendScore < c.Detect.StepUpScore {
		return &ValidationError{Field: "detect.suspend_score", Problem: "must be at least detect.stepup_score"}
	}
	return nil
}
