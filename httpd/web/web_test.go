package web

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"valise/account"
	"valise/httpd/csp"
	"valise/transfer"
)

// TestLogin signs in with the right password, a wrong one, and while locked out; the
// messages are account's, in French by default.
func TestLogin(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	e.addUser("locked@example.org", testPassword, account.LangFR)
	for _, tc := range []struct {
		name, email, password string
		wrongFirst            int // wrong passwords before this attempt
		status                int
		location, text        string
	}{
		{"right password", "alice@example.org", testPassword, 0, http.StatusSeeOther, "/send", ""},
		{"wrong password", "alice@example.org", "not the password", 0, http.StatusUnauthorized, "", "Adresse e-mail ou mot de passe incorrect."},
		{"unknown address", "nobody@example.org", testPassword, 0, http.StatusUnauthorized, "", "Adresse e-mail ou mot de passe incorrect."},
		{"locked after failures", "locked@example.org", testPassword, 3, http.StatusTooManyRequests, "", "essais de connexion"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			for range tc.wrongFirst {
				if r := c.login(tc.email, "wrong wrong wrong"); r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusTooManyRequests {
					t.Fatalf("wrong password: status %d", r.StatusCode)
				}
			}
			r := c.login(tc.email, tc.password)
			if r.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", r.StatusCode, tc.status, r.body)
			}
			if tc.location != "" && r.Header.Get("Location") != tc.location {
				t.Errorf("Location %q, want %q", r.Header.Get("Location"), tc.location)
			}
			if tc.text != "" && !strings.Contains(r.body, tc.text) {
				t.Errorf("page lacks %q", tc.text)
			}
			if got := c.cookie(sessionCookie) != ""; got != (tc.status == http.StatusSeeOther) {
				t.Errorf("session cookie set: %v", got)
			}
		})
	}
}

