package transfer

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"valise/raftfsm"
)

func TestCreateSendValidation(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.Policy.MaxSendBytes = 1000 })
	f := e.upload("u1", "a.bin", randomData(500, 1), VerdictClean)
	g := e.upload("u1", "g.bin", randomData(500, 3), VerdictClean)
	h := e.upload("u1", "h.bin", randomData(1, 4), VerdictClean)
	other := e.upload("u2", "b.bin", randomData(500, 2), VerdictClean)
	many := make([]string, 101)
	for i := range many {
		many[i] = fmt.Sprintf("r%d@example.org", i)
	}
	base := func(mod func(*SendRequest)) SendRequest {
		r := SendRequest{To: []string{"bob@example.org"}, Subject: "s", Message: "m", FileIDs: []FileID{f.ID}}
		mod(&r)
		return r
	}
	for _, tc := range []struct {
		name string
		req  SendRequest
		want error
	}{
		{"good", base(func(*SendRequest) {}), nil},
		{"no recipient", base(func(r *SendRequest) { r.To = nil }), ErrNoRecipients},
		{"101 recipients", base(func(r *SendRequest) { r.To = many }), ErrTooManyRecipients},
		{"100 recipients after dedup", base(func(r *SendRequest) { r.To = many[:100]; r.Cc = []string{"R0@EXAMPLE.ORG"} }), nil},
		{"attack: header injection in address", base(func(r *SendRequest) { r.To = []string{"bob@example.org\r\nBcc: eve@evil.example"} }), ErrInvalidRecipient},
		// issue 16 item 9: what people paste from their mail client, the display name kept.
		{"display name form", base(func(r *SendRequest) { r.Cc = []string{"Bob <bob@example.org>"} }), nil},
		{"attack: header injection in display name", base(func(r *SendRequest) { r.Cc = []string{"\"Bob\r\nBcc: eve@evil.example\" <bob@example.org>"} }), ErrInvalidRecipient},
		{"attack: bidi override in display name", base(func(r *SendRequest) { r.Cc = []string{"\"\u202eboB\" <bob@example.org>"} }), ErrInvalidRecipient},
		{"attack: two addresses behind one name", base(func(r *SendRequest) { r.Cc = []string{"Bob <bob@example.org>, eve@evil.example"} }), ErrInvalidRecipient},
		{"two addresses in one", base(func(r *SendRequest) { r.Bcc = []string{"a@example.org, b@example.org"} }), ErrInvalidRecipient},
		{"no domain dot", base(func(r *SendRequest) { r.To = []string{"bob@intranet"} }), ErrInvalidRecipient},
		{"attack: header injection in subject", base(func(r *SendRequest) { r.Subject = "Hi\r\nBcc: eve@evil.example" }), ErrInvalidText},
		{"subject too long", base(func(r *SendRequest) { r.Subject = strings.Repeat("x", 201) }), ErrInvalidText},
		{"message too long", base(func(r *SendRequest) { r.Message = strings.Repeat("x", 10001) }), ErrInvalidText},
		{"message with NUL", base(func(r *SendRequest) { r.Message = "a\x00b" }), ErrInvalidText},
		{"html and template syntax are text", base(func(r *SendRequest) { r.Subject = "<b>{{.Secret}}</b>"; r.Message = "<script>x</script>\n{{template}}" }), nil},
		{"expiry beyond policy", base(func(r *SendRequest) { r.Options.Expiry = 31 * 24 * time.Hour }), ErrInvalidOptions},
		{"negative download limit", base(func(r *SendRequest) { r.Options.DownloadLimit = -1 }), ErrInvalidOptions},
		{"short password", base(func(r *SendRequest) { r.Options.Password = "short" }), ErrInvalidOptions},
		{"no file", base(func(r *SendRequest) { r.FileIDs = nil }), ErrNoFiles},
		{"same file twice", base(func(r *SendRequest) { r.FileIDs = []FileID{f.ID, f.ID} }), ErrNoFiles},
		{"unknown file", base(func(r *SendRequest) { r.FileIDs = []FileID{"0190a6f6-0000-7000-8000-000000000000"} }), ErrFileNotFound},
		{"malformed file id", base(func(r *SendRequest) { r.FileIDs = []FileID{"../x"} }), ErrFileNotFound},
		{"another user's file", base(func(r *SendRequest) { r.FileIDs = []FileID{other.ID} }), ErrFileNotFound},
		{"files up to the send size", base(func(r *SendRequest) { r.FileIDs = []FileID{f.ID, g.ID} }), nil},
		{"files beyond the send size", base(func(r *SendRequest) { r.FileIDs = []FileID{f.ID, g.ID, h.ID} }), ErrSendTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.CreateSend(e.ctx, "u1", tc.req)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("CreateSend = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCreateSendRecipientsAndPassword(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(500, 1), VerdictClean)
	c, err := e.svc.CreateSend(e.ctx, "u1", SendRequest{
		To: []string{"bob@Example.ORG", "carol@example.org"}, Cc: []string{"BOB@example.org", "dan@example.org"},
		Bcc: []string{"eve@example.org"}, FileIDs: []FileID{f.ID},
		Options: Options{GeneratePassword: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range c.Send.Recipients {
		got = append(got, string(r.Kind)+":"+r.Address)
	}
	if want := "[to:bob@example.org to:carol@example.org cc:dan@example.org bcc:eve@example.org]"; fmt.Sprint(got) != want {
		t.Fatalf("recipients = %v, want %s", got, want)
	}
	if len(c.Invitations) != 4 || len(c.Password) != 16 || !c.Send.Options.PasswordRequired {
		t.Fatalf("created = %d invitations, password %q, options %+v", len(c.Invitations), c.Password, c.Send.Options)
	}
	if got, want := c.Send.Expires.Sub(c.Send.Created), 7*24*time.Hour; got != want {
		t.Fatalf("default expiry %v, want %v", got, want)
	}
	// The generated password opens the link.
	if _, err := e.svc.CheckLinkPassword(e.ctx, c.Invitations[0].Token, "", c.Password, ""); err != nil {
		t.Fatalf("generated password refused: %v", err)
	}
}

// The link token goes to the caller once and is never stored: no key, value or journal entry
// holds it, raw or encoded. Neither is the password.
func TestLinkTokenNeverStored(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(500, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{Password: "correct horse battery"})
	tok := c.Invitations[0].Token
	g, err := e.svc.CheckLinkPassword(e.ctx, tok, "", "correct horse battery", "")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	rawGrant, _ := base64.RawURLEncoding.DecodeString(g.Token)
	secrets := map[string][]byte{
		"token": []byte(tok), "raw token": raw, "grant": []byte(g.Token), "raw grant": rawGrant,
		"password": []byte("correct horse battery"),
	}
	check := func(where string, b []byte) {
		for name, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s holds the %s", where, name)
			}
		}
	}
	n := 0
	err = e.meta.Scan(nil, func(it raftfsm.Item) error {
		n++
		check("key "+string(it.Key), it.Key)
		check("value of "+string(it.Key), it.Value)
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("scan: %d items, %v", n, err)
	}
	err = e.meta.Journal(1, func(en raftfsm.Entry) error {
		check("journal entry "+en.Action, []byte(en.Actor+en.Target+string(en.Details)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.meta.Get(linkKey(hashToken(raw))); err != nil {
		t.Fatalf("no link record under the token's hash: %v", err)
	}
}

// Nobody sees, revokes or resends another user's send, nor uses their files.
func TestAnotherUsersSendInvisible(t *testing.T) {
	e := newEnv(t)
	f := e.upload("alice", "a.bin", randomData(500, 1), VerdictClean)
	c := e.send("alice", []File{f}, []string{"bob@example.org"}, Options{})
	id := c.Send.ID
	if _, err := e.svc.GetSend(e.ctx, "mallory", id); !errors.Is(err, ErrSendNotFound) {
		t.Errorf("GetSend by another user: %v", err)
	}
	if list, err := e.svc.ListSends(e.ctx, "mallory"); err != nil || len(list) != 0 {
		t.Errorf("ListSends of another user: %v, %v", list, err)
	}
	if err := e.svc.Revoke(e.ctx, "mallory", id); !errors.Is(err, ErrSendNotFound) {
		t.Errorf("Revoke by another user: %v", err)
	}
	if _, err := e.svc.Resend(e.ctx, "mallory", id, "bob@example.org"); !errors.Is(err, ErrSendNotFound) {
		t.Errorf("Resend by another user: %v", err)
	}
	if _, err := e.svc.GetFile(e.ctx, "mallory", f.ID); !errors.Is(err, ErrFileNotFound) {
		t.Errorf("GetFile by another user: %v", err)
	}
	if files, _ := e.svc.ListFiles(e.ctx, "mallory"); len(files) != 0 {
		t.Errorf("ListFiles of another user: %v", files)
	}
	if list, err := e.svc.ListSends(e.ctx, "alice"); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("ListSends of the owner: %v, %v", list, err)
	}
	if s, err := e.svc.GetSend(e.ctx, "alice", id); err != nil || s.Status(e.clock.Now()) != StatusActive {
		t.Errorf("GetSend by the owner: %v, %v", s, err)
	}
}

// The sender sees per recipient: notifications, opening, downloads (when, which file, IP).
func TestPerRecipientTracking(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(700, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org", "carol@example.org"}, Options{Receipts: true})
	id := c.Send.ID
	for range 2 {
		if err := e.svc.RecordNotified(e.ctx, id, "bob@example.org"); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
	}
	if err := e.svc.RecordNotified(e.ctx, id, "nobody@example.org"); !errors.Is(err, ErrRecipientNotFound) {
		t.Fatalf("RecordNotified(unknown) = %v", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, c.Invitations[0].Token, "", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	out := e.download(c.Invitations[0].Token, "", f, true)
	if !out.ReceiptDue || out.Receipt.Recipient != "bob@example.org" || out.Receipt.FileName != "a.bin" || out.Receipt.SenderEmail != "alice@example.org" {
		t.Fatalf("outcome = %+v", out)
	}
	s, err := e.svc.GetSend(e.ctx, "u1", id)
	if err != nil {
		t.Fatal(err)
	}
	bob, carol := s.Recipients[0], s.Recipients[1]
	if bob.NotifyCount != 2 || bob.NotifiedFirst.Equal(bob.NotifiedLast) || bob.OpenedFirst.IsZero() || bob.DownloadCount != 1 ||
		len(bob.Downloads) != 1 || bob.Downloads[0].FileID != f.ID || bob.Downloads[0].IP != "192.0.2.1" || !bob.Downloads[0].Complete {
		t.Fatalf("bob's tracking = %+v", bob)
	}
	if carol.NotifyCount != 0 || !carol.OpenedFirst.IsZero() || carol.DownloadCount != 0 {
		t.Fatalf("carol's tracking = %+v", carol)
	}
}

// TestParseRecipient guards issue 16 item 9: recipients as people paste them from their mail
// client, with the display name kept; anything that could smuggle a header or a second
// address is refused.
func TestParseRecipient(t *testing.T) {
	for _, tc := range []struct {
		name, in, wantName, wantAddr string
		ok                           bool
	}{
		{"bare", "bob@Example.ORG", "", "bob@example.org", true},
		{"bare with spaces around", "  bob@example.org ", "", "bob@example.org", true},
		{"name", "Marie Dupont <marie@example.org>", "Marie Dupont", "marie@example.org", true},
		{"quoted name with comma", `"Dupont, Marie" <marie@example.org>`, "Dupont, Marie", "marie@example.org", true},
		{"encoded name", "=?utf-8?q?Ren=C3=A9e?= <renee@example.org>", "Renée", "renee@example.org", true},
		{"non-ASCII name", "Renée Lefèvre <renee@example.org>", "Renée Lefèvre", "renee@example.org", true},
		{"name equal to address", `"bob@example.org" <bob@example.org>`, "", "bob@example.org", true},
		{"brackets only", "<bob@example.org>", "", "bob@example.org", true},
		{"attack: CRLF in name", "\"Bob\r\nBcc: eve@evil.example\" <bob@example.org>", "", "", false},
		{"attack: bidi in name", "\u202eBob <bob@example.org>", "", "", false},
		{"attack: two addresses", "Bob <bob@example.org>, eve@evil.example", "", "", false},
		{"attack: address literal", "Bob <bob@[127.0.0.1]>", "", "", false},
		{"name too long", strings.Repeat("n", 201) + " <bob@example.org>", "", "", false},
		{"unclosed", "Bob <bob@example.org", "", "", false},
		{"empty", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, addr, err := ParseRecipient(tc.in)
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidRecipient)) {
				t.Fatalf("ParseRecipient(%q) = %q, %q, %v; want ok %v", tc.in, name, addr, err, tc.ok)
			}
			if name != tc.wantName || addr != tc.wantAddr {
				t.Fatalf("ParseRecipient(%q) = %q, %q; want %q, %q", tc.in, name, addr, tc.wantName, tc.wantAddr)
			}
		})
	}
}

// FuzzParseRecipient: whatever comes in, an accepted recipient has a plain address
// NormalizeAddress accepts unchanged and a one-line name with no control or bidi character.
func FuzzParseRecipient(f *testing.F) {
	for _, s := range []string{"bob@example.org", "Marie <m@example.org>", `"Dupont, Marie" <m@example.org>`, "=?utf-8?q?Ren=C3=A9e?= <r@example.org>", "a <b@c.d>, e@f.g", "\"x\r\n\" <a@b.c>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, addr, err := ParseRecipient(s)
		if err != nil {
			return
		}
		if again, err := NormalizeAddress(addr); err != nil || again != addr {
			t.Fatalf("ParseRecipient(%q) gave address %q that NormalizeAddress reads as %q, %v", s, addr, again, err)
		}
		if strings.ContainsFunc(name, func(r rune) bool { return isControl(r) || isBidi(r) }) || len(name) > 4*maxSenderName {
			t.Fatalf("ParseRecipient(%q) gave name %q", s, name)
		}
	})
}
