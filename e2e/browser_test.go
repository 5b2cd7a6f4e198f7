// Browser tests of the dashboard and the customer's page (issue 7): the real
// binary serves the pages, Debian's headless Chromium drives them through
// the DevTools protocol (chromedp). Screenshots go to artifacts/screenshots.
//
// Under CI=true a missing Chromium fails the tests (.ci/chromium.sh
// installs it); elsewhere they skip.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"

	et "github.com/custos-dev/custos/internal/e2etest"
	"github.com/custos-dev/custos/web"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium with one tab, recording the page's
// console messages.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
}

func findChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if p := os.Getenv("CUSTOS_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but Chromium is missing at %s: run .ci/chromium.sh (apt-get install chromium)", path)
		}
		t.Skipf("Chromium not found at %s; install Debian's chromium (bash .ci/chromium.sh) to run the browser tests", path)
	}
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	return path
}

// newBrowser starts a headless Chromium with a fresh profile and a window
// of w×h CSS pixels.
func newBrowser(t *testing.T, w, h int) *browser {
	t.Helper()
	path := findChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatalf("start chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m)
			b.mu.Unlock()
		}
	}()
	b.do(chromedp.EmulateViewport(int64(w), int64(h)))
	return b
}

// do runs actions with a timeout; on failure it saves a screenshot and
// fails the test.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("FAILED-" + sanitizeName(b.t.Name()))
		b.t.Fatalf("browser: %v\nconsole:\n%s", err, b.consoleDump())
	}
}

// waitFor polls a JavaScript expression until it is truthy.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(25*time.Second))); err != nil {
		b.shot("FAILED-" + sanitizeName(b.t.Name()))
		b.t.Fatalf("waiting for %s: %v\nconsole:\n%s", what, err, b.consoleDump())
	}
}

// eval evaluates a JavaScript expression and decodes its value.
func evalAs[T any](b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	if err != nil {
		b.t.Fatalf("evaluate %q: %v", expr, err)
	}
	return v
}

var nameRe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

func sanitizeName(s string) string { return nameRe.ReplaceAllString(s, "_") }

// shot saves a full-page PNG as artifacts/screenshots/<name>.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	dir := filepath.Join(et.RepoRoot(), "artifacts", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Errorf("screenshot dir: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	b.t.Logf("screenshot %s", p)
}

func (b *browser) consoleDump() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var sb strings.Builder
	for _, m := range b.msgs {
		fmt.Fprintf(&sb, "  [%s/%s] %s (%s:%d)\n", m.Type, m.Source, m.Text, m.URL, m.Line+1)
	}
	return sb.String()
}