// TestSessionCookieAttributes checks the session cookie: __Host- prefix, Secure, HttpOnly,
// SameSite=Lax, Path=/, no Domain; logout forgets it and ends the session.
func TestSessionCookieAttributes(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	c := e.newClient()
	r := c.login("alice@example.org", testPassword)
	var set string
	for _, v := range r.Header.Values("Set-Cookie") {
		if strings.HasPrefix(v, sessionCookie+"=") {
			set = v
		}
	}
	if set == "" {
		t.Fatalf("no %s cookie set: %q", sessionCookie, r.Header.Values("Set-Cookie"))
	}
	lower := strings.ToLower(set)
	for _, attr := range []string{"; secure", "; httponly", "; samesite=lax", "; path=/", "; max-age=43200"} {
		if !strings.Contains(lower, attr) {
			t.Errorf("cookie %q lacks %q", set, attr)
		}
	}
	if strings.Contains(lower, "domain=") {
		t.Errorf("cookie %q has a Domain", set)
	}
	token := c.cookie(sessionCookie)
	if _, _, err := e.accounts.Session(e.ctx, token); err != nil {
		t.Fatalf("session not live after login: %v", err)
	}
	csrf := c.csrf("/send")
	if r := c.post("/logout", url.Values{"csrf": {csrf}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d", r.StatusCode)
	}
	if _, _, err := e.accounts.Session(e.ctx, token); err == nil {
		t.Fatal("session still live after logout")
	}
	if r := c.get("/send"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Fatalf("after logout /send: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestCSRFRequired: every POST without the right token, or from another origin, is 403.
func TestCSRFRequired(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	anon := e.newClient()
	anonToken := anon.csrf("/login")
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")
	for _, tc := range []struct {
		name   string
		c      *client
		path   string
		form   url.Values
		header []string
	}{
		{"login without token", anon, "/login", url.Values{"email": {"alice@example.org"}, "password": {testPassword}}, nil},
		{"login with a forged token", anon, "/login", url.Values{"csrf": {"AAAA"}, "email": {"alice@example.org"}, "password": {testPassword}}, nil},
		{"login from another origin", anon, "/login", url.Values{"csrf": {anonToken}, "email": {"alice@example.org"}, "password": {testPassword}}, []string{"Origin", "https://evil.example"}},
		{"logout without token", c, "/logout", url.Values{}, nil},
		{"logout with the pre-login token", c, "/logout", url.Values{"csrf": {anonToken}}, nil},
		{"send without token", c, "/send", url.Values{"to": {"bob@example.org"}}, nil},
		{"revoke without token", c, "/sent/x/revoke", url.Values{}, nil},
		{"password without token", c, "/password", url.Values{"new_password": {"a new password 123"}, "confirm_password": {"a new password 123"}}, nil},
		{"language without token", c, "/lang", url.Values{"lang": {"en"}}, nil},
		{"send with a wrong header token", c, "/send", url.Values{}, []string{"X-CSRF-Token", token + "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.post(tc.path, tc.form, tc.header...)
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d, want 403", r.StatusCode)
			}
		})
	}
	// The session survived: the forged logouts did nothing.
	if r := c.get("/send"); r.StatusCode != http.StatusOK {
		t.Fatalf("/send after forged posts: status %d", r.StatusCode)
	}
	// The right token in the header works too (what app.js sends).
	if r := c.post("/lang", url.Values{"lang": {"en"}, "next": {"/sent"}}, "X-CSRF-Token", token); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sent" {
		t.Fatalf("lang with header token: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
}

// TestLanguage: French by default, English by Accept-Language, and the switch's cookie wins.
func TestLanguage(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name, acceptLanguage, cookie string
		wantLang, label              string
	}{
		{"no preference", "", "", "fr", ">Se connecter</button>"},
		{"french browser", "fr-FR,fr;q=0.9", "", "fr", "Adresse e-mail"},
		{"english browser", "en-US,en;q=0.9", "", "en", ">Sign in</button>"},
		{"german browser falls back to french", "de-DE", "", "fr", "Mot de passe"},
		{"switch to english", "fr-FR", "en", "en", "E-mail address"},
		{"switch to french", "en-GB", "fr", "fr", "Mot de passe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.newClient()
			c.lang = tc.acceptLanguage
			if tc.cookie != "" {
				tok := c.csrf("/login")
				r := c.post("/lang", url.Values{"csrf": {tok}, "lang": {tc.cookie}, "next": {"/login"}})
				if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
					t.Fatalf("switch: status %d to %q", r.StatusCode, r.Header.Get("Location"))
				}
			}
			r := c.get("/login")
			if !strings.Contains(r.body, `<html lang="`+tc.wantLang+`">`) {
				t.Errorf("page not in %s: %.200s", tc.wantLang, r.body)
			}
			if !strings.Contains(r.body, tc.label) {
				t.Errorf("page lacks label %q", tc.label)
			}
		})
	}
}

// TestEnglishPages: the signed-in pages follow Accept-Language too, labels and <html lang>,
// and so do the mails of a send written on them (for an account whose language is French).
func TestEnglishPages(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	c := e.newClient()
	c.lang = "en-GB,en;q=0.8"
	c.mustLogin("alice@example.org", testPassword)
	for _, tc := range []struct{ path, label string }{
		{"/send", `<label for="bcc">Bcc</label>`},
		{"/send", "Maximum downloads per file"},
		{"/sent", "No sends yet."},
		{"/password", "Current password"},
	} {
		t.Run(tc.path+" "+tc.label, func(t *testing.T) {
			r := c.get(tc.path)
			if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `<html lang="en">`) || !strings.Contains(r.body, tc.label) {
				t.Fatalf("status %d, lang en %v, label %v", r.StatusCode, strings.Contains(r.body, `<html lang="en">`), strings.Contains(r.body, tc.label))
			}
		})
	}
	f := e.upload(alice.ID, "report.pdf", []byte("report"))
	r := c.post("/send", url.Values{"csrf": {c.csrf("/send")}, "to": {"bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"}})
	out, err := e.mail.Outbox(e.ctx)
	if r.StatusCode != http.StatusOK || err != nil || len(out) != 1 || out[0].Lang != "en" || !strings.Contains(out[0].Text, "sent you a file") {
		t.Fatalf("send from English pages: status %d, mails %+v, %v", r.StatusCode, out, err)
	}
}

