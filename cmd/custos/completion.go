package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// subcommands are the second words of commands that take one.
var subcommands = map[string][]string{
	"audit":      {"key", "verify"},
	"policy":     {"test", "check", "init"},
	"canary":     {"seed"},
	"completion": {"bash", "zsh", "fish"},
}

// cmdCompletion prints a shell completion script. Command names come from
// commands(); each command's flags are read at completion time from
// "custos <command> --help", so the script never goes stale.
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
	type named struct{ name, summary string }
	var cmds []named
	for _, c := range commands() {
		cmds = append(cmds, named{c.name, c.summary})
	}
	if !slices.ContainsFunc(cmds, func(n named) bool { return n.name == "completion" }) {
		cmds = append(cmds, named{"completion", "print a shell completion script"})
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	var b strings.Builder
	switch shells[0] {
	case "bash":
		fmt.Fprintf(&b, `# bash completion for custos (from "custos completion bash")
_custos() {
  local cur prev cmd flags
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  if [[ $COMP_CWORD -eq 1 ]]; then
    COMPREPLY=( $(compgen -W %q -- "$cur") )
    return
  fi
  cmd="${COMP_WORDS[1]}"
  case "$prev" in
    --data|-data|--policies|-policies) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
    --config|-config|--events|-events|--leak|-leak|--customers|-customers|--principals|-principals|--tickets|-tickets)
      COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
  esac
  if [[ "$cur" == -* ]]; then
    local sub=""
    case "$cmd" in audit|policy|canary) [[ $COMP_CWORD -gt 2 ]] && sub="${COMP_WORDS[2]}" ;; esac
    flags=$("${COMP_WORDS[0]}" "$cmd" $sub --help 2>/dev/null | sed -n 's/^  -\([a-zA-Z0-9-]*\).*/--\1/p')
    COMPREPLY=( $(compgen -W "$flags" -- "$cur") )
    return
  fi
  case "$cmd" in
`, strings.Join(names, " "))
		for _, n := range completionKeys(subcommands) {
			fmt.Fprintf(&b, "    %s) [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=( $(compgen -W %q -- \"$cur\") ) ;;\n", n, strings.Join(subcommands[n], " "))
		}
		b.WriteString(`    *) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
  esac
}
complete -F _custos custos
`)
	case "zsh":
		b.WriteString("#compdef custos\n# zsh completion for custos (from \"custos completion zsh\")\n_custos() {\n  local -a cmds flags\n  cmds=(\n")
		for _, c := range cmds {
			fmt.Fprintf(&b, "    %s\n", zshQuote(c.name+":"+c.summary))
		}
		b.WriteString(`  )
  if (( CURRENT == 2 )); then
    _describe 'command' cmds
    return
  fi
  local cmd=${words[2]} sub=
  [[ $cmd == (audit|policy|canary) && CURRENT -gt 3 ]] && sub=${words[3]}
  if [[ ${words[CURRENT]} == -* ]]; then
    flags=( ${(f)"$(${words[1]} $cmd $sub --help 2>/dev/null | sed -n 's/^  -\([a-zA-Z0-9-]*\).*/--\1/p')"} )
    compadd -a flags
    return
  fi
  case $cmd in
`)
		for _, n := range completionKeys(subcommands) {
			fmt.Fprintf(&b, "    %s) (( CURRENT == 3 )) && compadd %s ;;\n", n, strings.Join(subcommands[n], " "))
		}
		b.WriteString(`    *) _files ;;
  esac
}
compdef _custos custos
`)
	case "fish":
		b.WriteString("# fish completion for custos (from \"custos completion fish\")\n")
		b.WriteString("function __custos_flags\n  set -l words (commandline -opc)\n  set -l cmd $words[2]\n  set -l sub\n  if contains -- $cmd audit policy canary; and test (count $words) -gt 2\n    set sub $words[3]\n  end\n  custos $cmd $sub --help 2>/dev/null | string replace -r -f '^  -([a-zA-Z0-9-]+).*' -- '--$1'\nend\n")
		for _, c := range cmds {
			fmt.Fprintf(&b, "complete -c custos -n __fish_use_subcommand -f -a %s -d %s\n", fishQuote(c.name), fishQuote(c.summary))
		}
		for _, n := range completionKeys(subcommands) {
			fmt.Fprintf(&b, "complete -c custos -n '__fish_seen_subcommand_from %s' -f -a %s\n", n, fishQuote(strings.Join(subcommands[n], " ")))
		}
		b.WriteString("complete -c custos -n 'not __fish_use_subcommand; and string match -q -- \"-*\" (commandline -ct)' -f -a '(__custos_flags)'\n")
	default:
		fmt.Fprintf(env.Stderr, "custos completion: unknown shell %q: want bash, zsh or fish\n", shells[0])
		return exitUsage
	}
	fmt.Fprint(env.Stdout, b.String())
	return exitOK
}

func completionKeys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// zshQuote single-quotes s for zsh.
func zshQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
