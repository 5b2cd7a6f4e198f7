package policy

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var ticketRead = Request{Principal: clerk("active"), Action: ActionRead, Resource: cust, Purpose: Purpose{Kind: PurposeTicket, ID: "T-1", Valid: true}}

const clerkBan = `@id("no-clerks") forbid (principal, action == Action::"read", resource) when { principal.role == "store_clerk" };`

// TestReloaderSwapsAndRefuses checks the hot-reload contract: a valid change
// takes effect; an invalid one is refused, the old set stays in force, and
// the refusal is logged and visible in the metrics; fixing the directory
// recovers.
func TestReloaderSwapsAndRefuses(t *testing.T) {
	dir := writePack(t, nil)
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	var reloaded, refused int
	r, err := NewReloader(dir, WatchOptions{
		Logger:     slog.New(slog.NewTextHandler(&logs, nil)),
		Registerer: reg,
		OnReload:   func(*Engine) { reloaded++ },
		OnError:    func(error) { refused++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if !r.Authorize(ctx, ticketRead).Allow {
		t.Fatal("default pack denies a ticket read")
	}
	if changed, err := r.Reload(); changed || err != nil {
		t.Fatalf("Reload of an unchanged dir = %v, %v", changed, err)
	}

	// A valid change takes effect.
	if err := os.WriteFile(filepath.Join(dir, "local.cedar"), []byte(clerkBan), 0o644); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("Reload after a valid change = %v, %v", changed, err)
	}
	if d := r.Authorize(ctx, ticketRead); d.Allow || d.Policies[0] != "no-clerks" {
		t.Fatalf("new policy not in force: %+v", d)
	}
	good := r.Engine()

	// An invalid change is refused; the old set stays.
	bad := filepath.Join(dir, "zz-bad.cedar")
	if err := os.WriteFile(bad, []byte(`permit (principal, action == Action::"read", resource) when { principal.department == "x" };`), 0o644); err != nil {
		t.Fatal(err)
	}
	changed, err := r.Reload()
	if changed || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "zz-bad.cedar") {
		t.Fatalf("Reload of an invalid set = %v, %v; want refused naming zz-bad.cedar", changed, err)
	}
	if r.Engine() != good {
		t.Fatal("the engine changed although the new set was refused")
	}
	if d := r.Authorize(ctx, ticketRead); d.Allow {
		t.Fatal("old set not in force after a refused reload")
	}
	if got := gathered(t, reg, "custos_policy_valid"); got != 0 {
		t.Errorf("custos_policy_valid = %v, want 0", got)
	}
	if got := gathered(t, reg, "custos_policy_reload_errors_total"); got != 1 {
		t.Errorf("custos_policy_reload_errors_total = %v, want 1", got)
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "zz-bad.cedar") {
		t.Errorf("refusal not logged: %s", logs.String())
	}
	// Not retried until the directory changes again.
	if _, err := r.Reload(); err != nil || gathered(t, reg, "custos_policy_reload_errors_total") != 1 {
		t.Errorf("refused set retried without a change: %v", err)
	}

	// Fixing the directory recovers.
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	if changed, err := r.Reload(); !changed || err != nil {
		t.Fatalf("Reload after the fix = %v, %v", changed, err)
	}
	if got := gathered(t, reg, "custos_policy_valid"); got != 1 {
		t.Errorf("custos_policy_valid = %v after the fix, want 1", got)
	}
	if reloaded != 2 || refused != 1 {
		t.Errorf("hooks: %d reloads, %d refusals; want 2, 1", reloaded, refused)
	}
	if got := gathered(t, reg, "custos_policy_reloads_total"); got != 2 {
		t.Errorf("custos_policy_reloads_total = %v, want 2", got)
	}
}

// gathered reads one gauge or counter from reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge() != nil {
			return m.GetGauge().GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestWatchPolls checks that Watch notices an edit of an existing file by
// itself (size/mtime change).
func TestWatchPolls(t *testing.T) {
	dir := writePack(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := Watch(ctx, dir, WatchOptions{Interval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	old := r.Engine().Digest()
	f, err := os.OpenFile(filepath.Join(dir, "guards.cedar"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("\n" + clerkBan + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	deadline := time.Now().Add(5 * time.Second)
	for r.Engine().Digest() == old {
		if time.Now().After(deadline) {
			t.Fatal("Watch did not pick up the change")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if r.Authorize(ctx, ticketRead).Allow {
		t.Error("watched change not in force")
	}
}

func TestNewReloaderRefusesInvalid(t *testing.T) {
	dir := writePack(t, map[string]string{"bad.cedar": "permit ("})
	if _, err := NewReloader(dir, WatchOptions{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("NewReloader(invalid) = %v, want ErrInvalid", err)
	}
}
