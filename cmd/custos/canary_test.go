package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custos-dev/custos/internal/canary/canarytest"
)

// TestCanarySeedShape checks that canaries look like the real customers
// around them (id pattern and range, name, phone and account shapes), are
// sealed and indexed like them, are marked with their scope and homed at a
// site of it, and collide with no real customer — here with no audit log
// yet, the usual moment to seed.
func TestCanarySeedShape(t *testing.T) {
	dir := t.TempDir()
	cp, pp := filepath.Join(dir, "c.csv"), filepath.Join(dir, "p.csv")
	os.WriteFile(cp, []byte(canarytest.CustomersCSV(150)), 0o600)
	os.WriteFile(pp, []byte(canarytest.PrincipalsCSV), 0o600)
	if code, _, errS := runCmd(t, "import", "--data", dir, "--customers", cp, "--principals", pp); code != 0 {
		t.Fatal(errS)
	}
	code, out, errS := runCmd(t, "canary", "seed", "--data", dir, "--per-org", "3", "--per-site", "2", "--list")
	if code != 0 {
		t.Fatalf("seed: %s", errS)
	}
	// Orgs dist-1 and call-1 (not hq): 3 each; sites store-1, store-9, cc-1: 2 each.
	if !strings.Contains(out, "seeded 12 canary records: 6 in partner orgs, 6 at sites") {
		t.Fatalf("output: %s", out)
	}
	ctx := context.Background()
	st, v := openData(t, dir)
	if n, _ := st.CustomerCount(ctx); n != 162 {
		t.Errorf("customers = %d, want 150 real + 12 canaries", n)
	}
	var (
		idRe      = regexp.MustCompile(`^c-\d{7}$`)
		nameRe    = regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][a-z]+$`)
		phoneRe   = regexp.MustCompile(`^\+861700\d{7}$`)
		accountRe = regexp.MustCompile(`^[a-z]+\.[a-z]+\d+@example\.com$`)
		siteOf    = map[string][]string{"org:dist-1": {"store-1", "store-9"}, "org:call-1": {"cc-1"}, "site:store-1": {"store-1"}, "site:store-9": {"store-9"}, "site:cc-1": {"cc-1"}}
		regionOf  = map[string]string{"store-1": "GD", "store-9": "BJ", "cc-1": "SH"}
	)
	lines := regexp.MustCompile(`(?m)^(\S+)\t(\S+)$`).FindAllStringSubmatch(out, -1)
	if len(lines) != 12 {
		t.Fatalf("--list printed %d canaries", len(lines))
	}
	for _, l := range lines {
		id, scope := l[1], l[2]
		c, err := st.Customer(ctx, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		name, _ := v.Unseal(c, "name")
		phone, _ := v.Unseal(c, "phone")
		account, _ := v.Unseal(c, "account")
		if !c.Canary || c.Scope != scope {
			t.Errorf("%s: canary %v scope %q, want %q", id, c.Canary, c.Scope, scope)
		}
		if !idRe.MatchString(id) || id <= "c-0000150" || id > "c-0000200" {
			t.Errorf("id %q does not follow the real ids", id)
		}
		if !nameRe.MatchString(name) || !phoneRe.MatchString(phone) || !accountRe.MatchString(account) {
			t.Errorf("%s: shape differs from real customers: %q %q %q", id, name, phone, account)
		}
		if !strings.Contains(strings.Join(siteOf[scope], " "), c.Site) || c.Site == "" || c.Region != regionOf[c.Site] {
			t.Errorf("%s (%s): homed at %q/%q", id, scope, c.Site, c.Region)
		}
		// Indexed like a real customer: found by its phone and account.
		if got, err := st.CustomerByPhone(ctx, v.BlindIndex("phone", phone)); err != nil || got.ID != id {
			t.Errorf("%s: not found by phone: %v", id, err)
		}
		if got, err := st.CustomerByAccount(ctx, v.BlindIndex("account", account)); err != nil || got.ID != id {
			t.Errorf("%s: not found by account: %v", id, err)
		}
	}
}
