package transfer

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"valise/notify"
	"valise/userid"
)

// The use cases that mail people (issue 17 item 1) against the real notify queue (its outbox,
// in the same metadata store), so that what a front end gets is what a recipient reads.

const testPublicURL = "https://valise.example.org"

// contacts is a fake of Contacts: the users it knows, by ID.
type contacts map[userid.ID][3]string // name, email, lang

func (c contacts) MailContact(_ context.Context, id userid.ID) (name, email, lang string, err error) {
	v, ok := c[id]
	if !ok {
		return "", "", "", errors.New("unknown user")
	}
	return v[0], v[1], v[2], nil
}

// failingMailer refuses every mail, counting the attempts.
type failingMailer struct {
	mu    sync.Mutex // guards tries
	tries int
}

func (m *failingMailer) Enqueue(context.Context, notify.Message, string) (notify.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tries++
	return notify.Message{}, errors.New("relay down")
}

// mailEnv is an env with the real mail queue and a Notifier over it.
type mailEnv struct {
	*env
	mail *notify.Sender
	n    Notifier
}

func newMailEnv(t *testing.T) *mailEnv {
	t.Helper()
	e := newEnv(t)
	cfg := notify.DefaultConfig()
	cfg.From = "valise@example.org"
	ms, err := notify.New(cfg, e.meta, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &mailEnv{env: e, mail: ms, n: Notifier{
		Mailer:   ms,
		Contacts: contacts{"u1": {"Alice Martin", "alice@example.org", "en"}},
		Brand:    Brand{Product: "Coffre", PublicURL: testPublicURL},
	}}
}

// outbox returns the mails queued so far, oldest first.
func (e *mailEnv) outbox() []notify.Message {
	e.t.Helper()
	out, err := e.mail.Outbox(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// linkToken returns the token of the link in an invitation's text.
func linkToken(t *testing.T, m notify.Message) string {
	t.Helper()
	i := strings.Index(m.Text, testPublicURL+"/s/")
	if i < 0 {
		t.Fatalf("no link on %s in the mail to %v:\n%s", testPublicURL, m.To, m.Text)
	}
	return strings.Fields(m.Text[i+len(testPublicURL)+3:])[0]
}

// TestSendFilesMailsEachRecipient: the send use case mails each recipient a working link of
// the public URL, in the sender's language, under the brand, and records each mail.
func TestSendFilesMailsEachRecipient(t *testing.T) {
	e := newMailEnv(t)
	f := e.upload("u1", "contrat.pdf", randomData(500, 1), VerdictClean)
	c, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{
		From: Sender{Name: "Alice Martin", Email: "alice@example.org"},
		To:   []string{"Bob Dupont <bob@example.org>"}, Cc: []string{"carol@example.org"},
		Subject: "Contrat", FileIDs: []FileID{f.ID}, Lang: "fr",
	}, e.n)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Invitations) != 2 || !c.Invitations[0].Notified || !c.Invitations[1].Notified {
		t.Fatalf("invitations %+v; want two, notified", c.Invitations)
	}
	for _, r := range c.Send.Recipients {
		if r.NotifyCount != 1 {
			t.Errorf("the send returned does not show %s notified: %+v", r.Address, r)
		}
	}
	out := e.outbox()
	if len(out) != 2 {
		t.Fatalf("%d mails, want one per recipient", len(out))
	}
	for _, m := range out {
		if m.Kind != notify.KindSend || m.Lang != "fr" || m.Ref != string(c.Send.ID) || !strings.Contains(m.FromName, "Coffre") {
			t.Errorf("mail to %v: kind %s, lang %s, ref %s, from %q", m.To, m.Kind, m.Lang, m.Ref, m.FromName)
		}
		if _, err := e.svc.OpenLink(e.ctx, linkToken(t, m), "", "192.0.2.1"); err != nil {
			t.Errorf("the link mailed to %v: %v", m.To, err)
		}
	}
	if !strings.Contains(out[0].Text+out[1].Text, "Bonjour Bob Dupont,") {
		t.Error("no mail greets Bob by the name the sender gave")
	}
}

// TestSendFilesMailNotQueued: when the queue refuses the mails, the send exists all the same,
// its recipients not notified (the sender can resend), and no error hides the created send.
func TestSendFilesMailNotQueued(t *testing.T) {
	e := newMailEnv(t)
	fm := &failingMailer{}
	e.n.Mailer = fm
	f := e.upload("u1", "a.pdf", randomData(500, 2), VerdictClean)
	c, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}, FileIDs: []FileID{f.ID}}, e.n)
	if err != nil {
		t.Fatalf("SendFiles with the queue down: %v; want the send created", err)
	}
	if fm.tries != 1 || len(c.Invitations) != 1 || c.Invitations[0].Notified || c.Send.Recipients[0].NotifyCount != 0 {
		t.Fatalf("%d tries, invitations %+v, recipient %+v; want one try, not notified", fm.tries, c.Invitations, c.Send.Recipients[0])
	}
	if _, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}}, e.n); !errors.Is(err, ErrNoFiles) {
		t.Fatalf("SendFiles without files: %v; want CreateSend's ErrNoFiles", err)
	}
}

