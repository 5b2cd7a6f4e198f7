// Package completion writes shell completion scripts for a command-line
// tool whose commands are "tool <command> [<subcommand>] [flags]". Command
// names come from the caller; each command's flags are read at completion
// time from "tool <command> [<subcommand>] --help", so a script never
// goes stale when flags change.
package completion

import (
	"fmt"
	"slices"
	"strings"
)

// Command is one command: its name and a one-line summary.
type Command struct{ Name, Summary string }

// Script returns the completion script of custos for shell ("bash", "zsh"
// or "fish"): cmds complete the first word, subcommands[cmd] the second.
func Script(shell string, cmds []Command, subcommands map[string][]string) (string, error) {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.Name
	}
	var b strings.Builder
	switch shell {
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
		for _, n := range sortedKeys(subcommands) {
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
			fmt.Fprintf(&b, "    %s\n", zshQuote(c.Name+":"+c.Summary))
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
		for _, n := range sortedKeys(subcommands) {
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
			fmt.Fprintf(&b, "complete -c custos -n __fish_use_subcommand -f -a %s -d %s\n", fishQuote(c.Name), fishQuote(c.Summary))
		}
		for _, n := range sortedKeys(subcommands) {
			fmt.Fprintf(&b, "complete -c custos -n '__fish_seen_subcommand_from %s' -f -a %s\n", n, fishQuote(strings.Join(subcommands[n], " ")))
		}
		b.WriteString("complete -c custos -n 'not __fish_use_subcommand; and string match -q -- \"-*\" (commandline -ct)' -f -a '(__custos_flags)'\n")
	default:
		return "", fmt.Errorf("unknown shell %q: want bash, zsh or fish", shell)
	}
	return b.String(), nil
}

func sortedKeys(m map[string][]string) []string {
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