// TestFirstLoginPasswordChange: a user whose password was issued must choose one before
// anything else; a mismatch or a weak password is refused with a message.
func TestFirstLoginPasswordChange(t *testing.T) {
	e := newEnv(t)
	_, issued := e.addUser("new@example.org", "", account.LangFR)
	c := e.newClient()
	r := c.login("new@example.org", issued)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/password" {
		t.Fatalf("login: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := c.get("/send"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/password" {
		t.Fatalf("/send before the change: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	page := c.get("/password")
	if page.StatusCode != http.StatusOK || strings.Contains(page.body, `name="current_password"`) {
		t.Fatalf("first-login page: status %d, asks the current password: %v", page.StatusCode, strings.Contains(page.body, "current_password"))
	}
	token := csrfRe.FindStringSubmatch(page.body)[1]
	const chosen = "my very own passphrase"
	for _, tc := range []struct {
		name, pw, confirm, text string
	}{
		{"mismatch", chosen, chosen + "!", "diffèrent"},
		{"too short", "short", "short", "Mot de passe trop faible"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.post("/password", url.Values{"csrf": {token}, "new_password": {tc.pw}, "confirm_password": {tc.confirm}})
			if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, tc.text) {
				t.Fatalf("status %d, want 422 with %q", r.StatusCode, tc.text)
			}
		})
	}
	r = c.post("/password", url.Values{"csrf": {token}, "new_password": {chosen}, "confirm_password": {chosen}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/send" {
		t.Fatalf("change: status %d to %q: %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	if r := c.get("/send"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="send-form"`) {
		t.Fatalf("/send after the change: status %d", r.StatusCode)
	}
	u, err := e.accounts.CheckPassword(e.ctx, "new@example.org", chosen)
	if err != nil || u.MustChangePassword {
		t.Fatalf("new password: %v, must change %v", err, u.MustChangePassword)
	}
}

// TestSendAndFollow composes a send through the form, sees the links once, the mails in the
// outbox, the detail with each file's SHA-256, then resends and revokes.
func TestSendAndFollow(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "rapport.pdf", []byte(strings.Repeat("valise ", 5000)))
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")

	t.Run("bad address", func(t *testing.T) {
		r := c.post("/send", url.Values{"csrf": {token}, "to": {"not-an-address"}, "file": {string(f.ID)}, "expiry_days": {"7"}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Adresse de destinataire invalide : not-an-address") {
			t.Fatalf("status %d: %s", r.StatusCode, r.body)
		}
		if !strings.Contains(r.body, `value="`+string(f.ID)+`"`) || !strings.Contains(r.body, "rapport.pdf") {
			t.Error("the uploaded file is not kept in the form")
		}
	})
	t.Run("no file", func(t *testing.T) {
		r := c.post("/send", url.Values{"csrf": {token}, "to": {"bob@example.org"}, "expiry_days": {"7"}})
		if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Ajoutez au moins un fichier.") {
			t.Fatalf("status %d", r.StatusCode)
		}
	})

	r := c.post("/send", url.Values{
		"csrf": {token}, "to": {"bob@example.org, carol@example.org"}, "subject": {"<b>Rapport</b>"},
		"message": {"Bonjour"}, "file": {string(f.ID)}, "password": {"a link password"}, "expiry_days": {"3"},
		"receipts": {"on"},
	})
	if r.StatusCode != http.StatusOK || strings.Count(r.body, "https://valise.example.org/s/") != 2 {
		t.Fatalf("create: status %d: %s", r.StatusCode, r.body)
	}
	if strings.Count(r.body, `src="data:image/png;base64,`) != 2 {
		t.Error("the created page lacks a QR code per link")
	}
	if strings.Contains(r.body, "<b>Rapport</b>") {
		t.Error("subject rendered as markup")
	}
	out, err := e.mail.Outbox(e.ctx)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox: %d mails, %v", len(out), err)
	}
	if out[0].Lang != "fr" {
		t.Errorf("mail in %q from a French page", out[0].Lang)
	}
	sends, err := e.sends.ListSends(e.ctx, alice.ID)
	if err != nil || len(sends) != 1 {
		t.Fatalf("sends: %d, %v", len(sends), err)
	}
	s := sends[0]
	if !s.Options.PasswordRequired || !s.Options.Receipts {
		t.Errorf("options not kept: %+v", s.Options)
	}
	detail := c.get("/sent/" + string(s.ID))
	if detail.StatusCode != http.StatusOK || !strings.Contains(detail.body, f.SHA256) || !strings.Contains(detail.body, "carol@example.org") {
		t.Fatalf("detail: status %d", detail.StatusCode)
	}
	if !strings.Contains(detail.body, "1 fois") {
		t.Error("detail does not show the notification count")
	}
	r = c.post("/sent/"+string(s.ID)+"/resend", url.Values{"csrf": {token}, "recipient": {"bob@example.org"}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Nouveau lien envoyé à bob@example.org") || !strings.Contains(r.body, "2 fois") {
		t.Fatalf("resend: status %d", r.StatusCode)
	}
	r = c.post("/sent/"+string(s.ID)+"/revoke", url.Values{"csrf": {token}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sent/"+string(s.ID)+"?done=revoked" {
		t.Fatalf("revoke: status %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	r = c.get(r.Header.Get("Location"))
	if !strings.Contains(r.body, "Envoi révoqué") || strings.Contains(r.body, `id="revoke"`) || strings.Contains(r.body, "/resend") {
		t.Fatal("the revoked send's page still offers revoke or resend, or lacks the notice")
	}
	if got, _ := e.sends.GetSend(e.ctx, alice.ID, s.ID); got.Status(got.Created) != transfer.StatusRevoked {
		t.Errorf("send not revoked")
	}
}

// TestSentListOnlyOwnSends: a user sees their sends only, and another's detail is 404.
func TestSentListOnlyOwnSends(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	bob, _ := e.addUser("bob@example.org", testPassword, account.LangFR)
	for _, tc := range []struct {
		owner   account.User
		subject string
	}{{alice, "Subject of Alice"}, {bob, "Subject of Bob"}} {
		f := e.upload(tc.owner.ID, "f.txt", []byte("hello "+tc.subject))
		created, err := e.sends.CreateSend(e.ctx, tc.owner.ID, transfer.SendRequest{
			From: transfer.Sender{Email: tc.owner.Email}, To: []string{"x@example.org", "y@example.org"}, Subject: tc.subject, FileIDs: []transfer.FileID{f.ID},
		})
		if err != nil {
			t.Fatal(err)
		}
		// One of Alice's two recipients opens the link: the list counts it.
		if _, err := e.sends.OpenLink(e.ctx, created.Invitations[0].Token, "", "192.0.2.7"); tc.owner.ID == alice.ID && err != nil {
			t.Fatal(err)
		}
	}
	bobSends, _ := e.sends.ListSends(e.ctx, bob.ID)
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	r := c.get("/sent")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, "Subject of Alice") {
		t.Fatalf("sent list: status %d", r.StatusCode)
	}
	if !strings.Contains(r.body, "<td>2</td><td>1/2</td><td>0/2</td>") {
		t.Errorf("the list does not count 2 recipients, 1 opened, none downloaded:\n%s", r.body)
	}
	if strings.Contains(r.body, "Subject of Bob") || strings.Contains(r.body, string(bobSends[0].ID)) {
		t.Fatal("Alice's list shows Bob's send")
	}
	if r := c.get("/sent/" + string(bobSends[0].ID)); r.StatusCode != http.StatusNotFound {
		t.Fatalf("Bob's detail for Alice: status %d", r.StatusCode)
	}
	token := c.csrf("/sent")
	if r := c.post("/sent/"+string(bobSends[0].ID)+"/revoke", url.Values{"csrf": {token}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("Alice revoking Bob's send: status %d", r.StatusCode)
	}
}

// TestHeadersAndStatic: pages carry the strict CSP and friends; static files are served with
// content-hash caching.
func TestHeadersAndStatic(t *testing.T) {
	e := newEnv(t)
	c := e.newClient()
	r := c.get("/login")
	for k, want := range map[string]string{
		"Content-Security-Policy":   "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:",
		"X-Content-Type-Options":    "nosniff",
		"Referrer-Policy":           "no-referrer",
		"Strict-Transport-Security": "max-age=31536000",
		"Cache-Control":             "no-store",
	} {
		if got := r.Header.Get(k); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'; form-action 'self'") {
		t.Errorf("CSP %q", r.Header.Get("Content-Security-Policy"))
	}
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") {
		t.Error("inline script or style in a page")
	}
	for _, tc := range []struct{ path, ctype, snippet string }{
		{"/static/tus.min.js", "text/javascript", "tus"},
		{"/static/htmx.min.js", "text/javascript", "htmx"},
		{"/static/app.js", "text/javascript", "findPreviousUploads"},
		{"/static/style.css", "text/css", "prefers-color-scheme"},
		{"/static/tus-js-client.LICENSE", "text/plain", "MIT"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := c.get(tc.path)
			if r.StatusCode != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(r.body, tc.snippet) {
				t.Fatalf("status %d, type %q", r.StatusCode, r.Header.Get("Content-Type"))
			}
			etag := r.Header.Get("ETag")
			if etag == "" || r.Header.Get("Cache-Control") != "no-cache" {
				t.Errorf("ETag %q, Cache-Control %q", etag, r.Header.Get("Cache-Control"))
			}
			versioned := c.get(tc.path + "?v=" + strings.Trim(etag, `"`))
			if versioned.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
				t.Errorf("versioned Cache-Control %q", versioned.Header.Get("Cache-Control"))
			}
			req, _ := http.NewRequestWithContext(e.ctx, "GET", e.base+tc.path, nil)
			req.Header.Set("If-None-Match", etag)
			if r := c.do(req); r.StatusCode != http.StatusNotModified {
				t.Errorf("conditional GET: %d", r.StatusCode)
			}
		})
	}
	if !strings.Contains(r.body, e.h.static.url("htmx.min.js")) {
		t.Error("the layout does not link htmx by its versioned URL")
	}
	if r := c.get("/static/nope.js"); r.StatusCode != http.StatusNotFound {
		t.Errorf("unknown static file: %d", r.StatusCode)
	}
	// The link pages are this handler's too (issue 17 item 3), under their own CSP.
	if r := c.get("/s/sometoken"); r.StatusCode != http.StatusNotFound || r.Header.Get("Content-Security-Policy") != csp.Policy(csp.LinkPage) {
		t.Errorf("unknown link: %d with CSP %q", r.StatusCode, r.Header.Get("Content-Security-Policy"))
	}
}

// TestBranding: the product name, colours and logo from the settings reach every page; the
// logo is served under a CSP that runs nothing in it.
func TestBranding(t *testing.T) {
	logo := tinyPNG(t)
	e := newEnv(t, func(_ *env, c *Config, _ *Deps) {
		c.ProductName = "Coffre & Co"
		c.Colors = Colors{Brand: "#7a1f5c", BrandDark: "#f0a8d8"}
		c.Logo = Logo{ContentType: "image/png", Data: logo}
	})
	c := e.newClient()
	r := c.get("/login")
	if !strings.Contains(r.body, "Coffre &amp; Co") {
		t.Error("product name not shown")
	}
	if !strings.Contains(r.body, `<img class="logo" src="`+e.h.LogoURL()+`" alt="">`) || !strings.HasPrefix(e.h.LogoURL(), "/static/logo?v=") {
		t.Errorf("logo %q not shown:\n%s", e.h.LogoURL(), r.body)
	}
	lr := c.get(e.h.LogoURL())
	if lr.body != string(logo) || lr.Header.Get("Content-Type") != "image/png" || !strings.Contains(lr.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("logo served as %q with CSP %q", lr.Header.Get("Content-Type"), lr.Header.Get("Content-Security-Policy"))
	}
	css := c.get(e.h.static.url("brand.css"))
	if !strings.Contains(css.body, "--brand: #7a1f5c") || !strings.Contains(css.body, "--brand: #f0a8d8") || css.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Errorf("brand.css: %q, %q", css.body, css.Header.Get("Cache-Control"))
	}
	if !strings.Contains(r.body, e.h.static.url("brand.css")) {
		t.Error("the layout does not link brand.css")
	}
	bad := DefaultConfig()
	bad.PublicURL, bad.CSRFKey = "https://x.example", make([]byte, 32)
	for _, colors := range []Colors{{Brand: "red;}body{display:none"}, {Brand: "#ffcc00"}, {BrandDark: "#0b5cad"}} {
		bad.Colors = colors
		if err := bad.Validate(); err == nil {
			t.Errorf("colours %+v accepted: not #rrggbb or unreadable", colors)
		}
	}
	bad.Colors = Colors{}
	bad.Logo = Logo{ContentType: "text/html", Data: []byte("<script>")}
	if err := bad.Validate(); err == nil {
		t.Error("a logo of type text/html was accepted")
	}
}

// TestRoutesNeedSession walks every route: the private ones answer nothing useful without a
// session (GET redirects to /login, POST is 403).
func TestRoutesNeedSession(t *testing.T) {
	e := newEnv(t)
	c := e.newClient()
	for _, rt := range Routes() {
		if rt.Public {
			continue
		}
		path := strings.ReplaceAll(rt.Pattern, "{id}", "0193b1e2-0000-7000-8000-000000000000")
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			var r response
			if rt.Method == "GET" {
				r = c.get(path)
				if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
					t.Fatalf("status %d to %q", r.StatusCode, r.Header.Get("Location"))
				}
				return
			}
			r = c.post(path, url.Values{"csrf": {c.csrf("/login")}})
			if r.StatusCode != http.StatusForbidden {
				t.Fatalf("status %d", r.StatusCode)
			}
		})
	}
}