// TestResendLink: the resend use case mails a new working link and records it; the old link
// stops working. A mail that cannot be queued is a partial success: the new link is made,
// the error wraps ErrNotNotified.
func TestResendLink(t *testing.T) {
	e := newMailEnv(t)
	f := e.upload("u1", "a.pdf", randomData(500, 3), VerdictClean)
	c, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}, FileIDs: []FileID{f.ID}, Lang: "fr"}, e.n)
	if err != nil {
		t.Fatal(err)
	}
	old := linkToken(t, e.outbox()[0])
	inv, s, err := e.svc.ResendLink(e.ctx, "u1", c.Send.ID, "bob@example.org", "en", e.n)
	if err != nil || !inv.Notified || s.Recipients[0].NotifyCount != 2 {
		t.Fatalf("ResendLink: %+v, notify count %d, %v", inv, s.Recipients[0].NotifyCount, err)
	}
	out := e.outbox()
	if len(out) != 2 || out[1].Lang != "en" {
		t.Fatalf("outbox %d mails; want the resend's, in English", len(out))
	}
	if _, err := e.svc.OpenLink(e.ctx, linkToken(t, out[1]), "", "192.0.2.1"); err != nil {
		t.Errorf("the new link: %v", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, old, "", "192.0.2.1"); !errors.Is(err, ErrLinkNotFound) {
		t.Errorf("the old link after a resend: %v; want ErrLinkNotFound", err)
	}

	e.n.Mailer = &failingMailer{}
	inv, _, err = e.svc.ResendLink(e.ctx, "u1", c.Send.ID, "bob@example.org", "fr", e.n)
	if !errors.Is(err, ErrNotNotified) || inv.Token == "" || inv.Notified {
		t.Fatalf("ResendLink with the queue down: %+v, %v; want a link and ErrNotNotified", inv, err)
	}
	if _, _, err := e.svc.ResendLink(e.ctx, "u2", c.Send.ID, "bob@example.org", "fr", e.n); !errors.Is(err, ErrSendNotFound) {
		t.Fatalf("ResendLink of another's send: %v; want ErrSendNotFound", err)
	}
}

// TestMailReceipt: the receipt goes to the sender, in their language when Contacts knows
// them, in French with the send's sender name otherwise.
func TestMailReceipt(t *testing.T) {
	for _, tc := range []struct {
		name             string
		contacts         Contacts
		wantLang, wantIn string
	}{
		{"sender known", contacts{"u1": {"Alice Martin", "alice@example.org", "en"}}, "en", "Hello Alice Martin,"},
		{"sender unknown", contacts{}, "fr", "Bonjour Alice,"},
		{"no contacts", nil, "fr", "Bonjour Alice,"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMailEnv(t)
			e.n.Contacts = tc.contacts
			f := e.upload("u1", "a.pdf", randomData(500, 4), VerdictClean)
			c, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{
				From: Sender{Name: "Alice", Email: "alice@example.org"}, To: []string{"bob@example.org"},
				Subject: "Contrat", FileIDs: []FileID{f.ID},
			})
			if err != nil {
				t.Fatal(err)
			}
			r := Receipt{SendID: c.Send.ID, Owner: "u1", SenderEmail: "alice@example.org", Recipient: "bob@example.org", At: e.clock.Now()}
			if err := e.svc.MailReceipt(e.ctx, r, []LinkFile{{ID: f.ID, Name: "a.pdf", Size: 500}}, e.n); err != nil {
				t.Fatal(err)
			}
			out := e.outbox()
			if len(out) != 1 || out[0].Kind != notify.KindReceipt || out[0].To[0] != "alice@example.org" || out[0].Lang != tc.wantLang {
				t.Fatalf("outbox %+v; want one receipt to alice in %s", out, tc.wantLang)
			}
			for _, want := range []string{tc.wantIn, "bob@example.org", "a.pdf", "Contrat"} {
				if !strings.Contains(out[0].Text, want) {
					t.Errorf("the receipt lacks %q:\n%s", want, out[0].Text)
				}
			}
		})
	}
}

