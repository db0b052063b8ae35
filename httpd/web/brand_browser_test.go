package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/emulation"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"valise/account"
	"valise/transfer"
)

// TestBrowserBrandInBothSchemes sets only a light brand colour and a logo, as an
// administrator would, and checks the pages in chromium in the light and the dark scheme
// (prefers-color-scheme emulated): the logo shows, the dark scheme uses the derived colour,
// and axe-core finds no serious violation — contrast included — on the login, compose and
// recipient pages. The recipient's page runs no script (its CSP sandbox forbids it), so the
// test lifts the CSP for axe alone (Page.setBypassCSP): the markup and styles checked are the
// page's own.
func TestBrowserBrandInBothSchemes(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, func(_ *env, c *Config, _ *Deps) {
		c.ProductName = "Mairie de Trifouillis"
		c.Colors = Colors{Brand: "#6a1b9a"}
		c.Logo = Logo{ContentType: "image/png", Data: tinyPNG(t)}
	})
	e.mountUploads(t, nil)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "plan.pdf", []byte("le plan"))
	created, err := e.sends.CreateSend(e.ctx, alice.ID, transfer.SendRequest{
		From: transfer.Sender{Email: "alice@example.org"}, To: []string{"bob@example.org"},
		Subject: "Plan", FileIDs: []transfer.FileID{f.ID},
	})
	if err != nil {
		t.Fatal(err)
	}
	linkPath := "/s/" + created.Invitations[0].Token
	dark := darkFromLight("#6a1b9a")

	for _, scheme := range []string{"light", "dark"} {
		b.do(scheme+" scheme", call(emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		}))
		b.do(scheme+" login", call(cdppage.SetBypassCSP, cdppage.SetBypassCSPParams{Enabled: false}),
			chromedp.Navigate(e.base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
		logo := eval[bool](b, "logo", `(function () { var i = document.querySelector("header img.logo"); return !!i && i.complete && i.naturalWidth > 0; })()`)
		if !logo {
			b.fail(scheme+" logo", fmt.Errorf("the logo is not drawn in the header"))
		}
		want := map[string]string{"light": "#6a1b9a", "dark": dark}[scheme]
		if got := strings.TrimSpace(eval[string](b, "brand colour", `getComputedStyle(document.documentElement).getPropertyValue("--brand")`)); got != want {
			b.fail(scheme+" brand colour", fmt.Errorf("--brand is %q, want %q", got, want))
		}
		b.checkAccessibility(scheme + " login")
		b.signIn(e.base, "alice@example.org", "send-form")
		b.checkAccessibility(scheme + " compose")
		b.do(scheme+" log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("email")))
		b.do(scheme+" recipient page", call(cdppage.SetBypassCSP, cdppage.SetBypassCSPParams{Enabled: true}),
			chromedp.Navigate(e.base+linkPath), chromedp.WaitVisible(chromedp.ID("files")))
		if txt := eval[string](b, "recipient brand", `document.querySelector("header .brand").textContent`); txt != "Mairie de Trifouillis" {
			b.fail(scheme+" recipient brand", fmt.Errorf("header says %q", txt))
		}
		b.shot(scheme + "-recipient")
		b.checkAccessibility(scheme + " recipient page")
	}
}
