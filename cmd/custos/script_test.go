package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata/script/*.txt")

// TestScripts runs the CLI scripts in testdata/script and compares what
// each command prints, and its exit code, with the expected output in the
// script: the outside contract's wording (usage, one-line errors, reports)
// is pinned here, so a change to it shows in review. Run with -update to
// rewrite the expected sections after an intended change.
//
// A script is a header of "key: value" lines, then sections that start
// with a line "-- name --". Header keys:
//
//	args:  the command line after "custos"; $WORK is the script's
//	       temporary directory
//	setup: "auditlog N" builds a data dir in $WORK/data with an audit
//	       log of N events
//	stdin: the name of a section fed to standard input
//
// Sections "exit", "stdout" and "stderr" are the expected results; every
// other section is written to $WORK under its name before the run. Output
// is normalised: $WORK for the directory, <hash> for Merkle roots, <t> for
// timings.
func TestScripts(t *testing.T) {
	files, err := filepath.Glob("testdata/script/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			sc, err := readScript(file)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			for _, s := range sc.sections {
				if s.name != "exit" && s.name != "stdout" && s.name != "stderr" {
					if err := os.WriteFile(filepath.Join(work, s.name), []byte(s.body), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			if f := strings.Fields(sc.header["setup"]); len(f) == 2 && f[0] == "auditlog" {
				n, _ := strconv.Atoi(f[1])
				dir, _ := auditDataDir(t, n)
				if err := os.Rename(dir, filepath.Join(work, "data")); err != nil {
					t.Fatal(err)
				}
			} else if len(f) > 0 {
				t.Fatalf("unknown setup %q", sc.header["setup"])
			}
			var stdin string
			if name := sc.header["stdin"]; name != "" {
				stdin = sc.get(name)
			}
			args := strings.Fields(strings.ReplaceAll(sc.header["args"], "$WORK", work))
			var out, errb bytes.Buffer
			env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
			code := run(context.Background(), args, env)
			got := map[string]string{"exit": fmt.Sprintf("%d\n", code), "stdout": normalize(out.String(), work), "stderr": normalize(errb.String(), work)}
			if *update {
				for _, name := range []string{"exit", "stdout", "stderr"} {
					sc.set(name, got[name])
				}
				if err := os.WriteFile(file, sc.bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, name := range []string{"exit", "stdout", "stderr"} {
				if want := sc.get(name); got[name] != want {
					t.Errorf("custos %s: %s differs (run with -update if intended)\n--- got\n%s--- want\n%s", sc.header["args"], name, got[name], want)
				}
			}
		})
	}
}

var (
	rootRE   = regexp.MustCompile(`root [0-9a-f]{64}`)
	timingRE = regexp.MustCompile(`\(\d+\.\d+s\)`)
	// How many checkpoints the log published while the setup appended
	// depends on the machine's speed (one each checkpoint interval).
	checkpointsRE = regexp.MustCompile(`\d+ checkpoints verified`)
)

func normalize(s, work string) string {
	s = strings.ReplaceAll(s, work, "$WORK")
	s = rootRE.ReplaceAllString(s, "root <hash>")
	s = checkpointsRE.ReplaceAllString(s, "<n> checkpoints verified")
	return timingRE.ReplaceAllString(s, "(<t>)")
}

type section struct{ name, body string }

// script is a parsed script file: the header's keys, its lines in order
// (to write back), and the sections.
type script struct {
	head     string
	header   map[string]string
	sections []section
}

var sectionRE = regexp.MustCompile(`^-- (\S+) --$`)

func readScript(file string) (*script, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	sc := &script{header: map[string]string{}}
	var cur *section
	var head strings.Builder
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if m := sectionRE.FindStringSubmatch(strings.TrimRight(line, "\n")); m != nil {
			sc.sections = append(sc.sections, section{name: m[1]})
			cur = &sc.sections[len(sc.sections)-1]
			continue
		}
		if cur != nil {
			cur.body += line
			continue
		}
		head.WriteString(line)
		if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(k, "#") {
			sc.header[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	sc.head = head.String()
	if sc.header["args"] == "" {
		return nil, fmt.Errorf("%s: no args: line", file)
	}
	return sc, nil
}

func (sc *script) get(name string) string {
	for _, s := range sc.sections {
		if s.name == name {
			return s.body
		}
	}
	return ""
}

func (sc *script) set(name, body string) {
	for i := range sc.sections {
		if sc.sections[i].name == name {
			sc.sections[i].body = body
			return
		}
	}
	sc.sections = append(sc.sections, section{name, body})
}

func (sc *script) bytes() []byte {
	var b strings.Builder
	b.WriteString(sc.head)
	for _, s := range sc.sections {
		fmt.Fprintf(&b, "-- %s --\n%s", s.name, s.body)
	}
	return []byte(b.String())
}
