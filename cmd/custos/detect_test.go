package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/custos-dev/custos/internal/detect"
	"github.com/custos-dev/custos/internal/event"
)

// runWithStdin runs "custos ARGS" with stdin and returns exit code, stdout
// and stderr.
func runWithStdin(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }}
	code := run(context.Background(), args, env)
	return code, out.String(), errb.String()
}

func canaryLines() string {
	ev := event.Event{
		Time: time.Date(2026, 3, 2, 9, 14, 5, 0, time.UTC), Actor: "emp-00421", Org: "dist-017",
		Role: "store_clerk", Site: "store-0931", Region: "GD", Action: event.ActionRead,
		Customer: "c-0001234", CustomerRegion: "GD", Decision: event.Allow, Canary: true,
	}
	other := ev
	other.Actor, other.Canary, other.Customer = "emp-00001", false, "c-0004321"
	return string(other.Canonical()) + "\n\n" + string(ev.Canonical()) + "\n"
}

// TestDetectCommand checks the contract: alerts as JSON lines on stdout,
// from a file or stdin; a bad line is one error naming its line number,
// exit 2, and nothing on stdout.
func TestDetectCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(good, []byte(canaryLines()), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(bad, []byte(canaryLines()+"{\"time\":\"x\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		alerts     int
		errContain string
	}{
		{"file", "", []string{"detect", "--events", good}, 0, 1, ""},
		{"file --json", "", []string{"detect", "--events", good, "--json"}, 0, 1, ""},
		{"stdin", canaryLines(), []string{"detect"}, 0, 1, ""},
		{"stdin dash", canaryLines(), []string{"detect", "--events", "-"}, 0, 1, ""},
		{"empty input", "", []string{"detect"}, 0, 0, ""},
		{"bad line", "", []string{"detect", "--events", bad}, 2, 0, "line 4:"},
		{"bad line streaming", "", []string{"detect", "--events", bad, "--stream"}, 2, 1, "line 4:"},
		{"missing file", "", []string{"detect", "--events", filepath.Join(dir, "nope.jsonl")}, 2, 0, "nope.jsonl"},
		{"bad flag", "", []string{"detect", "--frobnicate"}, 2, 0, "frobnicate"},
		{"bad sensitivity", "", []string{"detect", "--sensitivity", "0"}, 2, 0, "Sensitivity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errS := runWithStdin(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errS)
			}
			if tt.errContain != "" && !strings.Contains(errS, tt.errContain) {
				t.Errorf("stderr %q does not mention %q", errS, tt.errContain)
			}
			if tt.code != 0 && strings.Count(strings.TrimSpace(errS), "\n") > 0 {
				t.Errorf("stderr has more than one line: %q", errS)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if strings.TrimSpace(out) == "" {
				lines = nil
			}
			if len(lines) != tt.alerts {
				t.Fatalf("%d alert lines, want %d: %q", len(lines), tt.alerts, out)
			}
			for _, l := range lines {
				var a map[string]any
				if err := json.Unmarshal([]byte(l), &a); err != nil {
					t.Fatalf("alert line not JSON: %q", l)
				}
				for _, k := range []string{"actor", "time", "score", "reasons", "records"} {
					if _, ok := a[k]; !ok {
						t.Errorf("alert lacks %q: %s", k, l)
					}
				}
				if a["actor"] != "emp-00421" || a["score"].(float64) != 1 || a["time"] != "2026-03-02T09:14:05Z" {
					t.Errorf("alert = %s", l)
				}
			}
		})
	}
}

// TestEvalCommand runs a small evaluation, writes its events, and checks
// custos detect finds the same insiders in the file.
func TestEvalCommand(t *testing.T) {
	dir := t.TempDir()
	evf := filepath.Join(dir, "ev.jsonl")
	code, out, errS := runWithStdin(t, "", "eval", "--seed", "3", "--people", "60", "--days", "14", "--json", "--write-events", evf)
	if code != 0 {
		t.Fatalf("eval exit %d: %s", code, errS)
	}
	var res struct {
		Detectors struct {
			Recall   float64 `json:"recall"`
			Insiders int     `json:"insiders"`
		} `json:"detectors"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("eval --json output: %v", err)
	}
	if res.Detectors.Insiders == 0 || res.Detectors.Recall < 0.9 {
		t.Errorf("eval result %+v", res.Detectors)
	}
	code, out, errS = runWithStdin(t, "", "detect", "--events", evf)
	if code != 0 {
		t.Fatalf("detect exit %d: %s", code, errS)
	}
	var n int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var a detect.Alert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("bad alert line %q", l)
		}
		n++
	}
	if n == 0 {
		t.Errorf("detect on the eval's events raised no alerts")
	}
	code, out, _ = runWithStdin(t, "", "eval", "--seed", "3", "--people", "60", "--days", "14")
	if code != 0 || !strings.Contains(out, "SIEM threshold rule") || !strings.Contains(out, "recall") {
		t.Errorf("eval table output (exit %d): %s", code, out)
	}
	if code, _, _ := runWithStdin(t, "", "eval", "--days", "1"); code != 2 {
		t.Errorf("eval --days 1: exit %d, want 2", code)
	}
}
