// Command custos keeps customer data safe from the people who are allowed to
// use it: a guarded read path with purpose checks and field-level policy, a
// tamper-evident audit log, insider detection, and leak attribution.
//
// Run "custos help" for the commands.
package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // sites' time zones (config [sites]) on hosts without zone data

	"k8s.io/klog/v2"
)

func main() {
	// tessera logs through klog; custos logs through slog only.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
	stop()
	os.Exit(code)
}

// Env is what a command may touch of the outside world. Tests build their own.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and found a failure (e.g. verify mismatch)
	exitUsage = 2 // bad flags, unreadable files, bad input
)

// command is one subcommand. Each has its own file and FlagSet.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the gateway, audit log, detectors and dashboard", cmdServe},
		{"demo", "build a synthetic world, replay its work through the gateway, then serve", cmdDemo},
		{"import", "load customers, principals and tickets from CSV, all or nothing", cmdImport},
		{"policy", "policy tools: test cases, check, init", cmdPolicy},
		{"audit", "audit log tools: key, verify, verify-bundle", cmdAudit},
		{"detect", "run the insider detectors over access events (JSON lines)", cmdDetect},
		{"trace", "leak attribution: who could have leaked this list", cmdTrace},
		{"canary", "plant canary records per org and site: canary seed", cmdCanary},
		{"eval", "evaluate the detectors on generated scenarios", cmdEval},
		{"backup", "write a consistent backup of a data dir (store, log key, policies) to a .tar.gz", cmdBackup},
		{"restore", "restore a backup into a new data dir and verify its audit log", cmdRestore},
		{"keys", "key rotation: rotate-master, rotate-log", cmdKeys},
		{"completion", "print a shell completion script: bash, zsh or fish", cmdCompletion},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "custos keeps customer data safe from the people who are allowed to use it.\n\nUsage:\n  custos <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"custos <command> --help\" for a command's flags.\n")
}

func run(ctx context.Context, args []string, env *Env) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(env.Stdout)
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "custos: unknown command %q (run \"custos help\" for the list)\n", args[0])
	return exitUsage
}

// group is a command made of subcommands ("custos audit key").
type group struct {
	name  string // "audit"
	usage string // printed on stderr when no subcommand is given (exit 2)
	help  string // printed on stdout for --help; usage when empty
	want  string // the subcommands, for an unknown one: "key or verify"
	subs  map[string]func(context.Context, *Env, []string) int
}

func (g group) run(ctx context.Context, env *Env, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, g.usage)
		return exitUsage
	}
	if sub, ok := g.subs[args[0]]; ok {
		return sub(ctx, env, args[1:])
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(env.Stdout, cmp.Or(g.help, g.usage))
		return exitOK
	}
	fmt.Fprintf(env.Stderr, "custos %s: unknown subcommand %q (want %s)\n", g.name, args[0], g.want)
	return exitUsage
}
