package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func runCompletion(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := cmdCompletion(context.Background(), env, args)
	return out.String(), errb.String(), code
}

// TestCompletionScripts: each shell's script names every command; bad
// usage is one line and exit 2.
func TestCompletionScripts(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish"} {
		t.Run(sh, func(t *testing.T) {
			out, _, code := runCompletion(t, sh)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			for _, c := range commands() {
				if !strings.Contains(out, c.name) {
					t.Errorf("script lacks command %s", c.name)
				}
			}
			if path, err := exec.LookPath(sh); err == nil && sh != "fish" {
				f := filepath.Join(t.TempDir(), "c."+sh)
				os.WriteFile(f, []byte(out), 0o600)
				if b, err := exec.Command(path, "-n", f).CombinedOutput(); err != nil {
					t.Errorf("%s -n: %v\n%s", sh, err, b)
				}
			}
		})
	}
	for _, args := range [][]string{{}, {"tcsh"}, {"bash", "zsh"}, {"--nope"}} {
		_, errOut, code := runCompletion(t, args...)
		if code != exitUsage || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	if out, _, code := runCompletion(t, "--help"); code != 0 || !strings.Contains(out, "bash") {
		t.Errorf("--help: %d %q", code, out)
	}
}

// TestBashCompletes runs the bash function: first word completes to
// commands, "audit " to its subcommands.
func TestBashCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script, _, _ := runCompletion(t, "bash")
	f := filepath.Join(t.TempDir(), "c.bash")
	os.WriteFile(f, []byte(script), 0o600)
	for words, want := range map[string]string{"custos se": "serve", "custos audit v": "verify", "custos completion f": "fish"} {
		w := strings.Fields(words)
		cmd := exec.Command(bash, "-c", `source "$0"; COMP_WORDS=(`+words+`); COMP_CWORD=`+
			string(rune('0'+len(w)-1))+`; _custos; echo "${COMPREPLY[@]}"`, f)
		b, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%q: %v %q, want %s", words, err, b, want)
		}
	}
}
