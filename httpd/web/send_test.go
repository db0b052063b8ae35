package web

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"valise/account"
	"valise/transfer"
	"valise/transfer/filetest"
)

var (
	formInputRe  = regexp.MustCompile(`<input\b[^>]*>`)
	formAttrRe   = regexp.MustCompile(`\b(name|value|type)="([^"]*)"`)
	formSelectRe = regexp.MustCompile(`(?s)<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>`)
	formOptionRe = regexp.MustCompile(`<option value="([^"]*)" selected>`)
	formTextRe   = regexp.MustCompile(`(?s)<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>`)
)

// formOf returns what a browser would post from the compose form of page: its text and
// hidden inputs, checked boxes, selected options and text areas.
func formOf(t *testing.T, page string) url.Values {
	t.Helper()
	start := strings.Index(page, `id="send-form"`)
	if start < 0 {
		t.Fatal("no compose form on the page")
	}
	form := page[start:]
	form = form[:strings.Index(form, "</form>")]
	v := url.Values{}
	for _, in := range formInputRe.FindAllString(form, -1) {
		attrs := map[string]string{"type": "text"}
		for _, m := range formAttrRe.FindAllStringSubmatch(in, -1) {
			attrs[m[1]] = html.UnescapeString(m[2])
		}
		name := attrs["name"]
		switch {
		case name == "":
		case attrs["type"] == "checkbox":
			if strings.Contains(in, " checked") {
				v.Add(name, "on")
			}
		case attrs["type"] == "file":
		default:
			v.Add(name, attrs["value"])
		}
	}
	for _, m := range formSelectRe.FindAllStringSubmatch(form, -1) {
		if o := formOptionRe.FindStringSubmatch(m[2]); o != nil {
			v.Set(m[1], o[1])
		}
	}
	for _, m := range formTextRe.FindAllStringSubmatch(form, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// TestComposeErrorKeepsEveryOption guards issue 16 item 2: the compose form that comes back
// with an error used to drop the link password, so a second click on "Envoyer" sent the
// files unprotected. Every option must come back, and sending the form as shown must create
// the send with every option the user chose.
func TestComposeErrorKeepsEveryOption(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "contrat.pdf", []byte(strings.Repeat("contrat ", 4000)))
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")

	r := c.post("/send", url.Values{
		"csrf": {token}, "to": {"not-an-address"}, "subject": {"Contrat confidentiel"}, "message": {"Ci-joint."},
		"file": {string(f.ID)}, "password": {"un mot de passe sûr"}, "expiry_days": {"14"}, "download_limit": {"3"},
		"delete_after_download": {"on"}, "receipts": {"on"}, "email_code": {"on"},
	})
	if r.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad address: status %d", r.StatusCode)
	}
	shown := formOf(t, r.body)
	for _, want := range []struct{ field, value string }{
		{"password", "un mot de passe sûr"}, {"password_set", "1"}, {"subject", "Contrat confidentiel"},
		{"message", "Ci-joint."}, {"file", string(f.ID)}, {"expiry_days", "14"}, {"download_limit", "3"},
		{"delete_after_download", "on"}, {"receipts", "on"}, {"email_code", "on"},
	} {
		if got := shown.Get(want.field); got != want.value {
			t.Errorf("the form came back with %s = %q, want %q", want.field, got, want.value)
		}
	}

	// The user fixes the address and sends the form as shown.
	shown.Set("to", "bob@example.org")
	if r = c.post("/send", shown); r.StatusCode != http.StatusOK {
		t.Fatalf("send: status %d: %s", r.StatusCode, r.body)
	}
	sends, err := e.sends.ListSends(e.ctx, alice.ID)
	if err != nil || len(sends) != 1 {
		t.Fatalf("sends: %d, %v", len(sends), err)
	}
	o := sends[0].Options
	if !o.PasswordRequired || !o.EmailCode || !o.Receipts || !o.DeleteAfterDownload || o.DownloadLimit != 3 {
		t.Errorf("the send lost options the form showed: %+v", o)
	}
	if d := sends[0].Expires.Sub(sends[0].Created); d != 14*24*time.Hour {
		t.Errorf("expiry %v, want 14 days", d)
	}
}

