package main

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/event"
)

// runAudit runs "custos audit ARGS" and returns exit code, stdout, stderr.
func runAudit(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCmd(t, append([]string{"audit"}, args...)...)
}

// auditDataDir builds a data directory with an audit log of n events, as
// serve leaves it, and returns it with the log's verifier key.
func auditDataDir(t *testing.T, n int) (string, string) {
	t.Helper()
	dir := t.TempDir()
	evs := make([]event.Event, n)
	for i := range evs {
		evs[i] = event.Event{Time: time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC), Actor: "emp-00421", Action: event.ActionRead,
			Customer: fmt.Sprintf("c-%07d", i), Decision: event.Allow, Purpose: "ticket:T-1", PurposeValid: true}
	}
	return dir, appendEvents(t, dir, evs)
}

// TestAuditCommand checks "custos audit key/verify": the key printed is the
// log's, verify passes an intact log (exit 0), fails a tampered one naming
// the entry (exit 1), and usage errors exit 2 with one line.
func TestAuditCommand(t *testing.T) {
	dir, vkey := auditDataDir(t, 20)
	tampered, _ := auditDataDir(t, 20)
	db, err := sql.Open("sqlite", filepath.Join(tampered, "custos.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit SET event = replace(event, 'allow', 'deny') WHERE idx = 7`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	tests := []struct {
		name      string
		args      []string
		code      int
		out, errS string
	}{
		{"help", []string{"--help"}, 0, "Usage: custos audit", ""},
		{"no subcommand", nil, 2, "", "Usage: custos audit"},
		{"unknown subcommand", []string{"nope"}, 2, "", `unknown subcommand "nope"`},
		{"key", []string{"key", "--data", dir}, 0, vkey + "\n", ""},
		{"key help", []string{"key", "--help"}, 0, "audit key [--data DIR]", ""},
		{"key without log", []string{"key", "--data", t.TempDir()}, 2, "", "no audit log signing key"},
		{"verify intact", []string{"verify", "--data", dir}, 0, "audit log OK: 20 records", ""},
		{"verify with key", []string{"verify", "--data", dir, "--key", vkey}, 0, "audit log OK", ""},
		{"verify quiet", []string{"verify", "--data", dir, "--quiet"}, 0, "", ""},
		{"verify tampered", []string{"verify", "--data", tampered}, 1, "", "entry 7: tile/entries/000.p/20: log entry"},
		{"verify with another log's key", []string{"verify", "--data", tampered, "--key", vkey}, 1, "", "does not verify"},
		{"verify bad key", []string{"verify", "--data", dir, "--key", "junk"}, 1, "", "verifier key"},
		{"verify without log", []string{"verify", "--data", t.TempDir()}, 2, "", "no audit log signing key"},
		{"verify bad flag", []string{"verify", "--bogus"}, 2, "", "bogus"},
		{"verify missing checkpoints file", []string{"verify", "--data", dir, "--checkpoints", filepath.Join(dir, "nope.jsonl")}, 2, "", "nope.jsonl"},
		{"verify extra arg", []string{"verify", "--data", dir, "extra"}, 2, "", "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errS := runAudit(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errS)
			}
			if tt.out != "" && !strings.Contains(out, tt.out) {
				t.Errorf("stdout %q does not contain %q", out, tt.out)
			}
			if tt.out == "" && tt.code == 0 && out != "" && tt.name == "verify quiet" {
				t.Errorf("--quiet printed %q", out)
			}
			if tt.errS != "" && !strings.Contains(errS, tt.errS) {
				t.Errorf("stderr %q does not contain %q", errS, tt.errS)
			}
			if tt.code == 2 && strings.Count(strings.TrimSpace(errS), "\n") > 0 && tt.name != "no subcommand" {
				t.Errorf("usage error printed more than one line: %q", errS)
			}
		})
	}
}
