package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestSpecValid loads the embedded document with kin-openapi and validates
// it as OpenAPI 3.1, so a typo in openapi.json fails here, not in a client.
func TestSpecValid(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi %q, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
}

// TestSpecCoversContract checks that the contract's paths (CONTRACT.md §2)
// and error codes appear in the document.
func TestSpecCoversContract(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(Spec)
	if err != nil {
		t.Fatal(err)
	}
	paths := []struct{ method, path string }{
		{"GET", "/healthz"},
		{"GET", "/v1/me"},
		{"GET", "/v1/customers/{id}"},
		{"PUT", "/v1/customers/{id}"},
		{"POST", "/v1/customers/search"},
		{"POST", "/v1/tickets"},
		{"POST", "/v1/consents"},
		{"POST", "/v1/consents/{id}/confirm"},
		{"GET", "/v1/alerts"},
		{"POST", "/v1/principals/{id}/suspend"},
		{"POST", "/v1/principals/{id}/reinstate"},
		{"GET", "/v1/audit/checkpoint"},
		{"GET", "/v1/audit/entries/{index}"},
		{"GET", "/log/checkpoint"},
		{"POST", "/v1/subjects/login"},
		{"POST", "/v1/subjects/login/{id}/confirm"},
		{"GET", "/v1/subjects/{customer}/accesses"},
		{"POST", "/v1/trace"},
		{"GET", "/v1/audit/search"},
		{"POST", "/v1/alerts/{id}/case"},
		{"GET", "/v1/cases"},
		{"GET", "/v1/cases/{id}"},
		{"PATCH", "/v1/cases/{id}"},
		{"GET", "/v1/cases/{id}/evidence"},
		{"POST", "/v1/tickets/{id}/assign"},
		{"POST", "/v1/tickets/{id}/close"},
		{"POST", "/v1/incidents"},
		{"GET", "/v1/incidents"},
		{"GET", "/v1/incidents/{id}"},
		{"GET", "/v1/subjects/{customer}/incidents"},
		{"POST", "/v1/subjects/{customer}/erase"},
		{"GET", "/metrics"},
		{"GET", "/openapi.json"},
		{"GET", "/scim/v2/Users"},
		{"GET", "/scim/v2/Groups"},
	}
	for _, p := range paths {
		item := doc.Paths.Value(p.path)
		if item == nil || item.GetOperation(p.method) == nil {
			t.Errorf("%s %s missing", p.method, p.path)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(Spec, &raw); err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"invalid_request", "unauthenticated", "forbidden", "purpose_required", "purpose_invalid",
		"not_found", "too_large", "principal_suspended", "quota_exceeded"} {
		if !strings.Contains(string(Spec), `"`+code+`"`) {
			t.Errorf("error code %s missing", code)
		}
	}
	for status, code := range map[string]string{"400": "invalid_request", "401": "unauthenticated", "404": "not_found",
		"413": "too_large", "423": "principal_suspended", "429": "quota_exceeded"} {
		op := doc.Paths.Value("/v1/customers/{id}").Get
		if status == "413" {
			op = doc.Paths.Value("/v1/customers/search").Post
		}
		r := op.Responses.Value(status)
		if r == nil || r.Value == nil {
			t.Errorf("read/search: no %s response", status)
			continue
		}
		b, _ := json.Marshal(r.Value)
		if !strings.Contains(string(b), code) {
			t.Errorf("%s response does not name %s: %s", status, code, b)
		}
	}
}