// assertNoConsoleErrors fails on any console error, uncaught exception or
// browser-log error, except failed loads of the URLs in allowed (requests
// the test made fail on purpose, whose error the page shows).
func (b *browser) assertNoConsoleErrors(allowed ...string) {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last messages arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
			continue
		}
		ok := false
		for _, a := range allowed {
			if m.Source == "network" && strings.Contains(m.URL, a) {
				ok = true
			}
		}
		if ok {
			b.t.Logf("expected failed request: %s (%s)", m.Text, m.URL)
			continue
		}
		b.t.Errorf("console %s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestBrowserAnalyst: an analyst signs in, sees an alert, contains the
// person and reinstates them, looks at people, the audit log with proofs
// checked in the page, runs a trace and reads the policies; then signs out.
func TestBrowserAnalyst(t *testing.T) {
	findChromium(t)
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)

	// Some activity: reads allowed and denied, and a break-glass request,
	// which raises an alert on the clerk.
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	for i := 0; i < 3; i++ {
		if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
			t.Fatalf("read: %d %s", r.Status, r.Body)
		}
	}
	s.Do(t, et.Req{Path: "/v1/customers/c-0003", Token: et.TokClerk1})
	if r := s.Do(t, et.Req{Path: "/v1/breakglass", Token: et.TokClerk1,
		Body: map[string]string{"customer": "c-0003", "reason": "customer locked out, on the phone"}}); r.Status != 201 {
		t.Fatalf("break-glass request: %d %s", r.Status, r.Body)
	}

	b := newBrowser(t, 1280, 900)
	b.do(chromedp.Navigate(s.URL + "/"))
	b.waitFor("the sign-in form", `!document.getElementById("signin").hidden && document.querySelector("input[name=token]")`)
	b.shot("dashboard-signin")

	// A wrong token is refused on the page, not in the URL.
	b.do(chromedp.SendKeys(chromedp.CSS("input[name=token]"), "not-a-token-000000000000"),
		chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("the refusal", `document.querySelector("#signin-msg .msg-error")`)

	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("input[name=token]").value = ""`),
		chromedp.SendKeys(chromedp.CSS("input[name=token]"), et.TokSecurity),
		chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("the dashboard", `!document.getElementById("app").hidden`)
	if u := evalAs[string](b, `location.href`); strings.Contains(u, "tok-") {
		t.Errorf("token in the URL: %s", u)
	}

	// The session cookie: HttpOnly, SameSite=Strict, not readable by script.
	cookies, err := chromedp.Call(b.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{s.URL}})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cookies.Cookies {
		if c.Name == "custos_session" {
			found = true
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/" {
				t.Errorf("session cookie: HttpOnly=%v SameSite=%v Path=%q", c.HTTPOnly, c.SameSite, c.Path)
			}
		}
	}
	if !found {
		t.Errorf("no custos_session cookie after sign-in")
	}
	if dc := evalAs[string](b, `document.cookie`); strings.Contains(dc, "custos_session") {
		t.Errorf("session cookie readable by script: %q", dc)
	}

	// Alerts: the break-glass alert on emp-1, with its reason and score.
	b.waitFor("the alert on emp-1", `document.querySelector('.alert-item[data-actor="emp-1"] button[data-op="suspend"]')`)
	text := evalAs[string](b, `document.getElementById("alerts-body").innerText`)
	if !strings.Contains(text, "break-glass requested") || !strings.Contains(text, "records") {
		t.Errorf("alert text lacks reason or facts:\n%s", text)
	}
	b.shot("dashboard-alerts")

	// Contain with one click; the gateway refuses emp-1 at once.
	b.do(chromedp.Click(chromedp.CSS(`.alert-item[data-actor="emp-1"] button[data-op="suspend"]`)))
	b.waitFor("containment shown", `document.querySelector('.alert-item[data-actor="emp-1"] button[data-op="reinstate"]') && document.querySelector("#alerts-msg .msg-ok")`)
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 423 {
		t.Errorf("after containment a read by emp-1 gives %d, want 423: %s", r.Status, r.Body)
	}
	b.shot("dashboard-contained")

	// Reinstate.
	b.do(chromedp.Click(chromedp.CSS(`.alert-item[data-actor="emp-1"] button[data-op="reinstate"]`)))
	b.waitFor("reinstatement shown", `document.querySelector('.alert-item[data-actor="emp-1"] button[data-op="suspend"]')`)
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Errorf("after reinstatement a read by emp-1 gives %d, want 200: %s", r.Status, r.Body)
	}

	// People by risk and a timeline (or a clean "unavailable"). The
	// detectors follow the audit log a moment behind: wait until they have
	// seen emp-1's reads.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		r := s.Do(t, et.Req{Path: "/v1/people/emp-1", Token: et.TokSecurity})
		if r.Status == 200 && strings.Contains(string(r.Body), `"reads":`) {
			break
		}
	}
	b.do(chromedp.Navigate(s.URL + "/#people/emp-1"))
	b.waitFor("the people page", `!document.getElementById("view-people").hidden && !/Loading/.test(document.getElementById("person-body").innerText) && !/Loading/.test(document.getElementById("people-body").innerText)`)
	if evalAs[bool](b, `!!document.querySelector("#person-body svg.chart")`) {
		if n := evalAs[int](b, `document.querySelectorAll("#person-body svg.chart circle").length`); n < 1 {
			t.Errorf("timeline chart has no points")
		}
	} else {
		t.Logf("no timeline for emp-1: %s", evalAs[string](b, `document.getElementById("person-body").innerText`))
	}
	b.shot("dashboard-people")

	// The audit log, every proof checked by the page.
	b.do(chromedp.Navigate(s.URL + "/#audit"))
	b.waitFor("audit rows", `document.querySelectorAll("#audit-body tr[data-index]").length > 0`)
	b.waitFor("all proofs checked", `[...document.querySelectorAll("#audit-body td.proof")].every(c => c.dataset.verified || /Pending/.test(c.innerText))`)
	verified := evalAs[int](b, `document.querySelectorAll('#audit-body td.proof[data-verified="true"]').length`)
	failed := evalAs[int](b, `document.querySelectorAll('#audit-body td.proof[data-verified="false"]').length`)
	if verified == 0 || failed != 0 {
		t.Errorf("audit page: %d verified, %d failed", verified, failed)
	}
	b.waitFor("checkpoint signature checked", `/Verified \(Ed25519\)/.test(document.getElementById("cp-sig").innerText)`)
	b.shot("dashboard-audit")

	// Trace: upload a leaked list.
	leak := et.WriteFile(t, f.Dir, "leak.csv", "phone,name\n+86 138 0013 8000,Li Wei\n13700137000,Wang Fang\n")
	direct := s.Do(t, et.Req{Path: "/v1/trace", Token: et.TokSecurity, Body: "phone\n+8613800138000\n", Header: map[string]string{"Content-Type": "text/csv"}})
	b.do(chromedp.Navigate(s.URL+"/#trace"),
		chromedp.WaitVisible(chromedp.ID("leak")),
		chromedp.SetUploadFiles(chromedp.ID("leak"), []string{leak}),
		chromedp.Click(chromedp.ID("trace-run")))
	var allowed []string
	if direct.Status == 503 {
		// Trace not wired into this server: the page must say so cleanly.
		b.waitFor("the trace error", `document.querySelector("#trace-msg .msg-error")`)
		if msg := evalAs[string](b, `document.querySelector("#trace-msg").innerText`); !strings.Contains(msg, "not available") {
			t.Errorf("trace error message: %q", msg)
		}
		allowed = append(allowed, "/v1/trace")
		t.Logf("trace is not wired on this server (503); the page shows the error")
	} else {
		b.waitFor("the trace report", `document.querySelector('#trace-body [data-stat="matched"]')`)
		rep := evalAs[string](b, `document.getElementById("trace-body").innerText`)
		if !strings.Contains(rep, "customers matched") || !strings.Contains(rep, "Suspects") || !strings.Contains(rep, "emp-1") {
			t.Errorf("trace report:\n%s", rep)
		}
		if evalAs[int](b, `document.querySelectorAll("#trace-suspects tr[data-actor]").length`) == 0 {
			t.Errorf("trace: no suspects listed")
		}
	}
	b.shot("dashboard-trace")

	// Policies and quotas.
	b.do(chromedp.Navigate(s.URL + "/#policies"))
	b.waitFor("policies", `document.querySelector("#policies-body h2")`)
	pol := evalAs[string](b, `document.getElementById("policies-body").innerText`)
	if !strings.Contains(strings.ToLower(pol), "store clerk") {
		t.Errorf("policies page lacks the store clerk quota:\n%s", pol)
	}
	b.shot("dashboard-policies")

	// Phone width.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(s.URL+"/#alerts"))
	b.waitFor("alerts at phone width", `document.querySelector('.alert-item[data-actor="emp-1"]')`)
	if w := evalAs[int](b, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("alerts page is %dpx wide at a 390px viewport", w)
	}
	b.shot("dashboard-alerts-phone")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Sign out: the cookie is gone and the sign-in form is back.
	b.do(chromedp.Click(chromedp.ID("signout")))
	b.waitFor("the sign-in form after sign-out", `!document.getElementById("signin").hidden`)
	b.do(chromedp.Reload())
	b.waitFor("still signed out after reload", `!document.getElementById("signin").hidden`)

	b.assertNoConsoleErrors(append(allowed, "/session")...)
}

// TestBrowserCustomer: a customer signs in at /my with phone and code, sees
// every access to their record (and nothing about anyone else) with each
// entry verified by the page, and flags one, which raises an alert.
func TestBrowserCustomer(t *testing.T) {
	findChromium(t)
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)

	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 200 {
		t.Fatalf("read: %d %s", r.Status, r.Body)
	}
	s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk2, Purpose: "ticket:" + tk}) // denied: other site
	s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokAgent})                           // denied: no purpose
	tk2 := openTicket(t, s, et.TokClerk2, "c-0002")
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + tk2}) // someone else's record

	b := newBrowser(t, 1100, 900)
	b.do(chromedp.Navigate(s.URL + "/my"))
	b.waitFor("the phone form", `!document.getElementById("step-phone").hidden`)
	b.shot("my-signin")
	b.do(chromedp.SendKeys(chromedp.ID("phone"), "+86 138 0013 8000"),
		chromedp.Click(chromedp.ID("phone-btn")))
	b.waitFor("the code form", `!document.getElementById("step-code").hidden`)
	code := outboxCode(t, f.Data, "+8613800138000")
	b.do(chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("code-btn")))
	b.waitFor("the history", `!document.getElementById("history").hidden && document.querySelectorAll("li.access").length > 0`)
	b.waitFor("every entry checked", `[...document.querySelectorAll("li.access")].every(li => li.dataset.verified)`)

	n := evalAs[int](b, `document.querySelectorAll("li.access").length`)
	if n != 3 {
		t.Errorf("%d accesses shown, want 3 (one allowed read, two denied)", n)
	}
	if v := evalAs[int](b, `document.querySelectorAll('li.access[data-verified="true"]').length`); v != n {
		t.Errorf("%d of %d entries verified:\n%s", v, n, evalAs[string](b, `document.getElementById("accesses").innerText`))
	}
	if d := evalAs[int](b, `document.querySelectorAll('li.access[data-decision="deny"]').length`); d != 2 {
		t.Errorf("%d denied accesses shown, want 2", d)
	}
	page := evalAs[string](b, `document.body.innerText`)
	for _, want := range []string{"dist-1", "store clerk", "store-1", "Allowed", "Denied", "Verified", "All 3 verified"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, other := range []string{"c-0002", "Zhang", "13900139000", tk2} {
		if strings.Contains(page, other) {
			t.Errorf("page shows %q, which is about another customer", other)
		}
	}
	if tok := evalAs[string](b, `location.href`); strings.Contains(tok, "cst_") {
		t.Errorf("token in URL: %s", tok)
	}
	b.shot("my-history")

	// The page's checker refuses tampered proofs: another event, another
	// position, another root, a forged signature, another customer.
	checks := evalAs[map[string]any](b, `(async () => {
		const v = await import("/assets/verify.js");
		const s = JSON.parse(sessionStorage.getItem("custos.subject"));
		const r = await fetch("/v1/subjects/" + s.customer + "/accesses", { headers: { Authorization: "Bearer " + s.token } }).then((r) => r.json());
		const key = await v.logKey();
		const p = r.accesses.find((a) => a.decision === "allow").proof;
		const good = await v.verifyEntry(p, key, { customer: s.customer });
		const evb = atob(p.event_bytes).replace('"decision":"allow"', '"decision":"deny"');
		const lines = p.checkpoint.split("\n");
		const zeroRoot = lines.slice(); zeroRoot[2] = btoa(String.fromCharCode(...new Uint8Array(32)));
		const i = p.checkpoint.indexOf("\n\n") + 2, sigLine = p.checkpoint.slice(i);
		const sp = sigLine.lastIndexOf(" ") + 6;
		const forged = p.checkpoint.slice(0, i) + sigLine.slice(0, sp) + (sigLine[sp] === "A" ? "B" : "A") + sigLine.slice(sp + 1);
		return {
			good: good.ok, signature: good.signature.status,
			otherEvent: (await v.verifyEntry({ ...p, event_bytes: btoa(evb), event: JSON.parse(evb) }, key)).ok,
			otherIndex: (await v.verifyEntry({ ...p, index: p.index ^ 1 }, key)).ok,
			otherRoot: (await v.verifyEntry({ ...p, checkpoint: zeroRoot.join("\n") }, key)).ok,
			forgedSignature: (await v.verifyEntry({ ...p, checkpoint: forged }, key)).ok,
			otherCustomer: (await v.verifyEntry(p, key, { customer: "c-0002" })).ok,
		};
	})()`, chromedp.EvalAwaitPromise)
	if checks["good"] != true || checks["signature"] != "verified" {
		t.Errorf("untampered proof: %v", checks)
	}
	for _, k := range []string{"otherEvent", "otherIndex", "otherRoot", "forgedSignature", "otherCustomer"} {
		if checks[k] != false {
			t.Errorf("tampered proof (%s) accepted: %v", k, checks)
		}
	}

	// "I was not there": raises an alert on the person who read.
	b.do(chromedp.Click(chromedp.CSS(`li.access[data-decision="allow"] button[data-index]`)))
	b.waitFor("the report confirmation", `/Reported to the security team/.test(document.querySelector('li.access[data-decision="allow"]').innerText)`)
	r := s.Do(t, et.Req{Path: "/v1/alerts", Token: et.TokSecurity})
	var alerts struct {
		Alerts []struct {
			Actor, Kind string
		} `json:"alerts"`
	}
	json.Unmarshal(r.Body, &alerts)
	raised := false
	for _, a := range alerts.Alerts {
		if a.Kind == "objection" && a.Actor == "emp-1" {
			raised = true
		}
	}
	if !raised {
		t.Errorf("no objection alert on emp-1: %s", r.Body)
	}

	// The security team sees the customer's objection on the dashboard.
	b.do(chromedp.Navigate(s.URL + "/"))
	b.waitFor("the sign-in form", `!document.getElementById("signin").hidden`)
	b.do(chromedp.SendKeys(chromedp.CSS("input[name=token]"), et.TokSecurity), chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("the objection alert", `[...document.querySelectorAll('.alert-item[data-actor="emp-1"]')].some(li => /objection/.test(li.innerText) && /I was not there/.test(li.innerText))`)
	b.shot("dashboard-objection")
	b.do(chromedp.Click(chromedp.ID("signout")))
	b.waitFor("signed out of the dashboard", `!document.getElementById("signin").hidden`)

	b.do(chromedp.Navigate(s.URL+"/my"), chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	b.waitFor("history at phone width", `[...document.querySelectorAll("li.access")].length > 0 && [...document.querySelectorAll("li.access")].every(li => li.dataset.verified)`)
	if w := evalAs[int](b, `document.documentElement.scrollWidth`); w > 400 {
		t.Errorf("/my is %dpx wide at a 390px viewport", w)
	}
	b.shot("my-history-phone")

	b.do(chromedp.Click(chromedp.ID("signout")))
	b.waitFor("signed out", `!document.getElementById("step-phone").hidden && !sessionStorage.getItem("custos.subject")`)
	b.assertNoConsoleErrors()
}

// TestDashboardSession: the dashboard's sign-in over plain HTTP. The cookie
// is HttpOnly and SameSite=Strict, the token never rides in a URL, sign-in
// from another site is refused, and a state-changing request that carries
// only the cookie must also prove it came from the dashboard (CSRF).
func TestDashboardSession(t *testing.T) {
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	form := func(tok string) string { return "token=" + tok }
	formHdr := map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Custos-CSRF": "1"}

	cases := []struct {
		name   string
		req    et.Req
		status int
		code   string
	}{
		{"wrong token", et.Req{Method: "POST", Path: "/session", Body: form("nope-0000000000000000"), Header: formHdr}, 401, "unauthenticated"},
		{"no token", et.Req{Method: "POST", Path: "/session", Body: "", Header: formHdr}, 400, "invalid_request"},
		{"token in the URL", et.Req{Method: "POST", Path: "/session?token=" + et.TokSecurity, Body: form(et.TokSecurity), Header: formHdr}, 400, "invalid_request"},
		{"sign-in from another site", et.Req{Method: "POST", Path: "/session", Body: form(et.TokSecurity),
			Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example"}}, 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, tc.req)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Errorf("%d %s, want %d %s", r.Status, r.Body, tc.status, tc.code)
			}
			if len(r.Header.Values("Set-Cookie")) != 0 {
				t.Errorf("refused sign-in set a cookie: %v", r.Header.Values("Set-Cookie"))
			}
		})
	}

	r := s.Do(t, et.Req{Method: "POST", Path: "/session", Body: form(et.TokSecurity), Header: formHdr})
	if r.Status != 200 || r.JSON(t)["role"] != "security_analyst" {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	sc := r.Header.Get("Set-Cookie")
	for _, want := range []string{"custos_session=", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(sc, want) {
			t.Errorf("Set-Cookie %q lacks %s", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Secure cookie over plain HTTP would never come back: %q", sc)
	}
	cookie, _, _ := strings.Cut(sc, ";")
	if strings.Contains(cookie, et.TokSecurity) {
		t.Errorf("the session cookie holds the API token: %q", sc)
	}

	if r := s.Do(t, et.Req{Path: "/session", Header: map[string]string{"Cookie": cookie}}); r.JSON(t)["signed_in"] != true {
		t.Errorf("GET /session with the cookie: %s", r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/session"}); r.Status != 200 || r.JSON(t)["signed_in"] != false {
		t.Errorf("GET /session without a cookie: %d %s", r.Status, r.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/alerts", Header: map[string]string{"Cookie": cookie}}); r.Status != 200 {
		t.Errorf("GET /v1/alerts with the cookie: %d %s", r.Status, r.Body)
	}

	// CSRF: another site's page makes the browser post with the cookie.
	forged := s.Do(t, et.Req{Method: "POST", Path: "/v1/principals/emp-1/suspend",
		Header: map[string]string{"Cookie": cookie, "Origin": "http://evil.example", "Content-Type": "text/plain"}})
	if forged.Status != 403 {
		t.Errorf("cross-site POST with the session cookie: %d %s, want 403 (is httpapi.CSRFGuard wrapped around the API?)", forged.Status, forged.Body)
	}
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1}); r.ErrorCode() == "principal_suspended" {
		t.Errorf("the forged request suspended emp-1")
	}
	// The dashboard's own request passes.
	own := s.Do(t, et.Req{Method: "POST", Path: "/v1/principals/emp-1/suspend", Body: map[string]string{"reason": "test"},
		Header: map[string]string{"Cookie": cookie, "Origin": s.URL, "X-Custos-CSRF": "1"}})
	if own.Status != 200 {
		t.Errorf("the dashboard's POST: %d %s", own.Status, own.Body)
	}
	// Sign-out clears the cookie.
	out := s.Do(t, et.Req{Method: "POST", Path: "/session/logout", Header: map[string]string{"Cookie": cookie, "X-Custos-CSRF": "1"}})
	if out.Status != 200 || !strings.Contains(out.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("sign-out: %d %q", out.Status, out.Header.Get("Set-Cookie"))
	}
}

// TestDashboardEndpoints: the JSON the dashboard reads, gated by role.
func TestDashboardEndpoints(t *testing.T) {
	_, s := startAfterRead(t)
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk1})

	cases := []struct {
		name   string
		req    et.Req
		status int
		code   string
	}{
		{"people for security", et.Req{Path: "/v1/people", Token: et.TokSecurity}, 200, ""},
		{"people refused to a clerk", et.Req{Path: "/v1/people", Token: et.TokClerk1}, 403, "forbidden"},
		{"people without a token", et.Req{Path: "/v1/people"}, 401, "unauthenticated"},
		{"people, bad limit", et.Req{Path: "/v1/people?limit=0", Token: et.TokSecurity}, 400, "invalid_request"},
		{"unknown person", et.Req{Path: "/v1/people/emp-nobody", Token: et.TokSecurity}, 404, "not_found"},
		{"audit entries for the auditor", et.Req{Path: "/v1/audit/entries?limit=3", Token: et.TokAuditor}, 200, ""},
		{"audit entries refused to a clerk", et.Req{Path: "/v1/audit/entries", Token: et.TokClerk1}, 403, "forbidden"},
		{"audit entries, bad from", et.Req{Path: "/v1/audit/entries?from=x", Token: et.TokAuditor}, 400, "invalid_request"},
		{"audit entries, limit too big", et.Req{Path: "/v1/audit/entries?limit=1000", Token: et.TokAuditor}, 400, "invalid_request"},
		{"policies for the auditor", et.Req{Path: "/v1/policies", Token: et.TokAuditor}, 200, ""},
		{"policies refused to a clerk", et.Req{Path: "/v1/policies", Token: et.TokClerk1}, 403, "forbidden"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Do(t, tc.req)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Errorf("%d %s, want %d %q", r.Status, r.Body, tc.status, tc.code)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}

	// The audit listing: newest first, paged with from, each with a proof
	// against the checkpoint it names.
	var page struct {
		Size     uint64 `json:"size"`
		TreeSize uint64 `json:"tree_size"`
		Entries  []struct {
			Index   uint64   `json:"index"`
			Proof   []string `json:"proof"`
			Pending bool     `json:"pending"`
			Event   struct {
				Actor string `json:"actor"`
			} `json:"event"`
		} `json:"entries"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.Do(t, et.Req{Path: "/v1/audit/entries?limit=3", Token: et.TokAuditor})
		page.Entries = nil
		if err := json.Unmarshal(r.Body, &page); err != nil {
			t.Fatal(err)
		}
		if page.TreeSize == page.Size || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(page.Entries) != 3 || page.Entries[0].Index != page.Size-1 || page.Entries[2].Index != page.Size-3 {
		t.Fatalf("listing of size %d: %+v", page.Size, page.Entries)
	}
	for _, e := range page.Entries {
		if e.Pending || e.Event.Actor == "" {
			t.Errorf("entry %d: pending %v, actor %q (size %d, tree %d)", e.Index, e.Pending, e.Event.Actor, page.Size, page.TreeSize)
		}
	}
	r := s.Do(t, et.Req{Path: fmt.Sprintf("/v1/audit/entries?limit=2&from=%d", page.Entries[2].Index), Token: et.TokAuditor})
	var older struct {
		Entries []struct {
			Index uint64 `json:"index"`
		} `json:"entries"`
	}
	json.Unmarshal(r.Body, &older)
	if len(older.Entries) != 2 || older.Entries[0].Index != page.Entries[2].Index-1 {
		t.Errorf("older page: %s", r.Body)
	}

	var pol struct {
		Quotas []struct {
			Role    string `json:"role"`
			PerHour int    `json:"customers_per_hour"`
		} `json:"quotas"`
	}
	json.Unmarshal(s.Do(t, et.Req{Path: "/v1/policies", Token: et.TokAuditor}).Body, &pol)
	clerk := false
	for _, q := range pol.Quotas {
		clerk = clerk || (q.Role == "store_clerk" && q.PerHour > 0)
	}
	if !clerk {
		t.Errorf("policies lack the store clerk quota: %+v", pol)
	}
}