// TestSessionPrincipal: the tus uploads accept a browser's session with its CSRF header,
// and nothing less.
func TestSessionPrincipal(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	_, issued := e.addUser("new@example.org", "", account.LangFR)
	// The uploads' stand-in: it answers who SessionPrincipal says the caller is.
	extra := func(ctx *fasthttp.RequestCtx) bool {
		if string(ctx.Path()) != "/api/v1/uploads" {
			return false
		}
		id, err := e.h.SessionPrincipal(ctx)
		if err != nil {
			ctx.SetStatusCode(fasthttp.StatusUnauthorized)
			return true
		}
		ctx.Response.Header.Set("X-Principal", string(id))
		return true
	}
	e.extra.Store(&extra)
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	sessTok := c.cookie(sessionCookie)
	csrf := c.csrf("/send")
	n := e.newClient()
	n.login("new@example.org", issued)
	newTok := n.cookie(sessionCookie)
	for _, tc := range []struct {
		name    string
		method  string
		cookie  string
		headers map[string]string
		wantOK  bool
	}{
		{"post with session and csrf", "POST", sessTok, map[string]string{"X-CSRF-Token": csrf}, true},
		{"head with session", "HEAD", sessTok, nil, true},
		{"patch without csrf", "PATCH", sessTok, nil, false},
		{"post with a wrong csrf", "POST", sessTok, map[string]string{"X-CSRF-Token": "x" + csrf}, false},
		{"no cookie", "POST", "", map[string]string{"X-CSRF-Token": csrf}, false},
		{"bearer header present", "POST", sessTok, map[string]string{"X-CSRF-Token": csrf, "Authorization": "Bearer vls_x"}, false},
		{"password change pending", "HEAD", newTok, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(e.ctx, tc.method, e.base+"/api/v1/uploads", nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tc.cookie})
			}
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			// A bare client: the cookie is the one set above, not a jar's.
			hc := &http.Client{Transport: c.hc.Transport}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			id := resp.Header.Get("X-Principal")
			ok := resp.StatusCode == http.StatusOK
			if ok != tc.wantOK || (ok && id != string(alice.ID)) {
				t.Fatalf("got %q, status %d; want ok %v", id, resp.StatusCode, tc.wantOK)
			}
		})
	}
}