// TestComposePasswordLostRefused guards issue 16 item 2 on the server side: a post whose
// form showed a password (the password_set marker) but carries none is refused, saying why,
// rather than creating an unprotected send; sending again (the marker gone) is a choice.
func TestComposePasswordLostRefused(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "contrat.pdf", []byte(strings.Repeat("contrat ", 4000)))
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")

	r := c.post("/send", url.Values{
		"csrf": {token}, "to": {"bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"},
		"password": {""}, "password_set": {"1"}, "receipts": {"on"},
	})
	if r.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(r.body, "Le mot de passe du lien a été effacé") {
		t.Fatalf("status %d: the lost password was not refused", r.StatusCode)
	}
	if sends, _ := e.sends.ListSends(e.ctx, alice.ID); len(sends) != 0 {
		t.Fatalf("%d sends created without the password the form showed", len(sends))
	}
	again := formOf(t, r.body)
	if again.Has("password_set") {
		t.Fatal("the refused form still carries the marker: the user could never send without a password")
	}
	if !again.Has("receipts") || again.Get("to") != "bob@example.org" {
		t.Errorf("the refused form lost fields: %v", again)
	}
	if r = c.post("/send", again); r.StatusCode != http.StatusOK {
		t.Fatalf("deliberate send without password: status %d", r.StatusCode)
	}
	sends, _ := e.sends.ListSends(e.ctx, alice.ID)
	if len(sends) != 1 || sends[0].Options.PasswordRequired || sends[0].Status(sends[0].Created) != transfer.StatusActive {
		t.Fatalf("sends after the deliberate post: %+v", sends)
	}
}

// TestComposePendingScanAcceptedAtOnce guards issue 16 item 3 in the web UI: "Envoyer" used
// to wait up to 30 s for the verdict of a file just uploaded, then fail. The send is now
// created at once, waiting for the antivirus: no mail yet, and the send's page shows the
// state and refreshes itself until the verdict settles it.
func TestComposePendingScanAcceptedAtOnce(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := filetest.StoreVerdict(e.ctx, t, e.sends, e.bs, alice.ID, "", "gros.iso", []byte(strings.Repeat("iso ", 4000)), transfer.VerdictPending)
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")

	r := c.post("/send", url.Values{"csrf": {token}, "to": {"bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"}, "password": {"un mot de passe sûr"}})
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `id="pending-scan"`) || !strings.Contains(r.body, `http-equiv="refresh"`) {
		t.Fatalf("status %d: the send was not accepted waiting for the antivirus: %s", r.StatusCode, r.body)
	}
	if strings.Contains(r.body, "/s/") {
		t.Error("a link shown before the files are clean")
	}
	if out, _ := e.mail.Outbox(e.ctx); len(out) != 0 {
		t.Fatalf("%d mails left before the verdict", len(out))
	}
	sends, _ := e.sends.ListSends(e.ctx, alice.ID)
	if len(sends) != 1 || sends[0].State != transfer.StatusPendingScan || !sends[0].Options.PasswordRequired {
		t.Fatalf("sends: %+v", sends)
	}
	detail := c.get("/sent/" + string(sends[0].ID))
	if !strings.Contains(detail.body, "en attente de l&#39;antivirus") || !strings.Contains(detail.body, `http-equiv="refresh"`) {
		t.Fatalf("the send's page does not show the wait live: %s", detail.body)
	}
	if !strings.Contains(detail.body, `id="revoke"`) {
		t.Error("a waiting send cannot be revoked from its page")
	}

	if err := e.sends.SetVerdict(e.ctx, f.ID, transfer.VerdictClean, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sends.SettleWaitingSends(e.ctx); err != nil {
		t.Fatal(err)
	}
	detail = c.get("/sent/" + string(sends[0].ID))
	if !strings.Contains(detail.body, `id="send-status">actif`) || strings.Contains(detail.body, `http-equiv="refresh"`) {
		t.Fatalf("after the verdict: %s", detail.body)
	}
}

