package api

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"valise/httpd/csp"

	"github.com/google/uuid"

	"valise/locale"
)

// fillPattern replaces a route's parameters with well-formed values naming nothing.
func fillPattern(p string) string {
	r := strings.NewReplacer("{token}", strings.Repeat("B", 43), "{id}", uuid.NewString(), "{fileID}", uuid.NewString())
	return r.Replace(p)
}

// TestAttackNoRouteWithoutAuth walks every registered route and calls it with no
// credentials, then with a forged bearer token: only the routes the contract names public
// (the OpenAPI document and the link routes, whose token is the credential) may answer
// anything but 401 (issue 11, "Bad input and attack").
func TestAttackNoRouteWithoutAuth(t *testing.T) {
	w := newWorld(t)
	publicOK := regexp.MustCompile(`^(/api/v1/openapi\.json|/api/v1/links/\{token\}(/.*)?|/s/\{token\}(/.*)?)$`)
	for _, rt := range Routes() {
		t.Run(rt.Method+" "+rt.Pattern, func(t *testing.T) {
			if rt.Public != publicOK.MatchString(rt.Pattern) {
				t.Fatalf("route %s %s public=%v: the contract disagrees", rt.Method, rt.Pattern, rt.Public)
			}
			path := fillPattern(rt.Pattern)
			for _, auth := range []string{"", "Bearer vls_forged", "Basic YWRtaW46YWRtaW4=", "Bearer "} {
				hdr := map[string]string{}
				if auth != "" {
					hdr["Authorization"] = auth
				}
				r := w.call(rt.Method, path, hdr, nil, false)
				switch {
				case !rt.Public:
					if r.StatusCode != 401 {
						t.Fatalf("auth %q: status %d, want 401: %s", auth, r.StatusCode, r.body)
					}
					var e apiError
					r.json(t, &e)
					if e.Code != "unauthorized" || r.Header.Get("WWW-Authenticate") == "" {
						t.Fatalf("401 answer %s", r.body)
					}
				case rt.Pattern == "/api/v1/openapi.json":
					if r.StatusCode != 200 {
						t.Fatalf("status %d", r.StatusCode)
					}
				default: // a link route with a token naming nothing
					if r.StatusCode != 404 {
						t.Fatalf("auth %q: status %d, want 404: %s", auth, r.StatusCode, r.body)
					}
				}
				if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") == "" {
					t.Fatalf("security headers missing: %v", r.Header)
				}
			}
		})
	}
	t.Run("disabled user", func(t *testing.T) {
		_, bearer := w.user("mallory@example.org", "Mallory")
		mustStatus(t, w.api("GET", "/api/v1/me", bearer, nil), 200)
		if _, err := w.accounts.Disable(w.ctx, "mallory@example.org"); err != nil {
			t.Fatal(err)
		}
		mustStatus(t, w.api("GET", "/api/v1/me", bearer, nil), 401)
	})
	t.Run("another user's objects", func(t *testing.T) {
		a, ab := w.user("ann@example.org", "Ann")
		_, bb := w.user("ben@example.org", "Ben")
		f := w.upload(a.ID, "a.txt", []byte("ann's"))
		mustStatus(t, w.api("GET", "/api/v1/files/"+string(f.ID), bb, nil), 404)
		var cs createdSendJSON
		r := w.api("POST", "/api/v1/sends", ab, createSendJSON{To: []string{"x@example.org"}, Files: []string{string(f.ID)}})
		mustStatus(t, r, 201)
		r.json(t, &cs)
		mustStatus(t, w.api("GET", "/api/v1/sends/"+string(cs.Send.ID), bb, nil), 404)
		mustStatus(t, w.api("POST", "/api/v1/sends/"+string(cs.Send.ID)+"/revoke", bb, nil), 404)
		var toks tokensJSON
		r = w.api("GET", "/api/v1/me/tokens", ab, nil)
		r.json(t, &toks)
		mustStatus(t, w.api("DELETE", "/api/v1/me/tokens/"+toks.Tokens[0].ID, bb, nil), 404)
		mustStatus(t, w.api("GET", "/api/v1/me", ab, nil), 200)
	})
}

