// Package defaults holds custos's default policy pack: the Cedar schema
// (custos.cedarschema) and the .cedar policy files that implement the
// contract's default policies. The policy package compiles it for
// policy.Default and copies it into a data directory with
// policy.WriteDefaults, where operators may then edit it.
package defaults

import "embed"

// FS holds the pack: one *.cedarschema file and the *.cedar policy files,
// all at the root. It is read-only.
//
//go:embed *.cedarschema *.cedar
var FS embed.FS
