package notify

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzRenderSend feeds arbitrary user text (subject, message, sender name, file name) to the
// send template: header values never keep a control character, and user markup never comes
// out live in the HTML part.
func FuzzRenderSend(f *testing.F) {
	for _, s := range []string{"", "Hi\r\nBcc: x@y", "<script>alert(1)</script>", "{{.Link}}", "é\u2028\x00"} {
		f.Add(s, s, s, s)
	}
	f.Fuzz(func(t *testing.T, subject, message, sender, file string) {
		d := sendData()
		// Each user string starts with markup that must come out escaped.
		const tag = "<zqx"
		d.Subject, d.Message, d.SenderName, d.Files[0].Name = tag+subject, tag+message, tag+sender, tag+file
		for _, lang := range []string{"fr", "en"} {
			m, err := Render(KindSend, lang, "", d)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []string{m.Subject, m.FromName} {
				if strings.ContainsFunc(h, unicode.IsControl) {
					t.Fatalf("header value %q keeps a control character", h)
				}
			}
			if strings.Contains(m.HTML, tag) {
				t.Fatalf("user markup came out unescaped:\n%s", m.HTML)
			}
		}
	})
}
