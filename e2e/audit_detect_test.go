// The log and the detectors seen from outside the process: tessera's own
// fsck verifies a running server's /log/ with the key from "custos audit
// key" (issue: the audit log), and a canary read is caught, contained and
// recorded by the detectors on their own (issue: detection).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/client"
	"github.com/transparency-dev/tessera/fsck"
	"golang.org/x/mod/sumdb/note"

	et "github.com/custos-dev/custos/internal/e2etest"
)

func TestFsckAgainstRunningServer(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	for i := 0; i < 300; i++ { // more than one tile of entries
		s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	}
	key, errOut, code := et.Run(t, "", "audit", "key", "--data", f.Data)
	if code != 0 {
		t.Fatalf("audit key: %d %s", code, errOut)
	}
	v, err := note.NewVerifier(strings.TrimSpace(key))
	if err != nil {
		t.Fatalf("verifier key %q: %v", key, err)
	}
	u, _ := url.Parse(s.URL + "/log/")
	fetcher, err := client.NewHTTPFetcher(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	leaves := func(bundle []byte) ([][]byte, error) {
		var eb api.EntryBundle
		if err := eb.UnmarshalText(bundle); err != nil {
			return nil, err
		}
		out := make([][]byte, 0, len(eb.Entries))
		for _, e := range eb.Entries {
			out = append(out, rfc6962.DefaultHasher.HashLeaf(e))
		}
		return out, nil
	}
	// Wait until a checkpoint covers the reads, then check the whole log.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.Do(t, et.Req{Path: "/log/checkpoint"})
		lines := strings.Split(string(r.Body), "\n")
		if len(lines) > 1 {
			if n, err := strconv.Atoi(lines[1]); err == nil && n >= 301 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoint never reached 301 entries: %s", r.Body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := fsck.New(v.Name(), v, fetcher, leaves, fsck.Opts{N: 2}).Check(context.Background()); err != nil {
		t.Fatalf("tessera fsck of the running server's log: %v", err)
	}
}

func TestDetectionContainsCanaryReader(t *testing.T) {
	f := et.NewFixture(t)
	out, errOut, code := et.Run(t, "", "canary", "seed", "--data", f.Data, "--per-site", "1", "--list")
	if code != 0 {
		t.Fatalf("canary seed: %d %s", code, errOut)
	}
	canary := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) == 2 && fields[1] == "site:store-1" {
			canary = fields[0]
		}
	}
	if canary == "" {
		t.Fatalf("no canary at store-1 in:\n%s", out)
	}
	s := et.Start(t, f.Data)
	// The clerk opens a ticket for the canary (a made-up purpose: nobody
	// real is behind a canary) and reads it.
	tk := openTicket(t, s, et.TokClerk1, canary)
	if r := s.Do(t, et.Req{Path: "/v1/customers/" + canary, Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Fatalf("canary read: %d %s", r.Status, r.Body)
	}
	var alert map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for alert == nil || alert["action"] == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no contained alert on emp-1 after 10s: %v", alert)
		}
		time.Sleep(100 * time.Millisecond)
		r := s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity})
		for _, a := range r.JSON(t)["alerts"].([]any) {
			if m := a.(map[string]any); m["actor"] == "emp-1" {
				alert = m
			}
		}
	}
	if alert["action"] != "suspended" || alert["kind"] != "canary" || alert["actor_status"] != "suspended" {
		t.Errorf("alert %v: want a canary alert with the suspension shown", alert)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1}); r.Status != 423 {
		t.Errorf("suspended clerk: %d %s", r.Status, r.Body)
	}
	// The containment is in the audit log, by the detectors.
	found := false
	for i := uint64(0); i < 20 && !found; i++ {
		r := s.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries/%d", i), Token: et.TokAuditor})
		if r.Status != 200 {
			continue
		}
		ev := r.JSON(t)["event"].(map[string]any)
		found = ev["action"] == "principal.suspend" && ev["actor"] == "custos:detect" && ev["target"] == "emp-1"
	}
	if !found {
		t.Error("no principal.suspend by custos:detect in the audit log")
	}
}
