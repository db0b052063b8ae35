package api

import (
	"strings"
	"testing"

	"valise/httpd/csp"
	"valise/locale"
	"valise/transfer"
)

// TestLinkPageLayout: the recipient's page wears the web UI's layout and styles, in French by
// default and in English by Accept-Language, with each file's size, SHA-256 and verdict, a
// download button per file and the zip, no inline script or style, under a strict CSP.
func TestLinkPageLayout(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("jo@example.org", "Jo")
	data := make([]byte, 1_500_000)
	f := w.upload(a.ID, "plan.pdf", data)
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"kim@example.org"}, Files: []string{string(f.ID)},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])
	for _, tc := range []struct {
		name, acceptLanguage, lang string
		want                       []string
	}{
		{"French by default", "", "fr", []string{"Fichiers reçus", "Télécharger", "Tout télécharger (zip)", "sain", "Aller au contenu"}},
		{"English by Accept-Language", "en-GB,en;q=0.9", "en", []string{"Files for you", "Download", "Download all (zip)", "clean", "Skip to content"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var hdr map[string]string
			if tc.acceptLanguage != "" {
				hdr = map[string]string{"Accept-Language": tc.acceptLanguage}
			}
			r := w.call("GET", "/s/"+tok, hdr, nil, true)
			mustStatus(t, r, 200)
			body := string(r.body)
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
				if !strings.Contains(body, s) {
					t.Errorf("page lacks %q", s)
				}
			}
			for _, bad := range []string{"<script", "style=", "<style"} {
				if strings.Contains(body, bad) {
					t.Errorf("page carries %q: the CSP forbids inline script and style", bad)
				}
			}
			policy := r.Header.Get("Content-Security-Policy")
			if policy != csp.Policy(csp.LinkPage) || strings.Contains(policy, "unsafe") || strings.Contains(policy, "allow-scripts") {
				t.Errorf("CSP %q", policy)
			}
		})
	}
}

// TestDeadLinkPage: an unknown link gets the layout's page with one message, the same bytes
// whatever the token (revoked and expired links answer these bytes too: journey_test).
func TestDeadLinkPage(t *testing.T) {
	w := newWorld(t)
	one := w.call("GET", "/s/"+strings.Repeat("A", 43), nil, nil, true)
	two := w.call("GET", "/s/"+strings.Repeat("B", 43), nil, nil, true)
	mustStatus(t, one, 404)
	mustStatus(t, two, 404)
	if string(one.body) != string(two.body) {
		t.Fatalf("two unknown links answer differently:\n%s\n%s", one.body, two.body)
	}
	for _, s := range []string{`<html lang="fr">`, `href="/static/style.css"`, "<h1>", "contactez la personne"} {
		if !strings.Contains(string(one.body), s) {
			t.Errorf("dead-link page lacks %q:\n%s", s, one.body)
		}
	}
	if strings.Contains(string(one.body), strings.Repeat("A", 43)) {
		t.Errorf("dead-link page echoes the token")
	}
}

// TestLinkPagesWearTheBrand: once the branding settings give a name and a logo, the mails
// name the product, and a link's page and the dead-link page show both in the title, header
// and footer; before, "Valise".
func TestLinkPagesWearTheBrand(t *testing.T) {
	w := newWorld(t)
	dead := "/s/" + strings.Repeat("A", 43)
	if body := string(w.call("GET", dead, nil, nil, true).body); !strings.Contains(body, `<span class="brand">Valise</span>`) {
		t.Fatalf("default brand missing:\n%s", body)
	}
	w.h.SetBrand(Brand{Name: "Mairie <de> Trifouillis", LogoURL: "/static/logo?v=0123456789abcdef"})
	a, bearer := w.user("jo@example.org", "Jo")
	f := w.upload(a.ID, "plan.pdf", []byte("plan"))
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"kim@example.org"}, Files: []string{string(f.ID)},
	}), 201)
	mail := w.outbox(1)[0]
	if !strings.HasSuffix(mail.FromName, " via Mairie <de> Trifouillis") || !strings.Contains(mail.Text, "par Mairie <de> Trifouillis.") {
		t.Errorf("the mail is not branded: from %q\n%s", mail.FromName, mail.Text)
	}
	tok := linkToken(t, mail)
	for _, path := range []string{"/s/" + tok, dead} {
		body := string(w.call("GET", path, nil, nil, true).body)
		for _, s := range []string{
			` · Mairie &lt;de&gt; Trifouillis</title>`,
			`<span class="brand"><img class="logo" src="/static/logo?v=0123456789abcdef" alt="">Mairie &lt;de&gt; Trifouillis</span>`,
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
	w := newWorld(t)
	a, bearer := w.user("jo@example.org", "Jo")
	f := w.upload(a.ID, "plan.pdf", []byte("plan"))
	g := w.upload(a.ID, "sain.pdf", []byte("sain"))
	if err := w.transfer.SetVerdict(w.ctx, f.ID, transfer.VerdictNotScanned, "scanner_down"); err != nil {
		t.Fatal(err)
	}
	p := transfer.DefaultPolicy()
	p.ReleaseUnscanned = true
	if err := w.transfer.SetPolicy(p); err != nil {
		t.Fatal(err)
	}
	for i, files := range [][]string{{string(f.ID), string(g.ID)}, {string(g.ID)}} {
		mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"kim@example.org"}, Files: files}), 201)
		body := string(w.call("GET", "/s/"+linkToken(t, w.outbox(i + 1)[i]), nil, nil, true).body)
		warned := strings.Contains(body, `<p class="error" id="not-scanned">Certains fichiers n&#39;ont pas été analysés par l&#39;antivirus`)
		if warned != (i == 0) || (i == 0 && !strings.Contains(body, "non analysé")) {
			t.Errorf("send %d: warned %v:\n%s", i, warned, body)
		}
	}
}
