package web

import (
	"fmt"
	"strings"

	"testing"

	"github.com/chromedp/chromedp"

	"valise/account"
)

// TestBrowserNoHorizontalScrollAt390: on a 390 px wide phone, the links page after sending,
// the sent list, a send's detail and the recipient's page (locked and unlocked) scrolled
// sideways: tables of long addresses, names, links and hashes were wider than the screen
// (issue 16 item 9). Each page's document.documentElement.scrollWidth must be at most 390.
func TestBrowserNoHorizontalScrollAt390(t *testing.T) {
	const width = 390
	b := newBrowser(t)
	e := newEnv(t)
	e.mountUploads(t, nil) // the link pages
	email := "constance.de-la-tour-dauvergne.directrice-juridique@entreprise-exemple.example.org"
	u, _ := e.addUser(email, testPassword, account.LangFR)
	long := strings.Repeat("Annexe-contractuelle-confidentielle-", 3)
	f1 := e.upload(u.ID, long+"1.pdf", []byte("un"))
	f2 := e.upload(u.ID, long+"2.pdf", []byte("deux"))

	b.do("narrow viewport", chromedp.EmulateViewport(width, 844))
	b.signIn(e.base, email, "send-form")
	fits := func(b *browser, page string) {
		t.Helper()
		got := eval[int](b, page+" width", `Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)`)
		if got > width {
			wide := eval[string](b, page+" widest", `[...document.querySelectorAll("body *")].filter(el => el.getBoundingClientRect().right > `+fmt.Sprint(width)+`)
				.slice(-5).map(el => el.tagName + (el.id ? "#" + el.id : "") + (el.className ? "." + el.className : "") + " " + Math.round(el.getBoundingClientRect().right)).join(", ")`)
			b.shot("narrow-" + page)
			t.Errorf("%s scrolls sideways at %d px: scrollWidth %d (too wide: %s)", page, width, got, wide)
		}
	}

	// Send through the form (the files already uploaded), to three long addresses.
	to := "jean-baptiste.martin-lefebvre@cabinet-avocats-associes.example.org, marie-christine.dupont@ministere-exemple.example.gouv.fr, x@example.org"
	b.do("fill the form",
		chromedp.SetValue(chromedp.ID("to"), to),
		chromedp.SetValue(chromedp.ID("subject"), "Contrat de cession — version définitive signée par toutes les parties"),
		chromedp.SetValue(chromedp.ID("password"), "un mot de passe assez long"),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const f = document.getElementById("send-form");
			for (const id of [%q, %q]) { const i = document.createElement("input"); i.type = "hidden"; i.name = "file"; i.value = id; f.appendChild(i); }
			f.submit(); })()`, f1.ID, f2.ID)),
		chromedp.WaitVisible(chromedp.ID("link-1")))
	fits(b, "links")
	b.do("sent list", chromedp.Navigate(e.base+"/sent"), chromedp.WaitVisible(chromedp.ID("sent-table")))
	fits(b, "sent")
	b.do("send detail", chromedp.Click(chromedp.CSS("#sent-table a")), chromedp.WaitVisible(chromedp.ID("recipients")))
	fits(b, "detail")

	out, err := e.mail.Outbox(e.ctx)
	if err != nil || len(out) == 0 {
		t.Fatalf("outbox: %d mails, %v", len(out), err)
	}
	link := linkRe.FindString(out[0].Text)
	if link == "" {
		t.Fatalf("no link in %q", out[0].Text)
	}
	link = e.base + strings.TrimPrefix(link, "https://valise.example.org")
	b.do("recipient page", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("password")))
	fits(b, "recipient locked")
	b.do("unlock", chromedp.SendKeys(chromedp.ID("password"), "un mot de passe assez long"), chromedp.Submit(chromedp.ID("password")))
	b.waitAcross("unlocked", `document.readyState === "complete" && document.getElementById("files") !== null`)
	fits(b, "recipient")
}
