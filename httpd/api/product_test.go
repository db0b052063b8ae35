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