// TestSplitAddressesFromMailClients guards issue 16 item 9: the address fields took only bare
// addresses, so what people paste from their mail client was refused and display names
// lost. Each entry comes back bare or as "Name <address>" for transfer.ParseRecipient.
func TestSplitAddressesFromMailClients(t *testing.T) {
	type rcpt struct{ name, addr string }
	for _, tc := range []struct {
		name, in string
		want     []rcpt
	}{
		{"bare, commas", "a@example.org, b@example.org", []rcpt{{"", "a@example.org"}, {"", "b@example.org"}}},
		{"bare, spaces and lines", "a@example.org b@example.org\nc@example.org", []rcpt{{"", "a@example.org"}, {"", "b@example.org"}, {"", "c@example.org"}}},
		{"Outlook: semicolons, comma in names", "Dupont, Marie <marie@example.org>; Martin, Paul <paul@example.org>",
			[]rcpt{{"Dupont, Marie", "marie@example.org"}, {"Martin, Paul", "paul@example.org"}}},
		{"Thunderbird: quoted names, commas", `"Dupont, Marie" <marie@example.org>, Paul Martin <paul@example.org>`,
			[]rcpt{{"Dupont, Marie", "marie@example.org"}, {"Paul Martin", "paul@example.org"}}},
		{"mixed", "Renée Lefèvre <renee@example.org>; bob@example.org", []rcpt{{"Renée Lefèvre", "renee@example.org"}, {"", "bob@example.org"}}},
		{"brackets only", "<bob@example.org>", []rcpt{{"", "bob@example.org"}}},
		{"trailing separators", "bob@example.org;; ,", []rcpt{{"", "bob@example.org"}}},
		{"empty", " ; ", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []rcpt
			for _, a := range splitAddresses(tc.in) {
				name, addr, err := transfer.ParseRecipient(a)
				if err != nil {
					t.Fatalf("entry %q: %v", a, err)
				}
				got = append(got, rcpt{name, addr})
			}
			if len(got) != len(tc.want) {
				t.Fatalf("splitAddresses(%q) = %q, want %v", tc.in, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("entry %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// FuzzSplitAddressesNamed: whatever is pasted, every entry is either refused by
// transfer.ParseRecipient or gives a plain address and a one-line name; none is empty.
func FuzzSplitAddressesNamed(f *testing.F) {
	for _, s := range []string{"Dupont, Marie <m@example.org>; b@example.org", `"a\"b" <c@d.e>, f@g.h`, "<<>>,;\"", "x <a@b.c> <d@e.f>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, a := range splitAddresses(s) {
			if a == "" {
				t.Fatalf("splitAddresses(%q) gave an empty entry", s)
			}
			name, addr, err := transfer.ParseRecipient(a)
			if err != nil {
				continue
			}
			if strings.ContainsAny(name, "\r\n") || strings.ContainsAny(addr, " <>,;\r\n") {
				t.Fatalf("splitAddresses(%q) entry %q gave %q, %q", s, a, name, addr)
			}
		}
	})
}

// TestComposeKeepsDisplayNames guards issue 16 item 9 end to end: recipients pasted with
// their names keep them on the send, and the invitation greets them by name.
func TestComposeKeepsDisplayNames(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "contrat.pdf", []byte(strings.Repeat("contrat ", 1000)))
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	r := c.post("/send", url.Values{"csrf": {c.csrf("/send")}, "to": {"Dupont, Marie <marie@example.org>; bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"}})
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", r.StatusCode, r.body)
	}
	sends, _ := e.sends.ListSends(e.ctx, alice.ID)
	if len(sends) != 1 || len(sends[0].Recipients) != 2 || sends[0].Recipients[0].Name != "Dupont, Marie" || sends[0].Recipients[1].Name != "" {
		t.Fatalf("recipients %+v", sends)
	}
	out, err := e.mail.Outbox(e.ctx)
	if err != nil || len(out) != 2 {
		t.Fatalf("outbox: %d, %v", len(out), err)
	}
	for _, m := range out {
		want := "Bonjour,"
		if m.To[0] == "marie@example.org" {
			want = "Bonjour Dupont, Marie,"
		}
		if !strings.Contains(m.Text, want) {
			t.Errorf("mail to %s lacks %q:\n%s", m.To[0], want, m.Text)
		}
	}
	if d := c.get("/sent/" + string(sends[0].ID)); !strings.Contains(d.body, "Dupont, Marie &lt;marie@example.org&gt;") {
		t.Error("the send's page does not show the display name")
	}
}

// TestResendFloodWeb guards issue 16 item 9 in the web UI: past the resend budget of a send,
// the page answers 429 with a message saying why.
func TestResendFloodWeb(t *testing.T) {
	e := newEnv(t)
	alice, _ := e.addUser("alice@example.org", testPassword, account.LangFR)
	f := e.upload(alice.ID, "a.pdf", []byte(strings.Repeat("a", 2000)))
	c := e.newClient()
	c.mustLogin("alice@example.org", testPassword)
	token := c.csrf("/send")
	if r := c.post("/send", url.Values{"csrf": {token}, "to": {"bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"}}); r.StatusCode != http.StatusOK {
		t.Fatalf("send: %d", r.StatusCode)
	}
	sends, _ := e.sends.ListSends(e.ctx, alice.ID)
	limit := transfer.DefaultConfig().Resend.PerSend
	for i := range limit + 1 {
		r := c.post("/sent/"+string(sends[0].ID)+"/resend", url.Values{"csrf": {token}, "recipient": {"bob@example.org"}})
		want := http.StatusOK
		if i == limit {
			want = http.StatusTooManyRequests
		}
		if r.StatusCode != want {
			t.Fatalf("resend %d: status %d, want %d", i+1, r.StatusCode, want)
		}
		if want == http.StatusTooManyRequests && !strings.Contains(r.body, "Trop de renvois") {
			t.Fatal("the 429 page does not say why")
		}
	}
}

// TestComposeTestSignaturesOnlyMessage guards issue 16 item 7 in the web UI: a file held by
// scan.test_signatures_only=hold (found clean by an antivirus that had only its test
// signatures) was refused with the generic "cannot be sent (virus scan)", as if it were
// infected. The compose page now names the file and says why, in French and English, as the
// API does.
func TestComposeTestSignaturesOnlyMessage(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lang    account.Language
		verdict transfer.Verdict
		reason  string
		want    string
	}{
		{"test signatures, fr", account.LangFR, transfer.VerdictClean, transfer.ReasonTestSignaturesOnly,
			"« x.bin » n'a été vérifié qu'avec les signatures de test de l'antivirus ; l'administrateur n'autorise pas l'envoi de tels fichiers."},
		{"test signatures, en", account.LangEN, transfer.VerdictClean, transfer.ReasonTestSignaturesOnly,
			"“x.bin” was checked with the antivirus' test signatures only; the administrator does not allow sending such files."},
		{"not scanned, fr", account.LangFR, transfer.VerdictNotScanned, "scanner_down",
			"« x.bin » n'a pas encore pu être analysé par l'antivirus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			p := transfer.DefaultPolicy()
			p.HoldTestSignaturesOnly = true
			if err := e.sends.SetPolicy(p); err != nil {
				t.Fatal(err)
			}
			alice, _ := e.addUser("alice@example.org", testPassword, tc.lang)
			f := filetest.StoreVerdict(e.ctx, t, e.sends, e.bs, alice.ID, "", "x.bin", []byte(strings.Repeat("x", 4000)), transfer.VerdictPending)
			if err := e.sends.SetVerdict(e.ctx, f.ID, tc.verdict, tc.reason); err != nil {
				t.Fatal(err)
			}
			c := e.newClient()
			c.lang = string(tc.lang)
			c.mustLogin("alice@example.org", testPassword)
			r := c.post("/send", url.Values{
				"csrf": {c.csrf("/send")}, "to": {"bob@example.org"}, "file": {string(f.ID)}, "expiry_days": {"7"},
			})
			if r.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.StatusCode, r.body)
			}
			if body := html.UnescapeString(r.body); !strings.Contains(body, tc.want) {
				t.Errorf("the page does not say %q:\n%s", tc.want, body)
			}
			if sends, _ := e.sends.ListSends(e.ctx, alice.ID); len(sends) != 0 {
				t.Fatalf("%d sends created with a held file", len(sends))
			}
		})
	}
}
