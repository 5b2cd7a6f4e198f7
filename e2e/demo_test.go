// The first-run story (issue: custos demo): the demo builds a world, replays
// its work through the gateway, raises alerts on the hidden insiders,
// writes a leak file, and serves the dashboard. Small sizes here; the full
// size is measured in docs/PERFORMANCE.md.
package e2e

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	et "github.com/custos-dev/custos/internal/e2etest"
)

func TestDemoEndToEnd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "demo")
	addr := et.FreeAddr(t)
	cmd := exec.Command(et.Binary(t), "demo", "--data", data, "--addr", addr, "--customers", "3000", "--days", "5", "--seed", "7")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	// Read the summary until the curl lines, which come last.
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out strings.Builder
	deadline := time.After(3 * time.Minute)
	for done := false; !done; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo exited early:\n%s", out.String())
			}
			out.WriteString(l + "\n")
			done = strings.Contains(l, "audit verify")
		case <-deadline:
			t.Fatalf("demo not ready in 3 minutes:\n%s", out.String())
		}
	}
	summary := out.String()
	for _, want := range []string{"Dashboard:  http://" + addr + "/", "security_analyst", "auditor", "store_clerk", "leak-demo.csv"} {
		if !strings.Contains(summary, want) {
			t.Errorf("summary lacks %q:\n%s", want, summary)
		}
	}
	m := regexp.MustCompile(`security_analyst\s+\S+\s+(\S+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no security token in summary:\n%s", summary)
	}
	sec := m[1]
	base := "http://" + addr
	r := et.Do(t, base, et.Req{Path: "/v1/alerts", Token: sec})
	if r.Status != 200 {
		t.Fatalf("alerts: %d %s", r.Status, r.Body)
	}
	alerts := r.JSON(t)["alerts"].([]any)
	if len(alerts) == 0 {
		t.Fatalf("the demo raised no alerts:\n%s", summary)
	}
	withReasons := 0
	for _, a := range alerts {
		if rs, _ := a.(map[string]any)["reasons"].([]any); len(rs) > 0 {
			withReasons++
		}
	}
	if withReasons == 0 {
		t.Errorf("alerts carry no reasons: %s", r.Body)
	}
	if r := et.Do(t, base, et.Req{Path: "/log/checkpoint"}); r.Status != 200 {
		t.Errorf("log checkpoint: %d", r.Status)
	}
	// The log verifies from the data dir while the demo serves.
	if out, errOut, code := et.Run(t, "", "audit", "verify", "--data", data); code != 0 {
		t.Errorf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
}