// TestBrowserInclusionProofs checks the page's RFC 6962 verifier against the
// reference Merkle tree of transparency-dev/merkle: every index of every
// tree size up to 70 leads to the right root, and the proof of one index
// never verifies at another.
func TestBrowserInclusionProofs(t *testing.T) {
	findChromium(t)
	srv := httptest.NewServer(web.Handler(web.Options{}))
	defer srv.Close()
	tree := testonly.New(rfc6962.DefaultHasher)
	type vector struct {
		Index int      `json:"i"`
		Size  int      `json:"n"`
		Leaf  []byte   `json:"leaf"`
		Proof [][]byte `json:"proof"`
		Root  []byte   `json:"root"`
	}
	var vs []vector
	for n := 1; n <= 70; n++ {
		tree.AppendData([]byte{byte(n), 'x'})
		for i := 0; i < n; i++ {
			p, err := tree.InclusionProof(uint64(i), uint64(n))
			if err != nil {
				t.Fatal(err)
			}
			vs = append(vs, vector{i, n, tree.LeafHash(uint64(i)), p, tree.HashAt(uint64(n))})
		}
	}
	js, err := json.Marshal(vs)
	if err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, 800, 600)
	b.do(chromedp.Navigate(srv.URL + "/my"))
	res := evalAs[map[string]int](b, `(async () => {
		const v = await import("/assets/verify.js");
		const vs = `+string(js)+`;
		const eq = (a, b) => a.length === b.length && a.every((x, k) => x === b[k]);
		let ok = 0, wrong = 0, moved = 0;
		for (const c of vs) {
			const root = await v.rootFromInclusionProof(c.i, c.n, v.b64(c.leaf), c.proof.map(v.b64));
			if (eq(root, v.b64(c.root))) ok++; else wrong++;
			if (c.n > 1) {
				const j = (c.i + 1) % c.n;
				let r2 = null;
				try { r2 = await v.rootFromInclusionProof(j, c.n, v.b64(c.leaf), c.proof.map(v.b64)); } catch (e) { /* shape refused */ }
				if (r2 && eq(r2, v.b64(c.root))) moved++;
			}
		}
		return { ok, wrong, moved, total: vs.length };
	})()`, chromedp.EvalAwaitPromise)
	if res["total"] != len(vs) || res["ok"] != len(vs) || res["wrong"] != 0 {
		t.Errorf("inclusion proofs: %v of %d", res, len(vs))
	}
	if res["moved"] != 0 {
		t.Errorf("%d proofs verified at another index", res["moved"])
	}
	b.assertNoConsoleErrors()
}

