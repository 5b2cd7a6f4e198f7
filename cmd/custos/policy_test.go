package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runPolicy runs "custos policy ARGS" and returns exit code, stdout, stderr.
func runPolicy(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := run(context.Background(), append([]string{"policy"}, args...), env)
	return code, out.String(), errb.String()
}

// TestPolicyCommand checks "custos policy test/check/init" exit codes and
// messages: 0 all pass, 1 a mismatch (named), 2 unreadable or bad files and
// invalid policies (one line on stderr).
func TestPolicyCommand(t *testing.T) {
	dir := t.TempDir()
	cases := "../../testdata/policy/default-cases.jsonl"
	wrong := filepath.Join(dir, "wrong.jsonl")
	os.WriteFile(wrong, []byte(`{"name":"clerk lists","principal":{"role":"store_clerk"},"action":"list","expect":"allow"}`+"\n"), 0o644)
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"action":"read","expect":"maybe"}`+"\n"), 0o644)
	pols := filepath.Join(dir, "policies")
	invalid := filepath.Join(dir, "invalid")

	tests := []struct {
		name      string
		args      []string
		code      int
		out, errS string
		setup     func()
	}{
		{"help", []string{"--help"}, 0, "custos policy test FILE", "", nil},
		{"defaults pass", []string{"test", cases}, 0, "cases passed (policies: default pack)", "", nil},
		{"flags after file", []string{"test", cases, "--data", filepath.Join(dir, "nodata")}, 0, "cases passed", "", nil},
		{"mismatch", []string{"test", wrong}, 1, "wrong.jsonl:1: clerk lists: decision: want allow, got deny (forbidden)", "", nil},
		{"missing file", []string{"test", filepath.Join(dir, "nope.jsonl")}, 2, "", "nope.jsonl", nil},
		{"bad file", []string{"test", bad}, 2, "", "line 1", nil},
		{"no file", []string{"test"}, 2, "", "FILE", nil},
		{"bad flag", []string{"test", cases, "--bogus"}, 2, "", "bogus", nil},
		{"init", []string{"init", pols}, 0, "wrote the default policy pack", "", nil},
		{"test against dir", []string{"test", cases, "--policies", pols}, 0, "cases passed (policies: " + pols, "", nil},
		{"test against data dir", []string{"--data", dir, "test", cases}, 0, "cases passed (policies: " + pols, "", nil},
		{"check", []string{"check", "--policies", pols}, 0, "17 policies valid", "", nil},
		{"invalid policies", []string{"test", cases, "--policies", invalid}, 2, "", "bad.cedar:1", func() {
			runPolicy(t, "init", invalid)
			os.WriteFile(filepath.Join(invalid, "bad.cedar"), []byte(`permit (principal, action == Action::"nope", resource);`), 0o644)
		}},
		{"check invalid", []string{"check", "--policies", invalid}, 2, "", "nope", nil},
		{"customised policies change the outcome", []string{"test", cases, "--policies", pols}, 1, "store_clerk reads under a valid ticket", "", func() {
			os.WriteFile(filepath.Join(pols, "local.cedar"), []byte(`forbid (principal, action, resource) when { principal.role == "store_clerk" };`), 0o644)
		}},
		{"unknown subcommand", []string{"frob"}, 2, "", "unknown subcommand", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup()
			}
			code, out, errS := runPolicy(t, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errS, tt.errS) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout ~%q, stderr ~%q", code, out, errS, tt.code, tt.out, tt.errS)
			}
			if tt.code == 2 && strings.Count(strings.TrimSpace(errS), "\n") > 0 {
				t.Errorf("stderr is more than one line: %q", errS)
			}
		})
	}
}
