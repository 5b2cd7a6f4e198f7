//go:build demoshots

package e2e

import (
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestDemoShots(t *testing.T) {
	url, tok := os.Getenv("DEMO_URL"), os.Getenv("DEMO_TOKEN")
	b := newBrowser(t, 1280, 900)
	b.do(chromedp.Navigate(url + "/"))
	b.waitFor("signin", `!document.getElementById("signin").hidden`)
	b.do(chromedp.SendKeys(chromedp.CSS("input[name=token]"), tok), chromedp.Click(chromedp.ID("signin-btn")))
	b.waitFor("alerts", `document.querySelectorAll(".alert-item").length > 0`)
	b.shot("demo-alerts")
	b.do(chromedp.Navigate(url + "/#people"))
	b.waitFor("people", `document.querySelector("#person-body svg.chart")`)
	b.shot("demo-people")
	b.do(chromedp.Navigate(url + "/#audit"))
	b.waitFor("audit", `[...document.querySelectorAll("#audit-body td.proof")].length > 0 && [...document.querySelectorAll("#audit-body td.proof")].every(c => c.dataset.verified || /Pending/.test(c.innerText))`)
	b.shot("demo-audit")
	b.do(chromedp.Navigate(url + "/#policies"))
	b.waitFor("pol", `document.querySelector("#policies-body h2")`)
	b.shot("demo-policies")
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile), chromedp.Navigate(url+"/#people"))
	b.waitFor("people", `document.querySelector("#person-body svg.chart")`)
	b.shot("demo-people-phone")
	b.assertNoConsoleErrors()
}