// TestBrowserInvestigation: an analyst opens a case from an alert, assigns
// it, writes a note, closes it as confirmed, finds the person's history
// through the audit search's filters and the links on each entry.
func TestBrowserInvestigation(t *testing.T) {
	findChromium(t)
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	for range 3 {
		s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	}
	t2 := openTicket(t, s, et.TokClerk2, "c-0002")
	s.Do(t, et.Req{Path: "/v1/customers/c-0002", Token: et.TokClerk2, Purpose: "ticket:" + t2})
	if r := s.Do(t, et.Req{Path: "/v1/breakglass", Token: et.TokClerk1,
		Body: map[string]string{"customer": "c-0003", "reason": "customer locked out"}}); r.Status != 201 {
		t.Fatalf("break-glass request: %d %s", r.Status, r.Body)
	}

	b := newBrowser(t, 1280, 900)
	b.do(chromedp.Navigate(s.URL + "/"))
	b.waitFor("the sign-in form", `document.querySelector("input[name=token]")`)
	b.do(chromedp.SendKeys(chromedp.CSS("input[name=token]"), et.TokSecurity), chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("the alert on emp-1", `document.querySelector('.alert-item[data-actor="emp-1"] button[data-alert]')`)

	// Alert → case.
	b.do(chromedp.Click(chromedp.CSS(`.alert-item[data-actor="emp-1"] button[data-alert]`)))
	b.waitFor("the case page", `location.hash.startsWith("#cases/") && document.getElementById("case-form")`)
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("case-assignee").value = "sec-2"`),
		chromedp.SendKeys(chromedp.ID("case-note"), "Break-glass without a ticket; asked the store manager."),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("case-status").value = "investigating"`),
		chromedp.Click(chromedp.CSS(`#case-form button[type=submit]`)))
	b.waitFor("the note saved", `document.querySelector("#case-notes li") && document.querySelector("#case-msg .msg-ok")`)
	b.shot("dashboard-case")
	b.do(chromedp.Click(chromedp.ID("case-confirm")))
	b.waitFor("the case closed", `document.querySelector("#case-msg .msg-ok") && !document.getElementById("case-confirm")`)
	text := evalAs[string](b, `document.getElementById("view-cases").innerText`)
	for _, want := range []string{"emp-1", "closed", "confirmed", "sec-2", "asked the store manager", "Download the evidence bundle"} {
		if !strings.Contains(text, want) {
			t.Errorf("case view lacks %q:\n%s", want, text)
		}
	}
	b.shot("dashboard-cases")
	if r := s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk}); r.Status != 423 {
		t.Errorf("confirmed from the page, yet emp-1 reads: %d", r.Status)
	}
	// The evidence link serves a bundle to the signed-in analyst.
	href := evalAs[string](b, `document.getElementById("case-evidence").href`)
	if !strings.HasSuffix(href, "/evidence") {
		t.Errorf("evidence link %q", href)
	}

	// Audit search: the person's link from the case, then a filter by hand.
	b.do(chromedp.Click(chromedp.CSS(`#case-body a[href^="#audit/"]`)))
	b.waitFor("emp-1's history", `document.querySelectorAll("#audit-results tbody tr").length >= 5`)
	actors := evalAs[[]string](b, `[...document.querySelectorAll("#audit-results tbody tr td:nth-child(3) a")].map((a) => a.textContent)`)
	for _, a := range actors {
		if a != "emp-1" {
			t.Errorf("emp-1's history lists %q", a)
		}
	}
	b.shot("dashboard-audit-search")
	b.do(chromedp.Click(chromedp.ID("audit-clear")))
	b.waitFor("the plain log", `location.hash === "#audit"`)
	b.do(chromedp.SendKeys(chromedp.ID("f-customer"), "c-0002"), chromedp.Click(chromedp.CSS(`#audit-search button[type=submit]`)))
	b.waitFor("c-0002's history", `document.querySelectorAll("#audit-results tbody tr").length >= 1 && location.hash.includes("customer=c-0002")`)
	custs := evalAs[[]string](b, `[...document.querySelectorAll("#audit-results tbody tr td:nth-child(5)")].map((td) => td.textContent)`)
	for _, c := range custs {
		if c != "c-0002" {
			t.Errorf("c-0002's history lists %q", c)
		}
	}
	b.assertNoConsoleErrors()
}