// TestAttackTokenGuessingRateLimited guesses link tokens from one address: after the burst
// every link route answers 429, whatever the token (issue 11).
func TestAttackTokenGuessingRateLimited(t *testing.T) {
	w := newWorld(t, withLinkBurst(5))
	for i := range 5 {
		r := w.api("GET", "/api/v1/links/"+strings.Repeat(string(rune('a'+i)), 43), "", nil)
		mustStatus(t, r, 404)
	}
	r := w.api("GET", "/api/v1/links/"+strings.Repeat("z", 43), "", nil)
	mustStatus(t, r, 429)
	var e apiError
	r.json(t, &e)
	if e.Code != "rate_limited" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("429 answer %s %v", r.body, r.Header)
	}
	mustStatus(t, w.call("GET", "/s/"+strings.Repeat("y", 43), nil, nil, true), 429)
	mustStatus(t, w.call("GET", "/s/"+strings.Repeat("y", 43)+"/files/"+uuid.NewString(), nil, nil, true), 429)
	// The document is not a link: never limited.
	mustStatus(t, w.api("GET", "/api/v1/openapi.json", "", nil), 200)
}

// TestAttackMarkupInSubjectAndMessage sends HTML, template syntax and a header-injection
// attempt: the page shows them as text, the mails carry them inertly, and a subject with a
// line break is refused (issue 11).
func TestAttackMarkupInSubjectAndMessage(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("eve@example.org", `Eve <b>"Boss"</b>`)
	f := w.upload(a.ID, "notes.txt", []byte("hello"))
	subject := `<script>alert(1)</script> {{.Token}} {{template "error"}}`
	msg := "<img src=x onerror=alert(1)>\n{{define \"link\"}}pwned{{end}}\n</pre><a href=\"javascript:alert(1)\">x</a>"
	r := w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"victim@example.org"}, Subject: subject, Message: msg, Files: []string{string(f.ID)},
	})
	mustStatus(t, r, 201)
	tok := linkToken(t, w.outbox(1)[0])
	page := w.call("GET", "/s/"+tok, nil, nil, true)
	mustStatus(t, page, 200)
	body := string(page.body)
	for _, bad := range []string{"<script>", "<img", "onerror=alert(1)>", `href="javascript:`, "<b>"} {
		if strings.Contains(body, bad) {
			t.Errorf("page carries %q live", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "{{.Token}}", "&lt;img src=x onerror=alert(1)&gt;",
		"{{define &#34;link&#34;}}pwned{{end}}", "Fichiers reçus", "notes.txt"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks the inert %q", want)
		}
	}
	if got := page.Header.Get("Content-Security-Policy"); got != csp.Policy(csp.LinkPage) {
		t.Errorf("page CSP %q", got)
	}
	mail := w.outbox(1)[0]
	if strings.Contains(mail.HTML, "<script>") || strings.Contains(mail.HTML, "<img") {
		t.Errorf("mail HTML carries markup live")
	}
	// A header injection through the subject is refused before anything is sent.
	r = w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"victim@example.org"}, Subject: "hi\r\nBcc: all@example.org", Files: []string{string(f.ID)},
	})
	mustStatus(t, r, 400)
	var e apiError
	r.json(t, &e)
	if e.Code != "text_invalid" {
		t.Fatalf("code %q", e.Code)
	}
}

