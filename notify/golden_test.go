package notify

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"valise/locale"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the templates")

// TestRenderGolden: every kind of mail, in both languages and with its optional parts on and
// off, renders byte for byte as testdata/*.golden (refreshed with -update). The wording moved
// from one template file per language into the locale catalog (issue 17 item 3) without
// changing a byte of any mail.
func TestRenderGolden(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	bare := sendData()
	bare.Subject, bare.Message, bare.PasswordSet, bare.SenderName = "", "", false, ""
	bare.Files = bare.Files[:1]
	named := sendData()
	named.RecipientName = "Marie Dupont"
	for _, tc := range []struct {
		name    string
		kind    Kind
		product string
		data    any
	}{
		{"send", KindSend, "", named},
		{"send-bare", KindSend, "Mairie <de> Trifouillis", bare},
		{"receipt", KindReceipt, "", ReceiptData{SenderName: "Alice", RecipientEmail: "bob@example.org", Subject: "Contrats",
			Files: []File{{Name: "a.pdf", Size: 2_000}, {Name: "b <c>.pdf", Size: 3_000_000}}, When: when}},
		{"receipt-bare", KindReceipt, "", ReceiptData{RecipientEmail: "bob@example.org", Files: []File{{Name: "a.pdf", Size: 2_000}}, When: when}},
		{"code", KindVerifyCode, "", CodeData{SenderName: "Alice", Code: "48291357", ValidFor: 15 * time.Minute}},
		{"code-bare", KindVerifyCode, "Mairie", CodeData{Code: "48291357", ValidFor: 90 * time.Minute}},
		{"infected", KindInfected, "", InfectedData{SenderName: "Alice", Subject: "Contrat", FileName: "x.exe", Signature: "Win.Test.EICAR_HDB-1", Cancelled: true}},
		{"infected-bare", KindInfected, "", InfectedData{FileName: "x.exe"}},
	} {
		for _, lang := range []string{"fr", "en"} {
			t.Run(tc.name+"-"+lang, func(t *testing.T) {
				m, err := Render(tc.kind, lang, tc.product, tc.data)
				if err != nil {
					t.Fatal(err)
				}
				got := strings.Join([]string{"From: " + m.FromName, "Reply-To: " + m.ReplyTo, "Subject: " + m.Subject,
					"--- text", m.Text, "--- html", m.HTML}, "\n")
				path := filepath.Join("testdata", tc.name+"-"+lang+".golden")
				if *update {
					if err := os.MkdirAll("testdata", 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Errorf("%s differs from %s:\n%s", tc.name, path, got)
				}
			})
		}
	}
}

// TestWordingValuesStayInert: a value put into a catalog message is neither run as template
// text nor rewritten: its template syntax, NUL bytes and no-break spaces come out as given
// (text part), escaped as html/template escapes (HTML part).
func TestWordingValuesStayInert(t *testing.T) {
	name := "{{.Name}} <b>\x000\x00\u00a0+"
	for _, tc := range []struct {
		lang string
		html bool
		want string
	}{
		{"fr", false, "Bonjour " + name + ","},
		{"en", false, "Hello " + name + ","},
		{"fr", true, "Bonjour {{.Name}} &lt;b&gt;\uFFFD0\uFFFD\u00a0&#43;,"},
	} {
		if got := wording(locale.For(tc.lang), tc.html, "mail.hello", "Name", name); got != tc.want {
			t.Errorf("%s html=%v: %q, want %q", tc.lang, tc.html, got, tc.want)
		}
	}
}