// TestBrowserCustomerIncident: a customer whose record was in a leaked list
// signs in at /my and sees the incident: what leaked, when, and which
// company and store had opened the record before, never a person.
func TestBrowserCustomerIncident(t *testing.T) {
	findChromium(t)
	f, s := startAfterRead(t)
	if r := s.Do(t, et.Req{Path: "/v1/incidents", Token: et.TokSecurity, Body: map[string]any{
		"title": "Customer list offered for sale", "found_at": time.Now().Add(time.Minute).UTC().Format(time.RFC3339),
		"fields": []string{"name", "phone"}, "leak": "phone\n+8613800138000\n",
		"notice": "Your name and phone number were in a list offered for sale online. We are sorry."}}); r.Status != 201 {
		t.Fatalf("incident: %d %s", r.Status, r.Body)
	}
	b := newBrowser(t, 1100, 900)
	b.do(chromedp.Navigate(s.URL + "/my"))
	b.waitFor("the phone form", `!document.getElementById("step-phone").hidden`)
	b.do(chromedp.SendKeys(chromedp.ID("phone"), "+8613800138000"), chromedp.Click(chromedp.ID("phone-btn")))
	b.waitFor("the code form", `!document.getElementById("step-code").hidden`)
	b.do(chromedp.SendKeys(chromedp.ID("code"), outboxCode(t, f.Data, "+8613800138000")), chromedp.Click(chromedp.ID("code-btn")))
	b.waitFor("the incident", `!document.getElementById("incidents").hidden && document.querySelector("li.incident .read-by li")`)
	text := evalAs[string](b, `document.getElementById("incidents").innerText`)
	for _, want := range []string{"Customer list offered for sale", "offered for sale online", "name, phone", "dist-1", "store clerk at store-1"} {
		if !strings.Contains(text, want) {
			t.Errorf("incident lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "emp-") {
		t.Errorf("the incident names a person:\n%s", text)
	}
	b.shot("my-incident")
	// The customer asks to be erased; the privacy team sees the request.
	b.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`), chromedp.Click(chromedp.ID("erase-btn")))
	b.waitFor("the request acknowledged", `document.querySelector("#erase-msg .msg-ok")`)
	if r := s.Do(t, et.Req{Method: "GET", Path: "/v1/erasure-requests", Token: et.TokPrivacy}); !strings.Contains(string(r.Body), "c-0001") {
		t.Errorf("the request did not reach the privacy team: %s", r.Body)
	}
	b.assertNoConsoleErrors()
}

// TestBrowserIncident: the privacy officer records an incident from a
// leaked file on the dashboard, follows the notices and opens the report.
func TestBrowserIncident(t *testing.T) {
	findChromium(t)
	f, s := startAfterRead(t)
	leak := filepath.Join(t.TempDir(), "leak.csv")
	os.WriteFile(leak, []byte("phone\n+8613800138000\n+8613700137000\n"), 0o600)

	b := newBrowser(t, 1280, 900)
	b.do(chromedp.Navigate(s.URL + "/"))
	b.waitFor("the sign-in form", `document.querySelector("input[name=token]")`)
	b.do(chromedp.SendKeys(chromedp.CSS("input[name=token]"), et.TokPrivacy), chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("the dashboard", `!document.getElementById("app").hidden`)
	b.do(chromedp.Navigate(s.URL + "/#incidents"))
	b.waitFor("the incidents view", `!document.getElementById("view-incidents").hidden && document.getElementById("incidents-body").textContent`)
	b.do(chromedp.Evaluate[chromedp.Void](`document.getElementById("new-incident").open = true`),
		chromedp.SendKeys(chromedp.ID("inc-title"), "Customer list on a forum"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("inc-found").value = "2026-11-01T09:00"`),
		chromedp.SetUploadFiles(chromedp.ID("inc-leak"), []string{leak}),
		chromedp.SendKeys(chromedp.ID("inc-notice"), "Your name and phone number were in a list found on a forum."),
		chromedp.Click(chromedp.ID("inc-submit")))
	b.waitFor("the incident", `location.hash.startsWith("#incidents/") && document.getElementById("incident-progress")`)
	id := strings.TrimPrefix(evalAs[string](b, `location.hash`), "#incidents/")
	waitNotified(t, s, id, 2)
	b.do(chromedp.Navigate(s.URL+"/#incidents"), chromedp.Navigate(s.URL+"/#incidents/"+id))
	b.waitFor("every customer told", `(() => { const p = document.querySelector("#incident-progress progress"); return p && p.value === 2 && p.max === 2 })()`)
	text := evalAs[string](b, `document.getElementById("view-incidents").innerText`)
	for _, want := range []string{"Customer list on a forum", "2 of 2 told", "name, phone", "Printable report"} {
		if !strings.Contains(text, want) {
			t.Errorf("incident view lacks %q:\n%s", want, text)
		}
	}
	b.shot("dashboard-incident")
	if n := outboxCount(t, f.Data, "+8613700137000", "found on a forum"); n != 1 {
		t.Errorf("c-0003 told %d times", n)
	}
	// A customer's request to be erased, carried out from the page.
	login := s.Do(t, et.Req{Path: "/v1/subjects/login", Body: map[string]string{"phone": "+8613700137000"}})
	own := s.Do(t, et.Req{Path: "/v1/subjects/login/" + login.JSON(t)["id"].(string) + "/confirm",
		Body: map[string]string{"code": outboxCode(t, f.Data, "+8613700137000")}}).JSON(t)["token"].(string)
	s.Do(t, et.Req{Path: "/v1/subjects/c-0003/erasure-request", Token: own, Body: "{}"})
	b.do(chromedp.Navigate(s.URL+"/#policies"), chromedp.Navigate(s.URL+"/#incidents/"+id))
	b.waitFor("the request", `document.querySelector('#erasures-body button[data-customer="c-0003"]')`)
	b.do(chromedp.Evaluate[chromedp.Void](`window.confirm = () => true`), chromedp.Click(chromedp.CSS(`#erasures-body button[data-customer="c-0003"]`)))
	b.waitFor("the erasure", `document.querySelector("#incidents-msg .msg-ok") && !document.querySelector('#erasures-body button[data-customer="c-0003"]')`)
	if r := s.Do(t, et.Req{Path: "/v1/customers/search", Token: et.TokClerk1, Body: map[string]string{"phone": "+8613700137000"}}); r.Status == 200 {
		t.Errorf("the erased customer is still found: %s", r.Body)
	}
	b.assertNoConsoleErrors()
}

// startAfterRead starts custos on a new fixture in which clerk 1 has read
// c-0001 on a ticket: the audit log holds one guarded read to show.
func startAfterRead(t *testing.T) (et.Fixture, *et.Server) {
	t.Helper()
	f := et.NewFixture(t)
	s := et.Start(t, f.Data)
	tk := openTicket(t, s, et.TokClerk1, "c-0001")
	s.Do(t, et.Req{Path: "/v1/customers/c-0001", Token: et.TokClerk1, Purpose: "ticket:" + tk})
	return f, s
}
