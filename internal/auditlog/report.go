package auditlog

import (
	"fmt"
	"strings"
)

// Detail lists every problem, one per line, as "custos audit verify"
// prints them: a heading, then each problem indented, then how many more
// there were beyond those kept.
func (e *VerifyError) Detail() string {
	var b strings.Builder
	fmt.Fprintf(&b, "FAILED: %d problem(s) in the audit log:\n", e.Count)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if e.Count > len(e.Problems) {
		fmt.Fprintf(&b, "  … and %d more\n", e.Count-len(e.Problems))
	}
	return b.String()
}

// Summary is one line saying what a successful Verify checked.
func (r Report) Summary() string {
	s := fmt.Sprintf("audit log OK: %d records, %d checkpoints verified, tree size %d, root %x, %d entry bundles and %d tiles match",
		r.Records, r.Checkpoints, r.TreeSize, r.Root, r.Bundles, r.Tiles)
	if r.Pending > 0 {
		s += fmt.Sprintf(", %d records not yet in a checkpoint", r.Pending)
	}
	return s
}
