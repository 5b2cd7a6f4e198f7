package api

// Wire types shared by the server (internal/httpapi) and the Go client
// (package client), so that each JSON shape is written once.

// Me is GET /v1/me: the calling principal, their quota and status.
type Me struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Org     string `json:"org"`
	OrgKind string `json:"org_kind"`
	Role    string `json:"role"`
	Site    string `json:"site"`
	Region  string `json:"region"`
	// Status is "active", "stepup" or "suspended".
	Status string `json:"status"`
	Quota  Quota  `json:"quota"`
}

// Quota is a principal's distinct-customer quota and its use.
type Quota struct {
	PerHour       int `json:"customers_per_hour"`
	PerDay        int `json:"customers_per_day"`
	UsedHour      int `json:"used_hour"`
	UsedDay       int `json:"used_day"`
	RemainingHour int `json:"remaining_hour"`
	RemainingDay  int `json:"remaining_day"`
}