// TestAttackFileNameInDisposition checks that no file name can inject a header or a second
// parameter into Content-Disposition, and that the exact name survives in filename*
// (issue 11: "../", NUL, control characters, RTL overrides, 10 000 characters).
func TestAttackFileNameInDisposition(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"crlf injection", "a.txt\r\nSet-Cookie: x=1\r\n\r\n<html>"},
		{"quote and parameter", `evil.txt"; filename="evil.exe`},
		{"dot dot slash", "../../etc/passwd"},
		{"nul", "a\x00b.txt"},
		{"rtl override", "invoice\u202egnp.exe"},
		{"non-ascii", "rapport été 2026 – final.pdf"},
		{"long", strings.Repeat("é", 10000)},
		{"invalid utf-8", "a\xff\xfe.txt"},
		{"only dots", "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cd := contentDisposition(tc.file)
			if strings.ContainsFunc(cd, func(r rune) bool { return r < 0x20 || r >= 0x7f }) {
				t.Fatalf("disposition has a control or non-ASCII character: %q", cd)
			}
			if !strings.HasPrefix(cd, `attachment; filename="`) || strings.Count(cd, `"`) != 2 || strings.Count(cd, ";") != 2 {
				t.Fatalf("disposition %q", cd)
			}
			_, star, _ := strings.Cut(cd, "filename*=UTF-8''")
			got, err := url.PathUnescape(star)
			if err != nil {
				t.Fatalf("filename* %q: %v", star, err)
			}
			if want := downloadName(tc.file); got != want {
				t.Fatalf("filename* decodes to %q, want %q", got, want)
			}
		})
	}
	t.Run("served", func(t *testing.T) {
		w := newWorld(t)
		a, bearer := w.user("fay@example.org", "Fay")
		name := `café "menu"; x=1.pdf`
		f := w.upload(a.ID, name, []byte("menu"))
		mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{To: []string{"g@example.org"}, Files: []string{string(f.ID)}}), 201)
		tok := linkToken(t, w.outbox(1)[0])
		r := w.call("GET", "/s/"+tok+"/files/"+string(f.ID), nil, nil, true)
		mustStatus(t, r, 200)
		want := `attachment; filename="caf_ _menu__ x=1.pdf"; filename*=UTF-8''caf%C3%A9%20_menu_%3B%20x%3D1.pdf`
		if got := r.Header.Get("Content-Disposition"); got != want {
			t.Fatalf("Content-Disposition %q, want %q", got, want)
		}
	})
}

// TestLinkPageLanguageAndCodeChallenge follows a send that asks for an e-mail code through
// the page: French by default, English by Accept-Language, the code mailed, the form
// checked, the grant cookie set for the link only, the download allowed.
func TestLinkPageLanguageAndCodeChallenge(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("hal@example.org", "Hal")
	f := w.upload(a.ID, "plan.txt", []byte("the plan"))
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"ida@example.org"}, Files: []string{string(f.ID)}, Options: sendOptionsJSON{EmailCode: true},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])
	fr := w.call("GET", "/s/"+tok, nil, nil, true)
	mustStatus(t, fr, 200)
	en := w.call("GET", "/s/"+tok, map[string]string{"Accept-Language": "en-US,en;q=0.8"}, nil, true)
	if !strings.Contains(string(fr.body), "Fichiers reçus") || !strings.Contains(string(en.body), "Files for you") {
		t.Fatalf("languages: %s / %s", fr.body, en.body)
	}
	if !strings.Contains(string(fr.body), `action="/s/`+tok+`/code"`) {
		t.Fatalf("no code form")
	}
	dl := "/s/" + tok + "/files/" + string(f.ID)
	mustStatus(t, w.call("GET", dl, nil, nil, true), 403)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	r := w.call("POST", "/s/"+tok+"/code", form, []byte(""), true)
	mustStatus(t, r, 303)
	mail := w.outbox(2)[1]
	code := regexp.MustCompile(`\b[0-9]{8}\b`).FindString(mail.Text)
	if code == "" || mail.To[0] != "ida@example.org" {
		t.Fatalf("code mail %+v", mail)
	}
	r = w.call("POST", "/s/"+tok+"/code/verify", form, []byte("code=00000000"), true)
	mustStatus(t, r, 303)
	if loc := r.Header.Get("Location"); loc != "/s/"+tok+"?e=wrong_code" {
		t.Fatalf("Location %q", loc)
	}
	r = w.call("POST", "/s/"+tok+"/code/verify", form, []byte("code="+code), true)
	mustStatus(t, r, 303)
	// The client's cookie jar now holds the grant for /s/{token} only.
	r = w.call("GET", dl, nil, nil, true)
	mustStatus(t, r, 200)
	if string(r.body) != "the plan" {
		t.Fatalf("body %q", r.body)
	}
	var v json.RawMessage
	w.api("GET", "/api/v1/links/"+tok, "", nil).json(t, &v)
}

