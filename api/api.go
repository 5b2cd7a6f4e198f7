// Package api holds custos's OpenAPI 3.1 description of its whole HTTP API
// (openapi.json beside this file), embedded so that the server can serve it
// at /openapi.json and tests can validate live responses against it.
//
// openapi.json is the source of truth and is edited by hand; the end-to-end
// test e2e/openapi_test.go keeps it true to the running binary.
package api

import _ "embed"

// Spec is openapi.json, byte for byte. Callers must not modify it.
//
//go:embed openapi.json
var Spec []byte
