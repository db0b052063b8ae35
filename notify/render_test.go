package notify

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func sendData() SendData {
	return SendData{
		SenderName:  "Alice Martin",
		SenderEmail: "alice@example.org",
		Subject:     "Contrats 2027",
		Message:     "Voici les contrats.\nBonne lecture.",
		Link:        "https://valise.example.org/s/Tok3nTok3nTok3n",
		Files: []File{
			{Name: "contrat.pdf", Size: 1_500_000, SHA256: strings.Repeat("ab", 32)},
			{Name: "image.iso", Size: 4_300_000_000, SHA256: strings.Repeat("cd", 32), ScannedInWindows: true},
			{Name: "archive.tar", Size: 9_000_000_000, SHA256: strings.Repeat("ef", 32), NotScanned: true},
			// issue 16 item 7: found clean with the built-in test signatures only.
			{Name: "notes.odt", Size: 20_000, SHA256: strings.Repeat("01", 32), TestSignaturesOnly: true},
		},
		Expires:     time.Date(2026, 11, 30, 14, 5, 0, 0, time.UTC),
		PasswordSet: true,
	}
}

func TestRenderSend(t *testing.T) {
	for _, tc := range []struct {
		name, lang string
		want       []string // in both parts
		wantText   []string
	}{
		{"french", "fr", []string{"Alice Martin", "https://valise.example.org/s/Tok3nTok3nTok3n", "contrat.pdf",
			"1,5\u00a0Mo", "4,3\u00a0Go", strings.Repeat("ab", 32), "lundi 30 novembre 2026 à 14:05 (UTC)",
			"communiqué par un autre moyen", "analysé par fenêtres", "non vérifié avec de vraies signatures antivirus"}, []string{"Voici les contrats.\nBonne lecture.", "archive.tar (9,0\u00a0Go), NON analysé par l'antivirus"}},
		{"english", "en", []string{"Alice Martin", "https://valise.example.org/s/Tok3nTok3nTok3n", "image.iso",
			"1.5\u00a0MB", "4.3\u00a0GB", strings.Repeat("cd", 32), "Monday 30 November 2026 at 14:05 (UTC)",
			"reach you by another channel", "scanned in windows", "not checked against real antivirus signatures"}, []string{"archive.tar (9.0\u00a0GB), NOT scanned by the antivirus"}},
		{"accept-language english", "en-GB,en;q=0.9", []string{"1.5\u00a0MB"}, nil},
		{"unknown language falls back to french", "de", []string{"1,5\u00a0Mo"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Render(KindSend, tc.lang, "", sendData())
			if err != nil {
				t.Fatal(err)
			}
			if m.FromName != "Alice Martin via Valise" || m.Subject != "Contrats 2027" || m.ReplyTo != "alice@example.org" {
				t.Fatalf("from %q subject %q reply-to %q", m.FromName, m.Subject, m.ReplyTo)
			}
			for _, w := range tc.want {
				if !strings.Contains(m.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, m.Text)
				}
				if !strings.Contains(m.HTML, w) {
					t.Errorf("html lacks %q", w)
				}
			}
			for _, w := range tc.wantText {
				if !strings.Contains(m.Text, w) {
					t.Errorf("text lacks %q:\n%s", w, m.Text)
				}
			}
		})
	}
}

func TestRenderSendWithoutPasswordOrSubject(t *testing.T) {
	d := sendData()
	d.PasswordSet, d.Subject = false, ""
	d.Files = d.Files[:1]
	for _, lang := range []string{"fr", "en"} {
		m, err := Render(KindSend, lang, "", d)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(m.Text, "password") || strings.Contains(m.Text, "mot de passe") {
			t.Errorf("%s: password line without a password:\n%s", lang, m.Text)
		}
		if !strings.HasPrefix(m.Subject, "Alice Martin ") {
			t.Errorf("%s: default subject %q", lang, m.Subject)
		}
	}
}

