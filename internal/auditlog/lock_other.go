//go:build !unix

package auditlog

// lockDir is a no-op where flock is not available: there, only one
// process may open the log, and nothing enforces it.
func lockDir(dir string) (func(), error) { return func() {}, nil }