// TestMailEmailCode: the code mailed to the link's recipient opens the link; a send that
// asks for no code mails nothing.
func TestMailEmailCode(t *testing.T) {
	e := newMailEnv(t)
	f := e.upload("u1", "a.pdf", randomData(500, 5), VerdictClean)
	c, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{
		From: Sender{Name: "Alice", Email: "alice@example.org"}, To: []string{"bob@example.org"},
		FileIDs: []FileID{f.ID}, Options: Options{EmailCode: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	tok := c.Invitations[0].Token
	exp, err := e.svc.MailEmailCode(e.ctx, tok, "en", e.n)
	if err != nil || !exp.After(e.clock.Now()) {
		t.Fatalf("MailEmailCode: %v, %v", exp, err)
	}
	out := e.outbox()
	if len(out) != 1 || out[0].Kind != notify.KindVerifyCode || out[0].To[0] != "bob@example.org" || out[0].Lang != "en" {
		t.Fatalf("outbox %+v; want one English code mail to bob", out)
	}
	code := ""
	for _, w := range strings.Fields(out[0].Text) {
		if len(w) == e.svc.cfg.Challenge.CodeDigits && strings.Trim(w, "0123456789") == "" {
			code = w
		}
	}
	if g, err := e.svc.CheckEmailCode(e.ctx, tok, "", code, "192.0.2.1"); err != nil || !g.Complete {
		t.Fatalf("the mailed code %q: %+v, %v", code, g, err)
	}

	plain, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{To: []string{"bob@example.org"}, FileIDs: []FileID{f.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MailEmailCode(e.ctx, plain.Invitations[0].Token, "en", e.n); !errors.Is(err, ErrNotRequired) {
		t.Fatalf("MailEmailCode without the option: %v; want ErrNotRequired", err)
	}
	if n := len(e.outbox()); n != 1 {
		t.Fatalf("%d mails; want no more", n)
	}
}

// TestNotifyVerdict guards issue 16 item 3's mails, now in the domain: a send released by its
// file's verdict mails each recipient a working link once, in the language the sender
// composed in; a send cancelled by an infected file tells its sender, naming the signature,
// and no second notice follows; an infected file no send waited for tells its owner.
func TestNotifyVerdict(t *testing.T) {
	for _, tc := range []struct {
		name     string
		verdict  Verdict
		inSend   bool
		wantTo   string
		wantLang string
		wantText []string
	}{
		{"released", VerdictClean, true, "bob@example.org", "fr", []string{"Bonjour Bob Martin,"}},
		{"cancelled", VerdictInfected, true, "alice@example.org", "fr", []string{"annulé", "Eicar-Test-Signature"}},
		{"infected upload", VerdictInfected, false, "alice@example.org", "en", []string{"Hello Alice Martin,", "Eicar-Test-Signature"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newMailEnv(t)
			f := e.upload("u1", "contrat.pdf", randomData(3000, 6), VerdictPending)
			var send SendID
			if tc.inSend {
				c, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{
					From: Sender{Name: "Alice", Email: "alice@example.org"}, To: []string{"Bob Martin <bob@example.org>"},
					Subject: "Contrat", FileIDs: []FileID{f.ID}, Lang: "fr",
				}, e.n)
				if err != nil || c.Send.State != StatusPendingScan || len(c.Invitations) != 0 {
					t.Fatalf("send of a pending file: %s, %d invitations, %v", c.Send.State, len(c.Invitations), err)
				}
				send = c.Send.ID
				if n := len(e.outbox()); n != 0 {
					t.Fatalf("%d mails before the verdict; want none", n)
				}
			}
			if err := e.svc.SetVerdict(e.ctx, f.ID, tc.verdict, ""); err != nil {
				t.Fatal(err)
			}
			settled, err := e.svc.SettleSendsOf(e.ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			file, err := e.svc.GetFile(e.ctx, "u1", f.ID)
			if err != nil {
				t.Fatal(err)
			}
			e.svc.NotifyVerdict(e.ctx, file, "Eicar-Test-Signature", settled, e.n)
			out := e.outbox()
			if len(out) != 1 || out[0].To[0] != tc.wantTo || out[0].Lang != tc.wantLang {
				t.Fatalf("outbox %+v; want one mail to %s in %s", out, tc.wantTo, tc.wantLang)
			}
			for _, want := range tc.wantText {
				if !strings.Contains(out[0].Text, want) {
					t.Errorf("the mail lacks %q:\n%s", want, out[0].Text)
				}
			}
			if tc.verdict == VerdictClean {
				if _, err := e.svc.OpenLink(e.ctx, linkToken(t, out[0]), "", "192.0.2.1"); err != nil {
					t.Fatalf("the mailed link: %v", err)
				}
				s, _ := e.svc.GetSend(e.ctx, "u1", send)
				if s.Recipients[0].NotifyCount != 1 {
					t.Errorf("notification not recorded: %+v", s.Recipients[0])
				}
			}
		})
	}
}

// TestNotifySettledFromTheSweep: the sends SettleWaitingSends settles (no hook ran: a
// restart, another node's scan) are mailed by NotifySettled, once.
func TestNotifySettledFromTheSweep(t *testing.T) {
	e := newMailEnv(t)
	f := e.upload("u1", "a.pdf", randomData(3000, 7), VerdictPending)
	if _, err := e.svc.SendFiles(e.ctx, "u1", SendRequest{To: []string{"bob@example.org", "carol@example.org"}, FileIDs: []FileID{f.ID}, Lang: "en"}, e.n); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetVerdict(e.ctx, f.ID, VerdictClean, ""); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		settled, err := e.svc.SettleWaitingSends(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		e.svc.NotifySettled(e.ctx, settled, e.n)
	}
	out := e.outbox()
	if len(out) != 2 || out[0].Lang != "en" {
		t.Fatalf("%d mails; want one per recipient, once, in English", len(out))
	}
}
