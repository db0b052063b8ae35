package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"valise/account"
	"valise/httpd/csp"
	"valise/httpd/linkgrant"
	"valise/locale"
	"valise/transfer"
	"valise/userid"
)

// sendTo creates owner's send of files to kim@example.org and returns the link token.
func (e *env) sendTo(owner userid.ID, opts transfer.Options, files ...transfer.FileID) string {
	e.t.Helper()
	created, err := e.sends.CreateSend(e.ctx, owner, transfer.SendRequest{
		From: transfer.Sender{Name: "Jo", Email: "jo@example.org"}, To: []string{"kim@example.org"},
		FileIDs: files, Options: opts,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return created.Invitations[0].Token
}

// owner adds jo@example.org and returns the ID.
func (e *env) owner() userid.ID {
	e.t.Helper()
	u, _ := e.addUser("jo@example.org", testPassword, account.LangFR)
	return u.ID
}

// TestLinkPageLayout: the recipient's page wears the web UI's styles, in French by default
// and in English by Accept-Language, with each file's size, SHA-256 and verdict, a download
// button per file and the zip, no inline script or style, under the link pages' strict CSP
// (moved from httpd/api, issue 17 item 3).
func TestLinkPageLayout(t *testing.T) {
	e := newEnv(t)
	data := make([]byte, 1_500_000)
	jo := e.owner()
	f := e.upload(jo, "plan.pdf", data)
	tok := e.sendTo(jo, transfer.Options{}, f.ID)
	for _, tc := range []struct {
		name, acceptLanguage, lang string
		want                       []string
	}{
		{"French by default", "", "fr", []string{"Fichiers reçus", "Télécharger", "Tout télécharger (zip)", "sain", "Aller au contenu"}},
		{"English by Accept-Language", "en-GB,en;q=0.9", "en", []string{"Files for you", "Download", "Download all (zip)", "clean", "Skip to content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			c.lang = tc.acceptLanguage
			r := c.get("/s/" + tok)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d", r.StatusCode)
			}
			want := append([]string{
				`<html lang="` + tc.lang + `">`,
				`<link rel="stylesheet" href="/static/style.css">`,
				`<link rel="stylesheet" href="/static/brand.css">`,
				`<header class="top">`, `<main id="main"`,
				locale.FormatSize(tc.lang, int64(len(data))), f.SHA256,
				// No download attribute: a refused download comes back to this page, which says
				// why, rather than saving an error as a file (issue 16 item 6).
				`href="/s/` + tok + `/files/` + string(f.ID) + `" aria-label`,
				`href="/s/` + tok + `/zip">`,
			}, tc.want...)
			for _, s := range want {
				if !strings.Contains(r.body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, bad := range []string{"<script", "style=", "<style"} {
				if strings.Contains(r.body, bad) {
					t.Errorf("page carries %q: the CSP forbids inline script and style", bad)
				}
			}
			if policy := r.Header.Get("Content-Security-Policy"); policy != csp.Policy(csp.LinkPage) {
				t.Errorf("CSP %q", policy)
			}
		})
	}
}

// TestDeadLinkPage: an unknown link gets the link pages' layout with one message, the same
// bytes whatever the token (revoked and expired links answer these bytes too: httpd/api's
// journey_test).
func TestDeadLinkPage(t *testing.T) {
	e := newEnv(t)
	one := e.newClient().get("/s/" + strings.Repeat("A", 43))
	two := e.newClient().get("/s/" + strings.Repeat("B", 43))
	if one.StatusCode != http.StatusNotFound || two.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, %d", one.StatusCode, two.StatusCode)
	}
	if one.body != two.body {
		t.Fatalf("two unknown links answer differently:\n%s\n%s", one.body, two.body)
	}
	for _, s := range []string{`<html lang="fr">`, `href="/static/style.css"`, "<h1>", "contactez la personne"} {
		if !strings.Contains(one.body, s) {
			t.Errorf("dead-link page lacks %q:\n%s", s, one.body)
		}
	}
	if strings.Contains(one.body, strings.Repeat("A", 43)) {
		t.Errorf("dead-link page echoes the token")
	}
	if policy := one.Header.Get("Content-Security-Policy"); policy != csp.Policy(csp.LinkPage) {
		t.Errorf("CSP %q", policy)
	}
}

// TestLinkPagesWearTheBrand: with the branding settings' name and logo, a link's page and the
// dead-link page show both in the title, header and footer; without, "Valise".
func TestLinkPagesWearTheBrand(t *testing.T) {
	dead := "/s/" + strings.Repeat("A", 43)
	plain := newEnv(t)
	if body := plain.newClient().get(dead).body; !strings.Contains(body, `<span class="brand">Valise</span>`) {
		t.Fatalf("default brand missing:\n%s", body)
	}
	e := newEnv(t, func(_ *env, c *Config, _ *Deps) {
		c.ProductName = "Mairie <de> Trifouillis"
		c.Logo = Logo{ContentType: "image/png", Data: tinyPNG(t)}
	})
	logo := e.h.LogoURL()
	if !strings.HasPrefix(logo, "/static/logo?v=") {
		t.Fatalf("logo URL %q", logo)
	}
	jo := e.owner()
	f := e.upload(jo, "plan.pdf", []byte("plan"))
	tok := e.sendTo(jo, transfer.Options{}, f.ID)
	for _, path := range []string{"/s/" + tok, dead} {
		body := e.newClient().get(path).body
		for _, s := range []string{
			` · Mairie &lt;de&gt; Trifouillis</title>`,
			`<span class="brand"><img class="logo" src="` + logo + `" alt="">Mairie &lt;de&gt; Trifouillis</span>`,
			`<footer class="foot"><p>Mairie &lt;de&gt; Trifouillis</p></footer>`,
		} {
			if !strings.Contains(body, s) {
				t.Errorf("%s lacks %q:\n%s", path, s, body)
			}
		}
	}
}

// TestLinkPageWarnsNotScanned: under scan.policy=release, a file the scanner could not scan
// may be sent; the recipient's page says so above the files, and not otherwise.
func TestLinkPageWarnsNotScanned(t *testing.T) {
	e := newEnv(t)
	jo := e.owner()
	f := e.upload(jo, "plan.pdf", []byte("plan"))
	g := e.upload(jo, "sain.pdf", []byte("sain"))
	if err := e.sends.SetVerdict(e.ctx, f.ID, transfer.VerdictNotScanned, "scanner_down"); err != nil {
		t.Fatal(err)
	}
	p := transfer.DefaultPolicy()
	p.ReleaseUnscanned = true
	if err := e.sends.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	for i, files := range [][]transfer.FileID{{f.ID, g.ID}, {g.ID}} {
		body := e.newClient().get("/s/" + e.sendTo(jo, transfer.Options{}, files...)).body
		warned := strings.Contains(body, `<p class="error" id="not-scanned">Certains fichiers n&#39;ont pas été analysés par l&#39;antivirus`)
		if warned != (i == 0) || (i == 0 && !strings.Contains(body, "non analysé")) {
			t.Errorf("send %d: warned %v:\n%s", i, warned, body)
		}
	}
}

// TestLinkForms: the password form grants the link (cookie scoped to it) and goes back to
// the page; a wrong answer comes back with its notice, in the language the switch chose; the
// code form mails a code in that language; a JSON body is refused before any check.
func TestLinkForms(t *testing.T) {
	e := newEnv(t)
	jo := e.owner()
	f := e.upload(jo, "plan.pdf", []byte("plan"))
	tok := e.sendTo(jo, transfer.Options{Password: "open sesame", EmailCode: true}, f.ID)
	c := e.newClient()
	if r := c.get("/s/" + tok + "?lang=en"); !strings.Contains(r.body, "Files for you") || !strings.Contains(r.Header.Get("Set-Cookie"), "lang=en") {
		t.Fatalf("language switch: %v\n%s", r.Header, r.body)
	}
	r := c.post("/s/"+tok+"/password", url.Values{"password": {"nope"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/s/"+tok+"?e=wrong_password" {
		t.Fatalf("wrong password: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.get("/s/" + tok + "?e=wrong_password"); !strings.Contains(r.body, "Wrong password.") {
		t.Errorf("the page does not say the password was wrong:\n%s", r.body)
	}
	r = c.post("/s/"+tok+"/password", url.Values{"password": {"open sesame"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/s/"+tok {
		t.Fatalf("right password: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if sc := r.Header.Get("Set-Cookie"); !strings.Contains(sc, linkgrant.Cookie+"=") || !strings.Contains(sc, "path=/s/"+tok) || !strings.Contains(sc, "SameSite=Strict") {
		t.Errorf("grant cookie %q", sc)
	}
	r = c.post("/s/"+tok+"/code", url.Values{})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/s/"+tok+"?sent=1" {
		t.Fatalf("code: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.get("/s/" + tok + "?sent=1"); !strings.Contains(r.body, `<p class="notice" role="alert">A code was just e-mailed to you.</p>`) {
		t.Errorf("no code-sent notice:\n%s", r.body)
	}
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.base+"/s/"+tok+"/password", strings.NewReader(`{"password":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if r := c.do(req); r.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("JSON body: %d, want 415", r.StatusCode)
	}
}