// TestErrorMessagesComplete checks that every code errorStatus can give has its message in
// French and in English in the catalog (issue 17 item 2: the API's messages live in
// locale's catalog, under "api.<code>").
func TestErrorMessagesComplete(t *testing.T) {
	for _, code := range apiCodes() {
		fr, en := locale.For(locale.French), locale.For(locale.English)
		if !fr.Has("api."+code) || !en.Has("api."+code) {
			t.Errorf("code %s: no message in French or English", code)
			continue
		}
		if m := fr.T("api." + code); !unicode.IsUpper([]rune(m)[0]) || m == en.T("api."+code) {
			t.Errorf("code %s: messages %q / %q", code, m, en.T("api."+code))
		}
	}
}

// TestPagePasswordForm follows the page's password form: a wrong password comes back as a
// notice from a fixed list (the query cannot inject text), the right one sets the grant and
// the form disappears.
func TestPagePasswordForm(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("ivy@example.org", "Ivy")
	f := w.upload(a.ID, "x.txt", []byte("x"))
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"jo@example.org"}, Files: []string{string(f.ID)}, Options: sendOptionsJSON{Password: "open sesame"},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	r := w.call("POST", "/s/"+tok+"/password", form, []byte("password=nope"), true)
	mustStatus(t, r, 303)
	loc := r.Header.Get("Location")
	if loc != "/s/"+tok+"?e=wrong_password" {
		t.Fatalf("Location %q", loc)
	}
	r = w.call("GET", loc, nil, nil, true)
	if !strings.Contains(string(r.body), "Mot de passe incorrect.") || !strings.Contains(string(r.body), `name="password"`) {
		t.Fatalf("page after a wrong password: %s", r.body)
	}
	r = w.call("GET", "/s/"+tok+"?e=%3Cscript%3Ealert(1)%3C/script%3E", nil, nil, true)
	if strings.Contains(string(r.body), "script") {
		t.Fatal("the page echoes an unknown notice")
	}
	mustStatus(t, w.call("POST", "/s/"+tok+"/password", form, []byte("password=open+sesame"), true), 303)
	r = w.call("GET", "/s/"+tok, nil, nil, true)
	if strings.Contains(string(r.body), `name="password"`) {
		t.Fatal("the password form is still shown after the grant")
	}
	mustStatus(t, w.call("GET", "/s/"+tok+"/files/"+string(f.ID), nil, nil, true), 200)
	// A JSON body on the form route is refused before the password is checked.
	r = w.call("POST", "/s/"+tok+"/password", map[string]string{"Content-Type": "application/json"}, []byte(`{"password":"x"}`), false)
	mustStatus(t, r, 415)
}

// TestMethodNotAllowed: a known path with another method gets 405, Allow, and the security
// headers, before any authentication; an unknown path is not the API's (false → 404).
func TestMethodNotAllowed(t *testing.T) {
	w := newWorld(t)
	r := w.call("PUT", "/api/v1/sends", nil, nil, false)
	mustStatus(t, r, 405)
	if r.Header.Get("Allow") != "GET, POST" || r.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("405 headers %v", r.Header)
	}
	mustStatus(t, w.call("GET", "/api/v1/nothing", nil, nil, false), 404)
	mustStatus(t, w.call("GET", "/s/", nil, nil, false), 404)
}