// TestConfigValidate names each setting Validate refuses.
func TestConfigValidate(t *testing.T) {
	good := func() Config {
		c := DefaultConfig()
		c.PublicURL, c.CSRFKey = "https://valise.example.org", make([]byte, 32)
		return c
	}
	for _, tc := range []struct {
		name   string
		change func(*Config)
		ok     bool
	}{
		{"defaults with URL and key", func(*Config) {}, true},
		{"http URL", func(c *Config) { c.PublicURL = "http://valise.example.org" }, false},
		{"trailing slash", func(c *Config) { c.PublicURL += "/" }, false},
		{"short CSRF key", func(c *Config) { c.CSRFKey = c.CSRFKey[:31] }, false},
		{"no product name", func(c *Config) { c.ProductName = "" }, false},
		{"tiny body limit", func(c *Config) { c.MaxBodyBytes = 100 }, false},
		{"no session age", func(c *Config) { c.SessionMaxAge = 0 }, false},
		{"negative scan wait", func(c *Config) { c.ScanWait = -1 }, false},
		{"colour name", func(c *Config) { c.Colors.BrandDark = "pink" }, false},
		{"hex colour", func(c *Config) { c.Colors.Brand = "#112233" }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good()
			tc.change(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate: %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestLangRedirectStaysLocal: POST /lang's "next" must never send the browser to another
// site, whatever trick it holds (issue 16 item 9): control characters that browsers strip,
// backslashes they read as slashes, schemes, hosts.
func TestLangRedirectStaysLocal(t *testing.T) {
	for _, tc := range []struct {
		name, next, want string
	}{
		{"local path", "/sent", "/sent"},
		{"local path with query", "/s/abc?e=x", "/s/abc?e=x"},
		{"root", "/", "/"},
		{"empty", "", "/"},
		{"protocol-relative", "//evil.example", "/"},
		{"backslash host", "/\\evil.example", "/"},
		{"backslash later", "/a\\b", "/"},
		{"tab stripped by browsers", "/\t/evil.example", "/"},
		{"newline stripped by browsers", "/\n/evil.example", "/"},
		{"header injection", "/a\r\nSet-Cookie: x=1", "/"},
		{"nul", "/a\x00b", "/"},
		{"space", "/ /evil.example", "/"},
		{"absolute URL", "https://evil.example/", "/"},
		{"scheme without slashes", "javascript:alert(1)", "/"},
		{"relative", "evil.example", "/"},
		{"encoded slashes", "/%2F%2Fevil.example", "/"},
		{"non-ASCII", "/\u3000/evil.example", "/"},
		{"too long", "/" + strings.Repeat("a", 600), "/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := localPath(tc.next, "/"); got != tc.want {
				t.Fatalf("localPath(%q) = %q, want %q", tc.next, got, tc.want)
			}
		})
	}
	// Through the route itself: POST /lang answers 303 to the cleaned path.
	e := newEnv(t)
	c := e.newClient()
	tok := c.csrf("/login")
	for _, next := range []string{"/\t/evil.example", "//evil.example", "/\\evil.example", "https://evil.example/"} {
		r := c.post("/lang", url.Values{"csrf": {tok}, "lang": {"en"}, "next": {next}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" {
			t.Errorf("POST /lang next=%q: status %d to %q, want 303 to /", next, r.StatusCode, r.Header.Get("Location"))
		}
	}
}

// FuzzLocalPath: whatever a form's "next" holds, the redirect stays on this site (issue 16
// item 9): a bare path of printable ASCII, one leading slash, no backslash.
func FuzzLocalPath(f *testing.F) {
	for _, s := range []string{"/send", "//evil.example", "/\\evil.example", "https://evil.example", "/a\r\nSet-Cookie: x", "", "/\t/evil.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := localPath(s, "/")
		if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\") {
			t.Fatalf("localPath(%q) = %q", s, p)
		}
		for _, c := range []byte(p) {
			if c <= 0x20 || c >= 0x7f {
				t.Fatalf("localPath(%q) = %q holds byte %#x", s, p, c)
			}
		}
		u, err := url.Parse(p)
		if err != nil || u.Host != "" || u.Scheme != "" {
			t.Fatalf("localPath(%q) = %q leaves the site", s, p)
		}
	})
}

// FuzzSplitAddresses: the splitter never yields an empty or separator-holding address.
func FuzzSplitAddresses(f *testing.F) {
	for _, s := range []string{"a@b.c, d@e.f", "a@b.c;;\n d@e.f", "", " , "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range splitAddresses(s) {
			if a == "" || !strings.Contains(a, "<") && strings.ContainsAny(a, ",; \n\r\t") {
				t.Fatalf("splitAddresses(%q) gave %q", s, a)
			}
		}
	})
}