func TestRenderOtherKinds(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		kind Kind
		data any
		want []string
	}{
		{"receipt fr", KindReceipt, ReceiptData{SenderName: "Alice", RecipientEmail: "bob@example.org", Subject: "Contrats",
			Files: []File{{Name: "a.pdf", Size: 2_000}}, When: when}, []string{"bob@example.org", "a.pdf", "2,0\u00a0ko", "1 décembre 2026"}},
		{"receipt en", KindReceipt, ReceiptData{SenderName: "Alice", RecipientEmail: "bob@example.org",
			Files: []File{{Name: "a.pdf", Size: 2_000}}, When: when}, []string{"bob@example.org", "2.0\u00a0kB", "1 December 2026"}},
		{"code fr", KindVerifyCode, CodeData{SenderName: "Alice", Code: "482913", ValidFor: 15 * time.Minute}, []string{"482913", "15 minutes"}},
		{"code en", KindVerifyCode, CodeData{SenderName: "Alice", Code: "482913", ValidFor: 15 * time.Minute}, []string{"482913", "15 minutes"}},
		{"infected fr", KindInfected, InfectedData{SenderName: "Alice", FileName: "x.exe", Signature: "Win.Test.EICAR_HDB-1"}, []string{"x.exe", "Win.Test.EICAR_HDB-1", "quarantaine"}},
		{"infected en", KindInfected, InfectedData{SenderName: "Alice", FileName: "x.exe", Signature: "Win.Test.EICAR_HDB-1"}, []string{"x.exe", "quarantined"}},
		// issue 16 item 3: a send waiting for the antivirus is cancelled, and the sender told.
		{"infected cancels send fr", KindInfected, InfectedData{SenderName: "Alice", Subject: "Contrat", FileName: "x.exe", Cancelled: true}, []string{"x.exe", "Contrat", "annulé"}},
		{"infected cancels send en", KindInfected, InfectedData{SenderName: "Alice", Subject: "Contrat", FileName: "x.exe", Cancelled: true}, []string{"x.exe", "Contrat", "cancelled"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Render(tc.kind, tc.name[len(tc.name)-2:], "", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if m.Subject == "" || m.Text == "" || m.HTML == "" || m.Kind != tc.kind {
				t.Fatalf("incomplete message %+v", m)
			}
			for _, w := range tc.want {
				if !strings.Contains(m.Text, w) || !strings.Contains(m.HTML, w) {
					t.Errorf("lacks %q:\n%s\n%s", w, m.Text, m.HTML)
				}
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	if _, err := Render(KindSend, "fr", "", CodeData{}); !errors.Is(err, ErrBadData) {
		t.Fatalf("wrong data: %v", err)
	}
	if _, err := Render("fax", "fr", "", SendData{}); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("unknown kind: %v", err)
	}
}

// TestHTMLInSubjectAndMessageIsInert guards against a sender putting markup or script in the
// subject or message of a send: the HTML part must show it as text.
func TestHTMLInSubjectAndMessageIsInert(t *testing.T) {
	d := sendData()
	d.Subject = `<img src=x onerror=alert(1)>Hi`
	d.Message = `<script>alert("x")</script><a href="javascript:alert(1)">click</a>`
	d.SenderName = `<b>Mallory</b>`
	d.Files[0].Name = `"><svg onload=alert(1)>.pdf`
	for _, lang := range []string{"fr", "en"} {
		m, err := Render(KindSend, lang, "", d)
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"<script", "<img", "<svg", `href="javascript`, "<b>Mallory"} {
			if strings.Contains(m.HTML, bad) {
				t.Errorf("%s: HTML part contains live %q", lang, bad)
			}
		}
		if !strings.Contains(m.HTML, "&lt;script&gt;") {
			t.Errorf("%s: the message is not shown escaped", lang)
		}
		if !strings.Contains(m.Text, d.Message) {
			t.Errorf("%s: the text part does not carry the message verbatim", lang)
		}
	}
}

// TestTemplateSyntaxInUserTextIsInert guards against template injection: template actions in
// user text are printed, never executed.
func TestTemplateSyntaxInUserTextIsInert(t *testing.T) {
	d := sendData()
	d.Message = `{{.Link}} {{template "send" .}} {{printf "%s" "x"}}`
	d.Subject = `{{.SenderEmail}}`
	m, err := Render(KindSend, "en", "", d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Text, d.Message) || m.Subject != d.Subject {
		t.Fatalf("template syntax was interpreted: subject %q\n%s", m.Subject, m.Text)
	}
}

// TestHeaderInjectionInSubjectAndSenderName guards against CR/LF in user text reaching mail
// headers (a "Bcc:" smuggled through the subject or the sender's display name).
func TestHeaderInjectionInSubjectAndSenderName(t *testing.T) {
	d := sendData()
	d.Subject = "Hello\r\nBcc: victim@example.net\r\n\r\nbody"
	d.SenderName = "Alice\nX-Evil: 1"
	m, err := Render(KindSend, "en", "", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{m.Subject, m.FromName} {
		if strings.ContainsAny(h, "\r\n") {
			t.Fatalf("header value %q keeps a line break", h)
		}
	}
	if m.Subject != "Hello Bcc: victim@example.net body" || m.FromName != "Alice X-Evil: 1 via Valise" {
		t.Fatalf("subject %q from %q", m.Subject, m.FromName)
	}
}

// TestRenderBranded: the branding's product name replaces Valise in the From name, the body
// and the footer of every kind, inertly (markup escaped in HTML, no header break).
func TestRenderBranded(t *testing.T) {
	const product = "Mairie <de> Trifouillis"
	for _, tc := range []struct {
		kind Kind
		data any
	}{
		{KindSend, sendData()},
		{KindVerifyCode, CodeData{SenderName: "Alice", Code: "123456", ValidFor: 10 * time.Minute}},
	} {
		for _, lang := range []string{"fr", "en"} {
			m, err := Render(tc.kind, lang, product+"\r\nBcc: x@evil.example", tc.data)
			if err != nil {
				t.Fatal(err)
			}
			if strings.ContainsAny(m.FromName, "\r\n") || m.FromName != "Alice"+map[Kind]string{KindSend: " Martin"}[tc.kind]+" via "+cleanHeader(product+"\r\nBcc: x@evil.example") {
				t.Errorf("%s/%s: From name %q", tc.kind, lang, m.FromName)
			}
			if strings.Contains(m.Text+m.HTML+m.Subject, "Valise") {
				t.Errorf("%s/%s: Valise still named:\n%s\n%s", tc.kind, lang, m.Text, m.HTML)
			}
			if !strings.Contains(m.Text, product) || !strings.Contains(m.HTML, "Mairie &lt;de&gt; Trifouillis") || strings.Contains(m.HTML, "<de>") {
				t.Errorf("%s/%s: product not shown inertly:\n%s\n%s", tc.kind, lang, m.Text, m.HTML)
			}
		}
	}
}

// TestNoDanglingCommaWithoutName: a sender without a display name got "Bonjour ," and
// "Hello ," in their receipts and infected-file mails (issue 16 item 9). No mail of any kind,
// in either language or part, may greet an empty name or leave a space before a comma.
func TestNoDanglingCommaWithoutName(t *testing.T) {
	when := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	files := []File{{Name: "a.pdf", Size: 2_000}}
	for _, tc := range []struct {
		kind Kind
		data any
	}{
		{KindSend, SendData{SenderEmail: "a@example.org", Link: "https://v.example/s/x", Files: files, Expires: when}},
		{KindReceipt, ReceiptData{RecipientEmail: "bob@example.org", Files: files, When: when}},
		{KindVerifyCode, CodeData{Code: "482913", ValidFor: 15 * time.Minute}},
		{KindInfected, InfectedData{FileName: "x.exe", Signature: "Win.Test.EICAR_HDB-1"}},
	} {
		for _, lang := range []string{"fr", "en"} {
			t.Run(string(tc.kind)+" "+lang, func(t *testing.T) {
				m, err := Render(tc.kind, lang, "", tc.data)
				if err != nil {
					t.Fatal(err)
				}
				for part, body := range map[string]string{"text": m.Text, "html": m.HTML, "subject": m.Subject} {
					for _, bad := range []string{"Bonjour ,", "Hello ,", " ,", "Bonjour <", "Hello <"} {
						if strings.Contains(body, bad) {
							t.Errorf("%s part holds %q:\n%s", part, bad, body)
						}
					}
				}
			})
		}
	}
}

// TestRenderSendGreetsByName guards issue 16 item 9: the invitation greets the recipient by
// the display name the sender pasted ("Marie Dupont <marie@example.org>"), and with no name
// says "Bonjour," (never "Bonjour ,").
func TestRenderSendGreetsByName(t *testing.T) {
	for _, tc := range []struct {
		name, lang, recipient, want string
	}{
		{"fr with name", "fr", "Marie Dupont", "Bonjour Marie Dupont,"},
		{"fr without", "fr", "", "Bonjour,"},
		{"en with name", "en", "Marie Dupont", "Hello Marie Dupont,"},
		{"en without", "en", "", "Hello,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := sendData()
			d.RecipientName = tc.recipient
			m, err := Render(KindSend, tc.lang, "", d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(m.Text, tc.want) || !strings.Contains(m.HTML, tc.want) || strings.Contains(m.Text, " ,") {
				t.Fatalf("greeting: want %q in\n%s\n%s", tc.want, m.Text, m.HTML)
			}
		})
	}
}
