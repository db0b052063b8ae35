package api

import (
	"strings"
	"testing"
)

// TestMailsWearTheProduct: once the branding settings give a name (SetProduct, as the node
// does), the invitations name the product; before, "Valise". The pages' brand is httpd/web's
// (TestLinkPagesWearTheBrand there).
func TestMailsWearTheProduct(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("jo@example.org", "Jo")
	f := w.upload(a.ID, "plan.pdf", []byte("plan"))
	for i, product := range []string{"Valise", "Mairie <de> Trifouillis"} {
		if i > 0 {
			w.h.SetProduct(product)
		}
		mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
			To: []string{"kim@example.org"}, Files: []string{string(f.ID)},
		}), 201)
		mail := w.outbox(i + 1)[i]
		if !strings.HasSuffix(mail.FromName, " via "+product) || !strings.Contains(mail.Text, "par "+product+".") {
			t.Errorf("the mail does not name %q: from %q\n%s", product, mail.FromName, mail.Text)
		}
	}
}

// TestRefusedDownloadNoticesShow: a browser's refused download goes back to the link's page
// with ?e=code only for the codes the page says it shows (Deps.Pages.ShowsNotice, one table
// in httpd/web since issue 17 item 3), and the page says each of them rather than drop it,
// in the API's own wording.
func TestRefusedDownloadNoticesShow(t *testing.T) {
	w := newWorld(t)
	a, bearer := w.user("jo@example.org", "Jo")
	f := w.upload(a.ID, "plan.pdf", []byte("plan"))
	mustStatus(t, w.api("POST", "/api/v1/sends", bearer, createSendJSON{
		To: []string{"kim@example.org"}, Files: []string{string(f.ID)},
	}), 201)
	tok := linkToken(t, w.outbox(1)[0])
	shown := 0
	for _, code := range apiCodes() {
		if !w.web.ShowsNotice(code) {
			continue
		}
		shown++
		t.Run(code, func(t *testing.T) {
			r := w.call("GET", "/s/"+tok+"?e="+code, nil, nil, false)
			mustStatus(t, r, 200)
			if want := `<p class="error" role="alert">` + message(code, "fr") + `</p>`; !strings.Contains(string(r.body), strings.ReplaceAll(want, "'", "&#39;")) {
				t.Errorf("the page does not say %q:\n%s", want, r.body)
			}
		})
	}
	if shown == 0 {
		t.Fatal("the page shows no API code's notice")
	}
}
