package completion

import (
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	cmds := []Command{{"serve", "run it"}, {"audit", "audit's tools"}}
	subs := map[string][]string{"audit": {"key", "verify"}}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			s, err := Script(shell, cmds, subs)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"serve", "audit", "key verify", "--help"} {
				if !strings.Contains(s, want) {
					t.Errorf("script lacks %q", want)
				}
			}
		})
	}
	if _, err := Script("tcsh", cmds, subs); err == nil {
		t.Error("tcsh: no error")
	}
}
