package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/custos-dev/custos/internal/completion"
)

// subcommands are the second words of commands that take one.
var subcommands = map[string][]string{
	"audit":      {"key", "verify", "verify-bundle"},
	"policy":     {"test", "check", "init"},
	"canary":     {"seed"},
	"completion": {"bash", "zsh", "fish"},
}

// cmdCompletion prints a shell completion script (see package completion).
func cmdCompletion(ctx context.Context, env *Env, args []string) int {
	fs := newFlagSet(env, "completion", "completion bash|zsh|fish\n\nPrints a completion script. Load it with:\n"+
		"  bash: source <(custos completion bash)   (or save it in /etc/bash_completion.d/custos)\n"+
		"  zsh:  source <(custos completion zsh)    (after compinit)\n"+
		"  fish: custos completion fish > ~/.config/fish/completions/custos.fish")
	var flags, shells []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			flags = append(flags, a)
		} else {
			shells = append(shells, a)
		}
	}
	if code, stop := parseFlags(fs, env, flags); stop {
		return code
	}
	if len(shells) != 1 {
		fmt.Fprintln(env.Stderr, "custos completion: name one shell: bash, zsh or fish (see custos completion --help)")
		return exitUsage
	}
	var cmds []completion.Command
	for _, c := range commands() {
		cmds = append(cmds, completion.Command{Name: c.name, Summary: c.summary})
	}
	s, err := completion.Script(shells[0], cmds, subcommands)
	if err != nil {
		return fail(env, "completion", exitUsage, err)
	}
	fmt.Fprint(env.Stdout, s)
	return exitOK
}
