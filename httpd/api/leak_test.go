package api

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"valise/httpd/linkgrant"
	"valise/transfer"
)

// TestAttackLinkContentLeaksBeforeChallenge: whoever holds a link (a forwarded mail, a
// shoulder-surfed URL) saw the subject, message, file names, sizes and SHA-256 of a send
// that asks for a password or an e-mail code before passing it, through GET
// /api/v1/links/{token} and the link page (issue 16 item 6). Until every challenge is passed
// they now show only the sender's name, which challenges are asked and the language switch;
// the download buttons of a locked page lead back to the page, never to a bare error page.
func TestAttackLinkContentLeaksBeforeChallenge(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts sendOptionsJSON
	}{
		{"password", sendOptionsJSON{Password: "open sesame"}},
		{"e-mail code", sendOptionsJSON{EmailCode: true}},
		{"password and e-mail code", sendOptionsJSON{Password: "open sesame", EmailCode: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			a, bearer := w.user("kim@example.org", "Kim Sender")
			f := w.upload(a.ID, "plan-de-rachat.pdf", []byte("the secret acquisition plan"))
			mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
				To: []string{"lea@example.org"}, Files: []string{string(f.ID)}, Options: tc.opts,
				Subject: "Contrat confidentiel", Message: "Prix convenu : 4 200 000 euros",
			}), 201)
			tok := linkToken(t, w.outbox(1)[0])
			secrets := []string{"Contrat confidentiel", "4 200 000", "plan-de-rachat", f.SHA256, string(f.ID), "lea@example.org", "kim@example.org"}
			leaks := func(what string, body []byte) {
				t.Helper()
				for _, s := range secrets {
					if strings.Contains(string(body), s) {
						t.Errorf("%s shows %q before the challenge", what, s)
					}
				}
			}

			r := w.api("GET", "/api/v1/links/"+tok, "", nil)
			mustStatus(t, r, 200)
			leaks("GET /api/v1/links/{token}", r.body)
			var v transfer.LinkView
			r.json(t, &v)
			if !v.Locked || v.From.Name != "Kim Sender" || v.PasswordRequired != (tc.opts.Password != "") || v.EmailCodeRequired != tc.opts.EmailCode {
				t.Errorf("locked view %+v", v)
			}
			page := w.call("GET", "/s/"+tok, nil, nil, true)
			mustStatus(t, page, 200)
			leaks("the link page", page.body)
			for _, want := range []string{"Kim Sender", `id="locked"`, `href="?lang=en"`} {
				if !strings.Contains(string(page.body), want) {
					t.Errorf("the locked page lacks %q", want)
				}
			}
			// Download buttons of a locked link lead back to its page, which says why.
			html := map[string]string{"Accept": "text/html,application/xhtml+xml"}
			for _, path := range []string{"/s/" + tok + "/files/" + string(f.ID), "/s/" + tok + "/zip"} {
				r := w.call("GET", path, html, nil, false)
				mustStatus(t, r, 303)
				if loc := r.Header.Get("Location"); loc != "/s/"+tok+"?e=challenge_required" {
					t.Errorf("GET %s: Location %q", path, loc)
				}
				leaks("GET "+path, r.body)
			}
			r = w.call("GET", "/s/"+tok+"?e=challenge_required", nil, nil, true)
			if !strings.Contains(string(r.body), "Mot de passe ou code requis") {
				t.Errorf("the page does not say why the download was refused: %s", r.body)
			}
			// The language switch works before the challenge and sticks.
			r = w.call("GET", "/s/"+tok+"?lang=en", nil, nil, true)
			if !strings.Contains(string(r.body), "Files for you") || !strings.Contains(r.Header.Get("Set-Cookie"), "lang=en") {
				t.Errorf("language switch: %s", r.body)
			}

			// Pass the challenges through the API: the grant shows everything.
			grant := ""
			if tc.opts.Password != "" {
				var g grantJSON
				r := w.api("POST", "/api/v1/links/"+tok+"/password", "", passwordBody{Password: "open sesame"})
				mustStatus(t, r, 200)
				r.json(t, &g)
				grant = g.Grant
				if tc.opts.EmailCode {
					r := w.call("GET", "/api/v1/links/"+tok, map[string]string{linkgrant.Header: grant}, nil, true)
					leaks("a view after the password alone", r.body)
					r.json(t, &v)
					if !v.Locked || !v.PasswordPassed || v.EmailCodePassed {
						t.Errorf("half-passed view %+v", v)
					}
				}
			}
			if tc.opts.EmailCode {
				mustStatus(t, w.call("POST", "/api/v1/links/"+tok+"/code", map[string]string{linkgrant.Header: grant}, nil, true), 202)
				code := regexp.MustCompile(`\b[0-9]{8}\b`).FindString(w.outbox(2)[1].Text)
				body, _ := json.Marshal(codeBody{Code: code})
				var g grantJSON
				r := w.call("POST", "/api/v1/links/"+tok+"/code/verify", map[string]string{linkgrant.Header: grant, "Content-Type": "application/json"}, body, true)
				mustStatus(t, r, 200)
				r.json(t, &g)
				grant = g.Grant
			}
			r = w.call("GET", "/api/v1/links/"+tok, map[string]string{linkgrant.Header: grant}, nil, true)
			mustStatus(t, r, 200)
			r.json(t, &v)
			if v.Locked || v.Subject != "Contrat confidentiel" || len(v.Files) != 1 || v.Files[0].SHA256 != f.SHA256 || v.From.Email != "kim@example.org" {
				t.Errorf("unlocked view %+v", v)
			}
		})
	}
}
