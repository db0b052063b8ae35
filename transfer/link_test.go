package transfer

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"valise/raftfsm"
)

// A revoked, expired, unknown, used-up or replaced link answers exactly the same error, so
// a guesser learns nothing (issue 11: "the same 404").
func TestLinkNotFoundAllAlike(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	g := e.upload("u1", "b.bin", randomData(400, 2), VerdictClean)
	mk := func(opts Options) string {
		return e.send("u1", []File{f, g}, []string{"bob@example.org"}, opts).Invitations[0].Token
	}

	revoked := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{})
	if err := e.svc.Revoke(e.ctx, "u1", revoked.Send.ID); err != nil {
		t.Fatal(err)
	}
	exhausted := mk(Options{DownloadLimit: 1})
	e.download(exhausted, "", f, true)
	e.download(exhausted, "", g, true)
	consumed := mk(Options{DeleteAfterDownload: true})
	e.download(consumed, "", f, true)
	e.download(consumed, "", g, true)
	resent := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{})
	if _, err := e.svc.Resend(e.ctx, "u1", resent.Send.ID, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	expired := mk(Options{Expiry: time.Hour})
	live := mk(Options{Expiry: 48 * time.Hour})
	e.clock.Advance(time.Hour)

	unknown := encodeToken(bytes.Repeat([]byte{9}, 32))
	for _, tc := range []struct{ name, token string }{
		{"unknown", unknown},
		{"malformed", "not-a-token"},
		{"empty", ""},
		{"too long", strings.Repeat("A", 44)},
		{"revoked", revoked.Invitations[0].Token},
		{"expired", expired},
		{"download limit exhausted", exhausted},
		{"deleted after download", consumed},
		{"replaced by a resend", resent.Invitations[0].Token},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.OpenLink(e.ctx, tc.token, "", "192.0.2.1")
			if err != ErrLinkNotFound {
				t.Fatalf("OpenLink = %v, want exactly ErrLinkNotFound", err)
			}
			if _, err := e.svc.StartDownload(e.ctx, tc.token, "", f.ID, "192.0.2.1", false); err != ErrLinkNotFound {
				t.Fatalf("StartDownload = %v, want exactly ErrLinkNotFound", err)
			}
			if _, err := e.svc.CheckLinkPassword(e.ctx, tc.token, "", "whatever-password", ""); err != ErrLinkNotFound {
				t.Fatalf("CheckLinkPassword = %v, want exactly ErrLinkNotFound", err)
			}
		})
	}
	v, err := e.svc.OpenLink(e.ctx, live, "", "192.0.2.1")
	if err != nil || len(v.Files) != 2 || v.Files[0].Name != "a.bin" || v.Files[0].SHA256 != f.SHA256 || v.From.Name != "Alice" {
		t.Fatalf("live link: %+v, %v", v, err)
	}
}

func TestPasswordChallenge(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org", "carol@example.org"}, Options{Password: "open sesame!"})
	tok, other := c.Invitations[0].Token, c.Invitations[1].Token

	v, err := e.svc.OpenLink(e.ctx, tok, "", "192.0.2.1")
	if err != nil || !v.PasswordRequired || v.EmailCodeRequired {
		t.Fatalf("view = %+v, %v", v, err)
	}
	if _, err := e.svc.StartDownload(e.ctx, tok, "", f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("download without grant: %v", err)
	}
	if _, err := e.svc.IssueEmailCode(e.ctx, tok); !errors.Is(err, ErrNotRequired) {
		t.Fatalf("IssueEmailCode without the option: %v", err)
	}
	if _, err := e.svc.CheckLinkPassword(e.ctx, tok, "", "wrong", ""); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	g, err := e.svc.CheckLinkPassword(e.ctx, tok, "", "open sesame!", "")
	if err != nil || !g.Complete {
		t.Fatalf("right password: %+v, %v", g, err)
	}
	e.download(tok, g.Token, f, false)
	if _, err := e.svc.StartDownload(e.ctx, other, g.Token, f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("grant used on another recipient's link: %v", err)
	}
	if _, err := e.svc.StartDownload(e.ctx, tok, "garbage", f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("garbage grant: %v", err)
	}

	// Attempt cap: five wrong passwords lock the link, even against the right one.
	for i := range 5 {
		if _, err := e.svc.CheckLinkPassword(e.ctx, other, "", "guess", ""); !errors.Is(err, ErrWrongPassword) {
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if _, err := e.svc.CheckLinkPassword(e.ctx, other, "", "open sesame!", ""); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right password while locked: %v", err)
	}
	e.clock.Advance(15 * time.Minute)
	if _, err := e.svc.CheckLinkPassword(e.ctx, other, "", "open sesame!", ""); err != nil {
		t.Fatalf("right password after the lockout: %v", err)
	}

	// Grants expire.
	e.clock.Advance(time.Hour)
	if _, err := e.svc.StartDownload(e.ctx, tok, g.Token, f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("expired grant: %v", err)
	}
}

func TestEmailCodeChallenge(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{EmailCode: true})
	tok := c.Invitations[0].Token

	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", "12345678", ""); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("check before any code: %v", err)
	}
	code, err := e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil || len(code.Code) != 8 || strings.Trim(code.Code, "0123456789") != "" || code.Recipient != "bob@example.org" {
		t.Fatalf("IssueEmailCode = %+v, %v", code, err)
	}
	// The code is stored salted and hashed only.
	e.meta.Scan([]byte(prefixLink), func(it raftfsm.Item) error {
		if strings.Contains(string(it.Value), code.Code) {
			t.Errorf("link record holds the e-mail code in clear: %s", it.Value)
		}
		return nil
	})
	wrong := "00000000"
	if wrong == code.Code {
		wrong = "11111111"
	}
	// Attempt cap: four wrong codes, the fifth locks the code; the right one from the same
	// address is then refused, as a wrong one is.
	for i := range 4 {
		if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", wrong, ""); !errors.Is(err, ErrWrongCode) {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", wrong, ""); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("fifth wrong code: %v", err)
	}
	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", code.Code, ""); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right code after the cap: %v", err)
	}

	// A code expires after 10 minutes.
	code, err = e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(10 * time.Minute)
	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", code.Code, ""); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("code after 10 min: %v", err)
	}

	code, err = e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	g, err := e.svc.CheckEmailCode(e.ctx, tok, "", " "+code.Code+" ", "")
	if err != nil || !g.Complete {
		t.Fatalf("right code: %+v, %v", g, err)
	}
	e.download(tok, g.Token, f, true)
	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", code.Code, ""); !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("code used twice: %v", err)
	}

	// Issuing is capped too: 5 per hour, 3 issued already.
	for range 2 {
		if _, err := e.svc.IssueEmailCode(e.ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.svc.IssueEmailCode(e.ctx, tok); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("sixth code within the hour: %v", err)
	}
	e.clock.Advance(time.Hour)
	if _, err := e.svc.IssueEmailCode(e.ctx, tok); err != nil {
		t.Fatalf("code after the window: %v", err)
	}
}

// With a password and an e-mail code both required, a grant is complete only after both.
func TestPasswordAndEmailCode(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{Password: "open sesame!", EmailCode: true}).Invitations[0].Token
	g, err := e.svc.CheckLinkPassword(e.ctx, tok, "", "open sesame!", "")
	if err != nil || g.Complete {
		t.Fatalf("after the password: %+v, %v", g, err)
	}
	if _, err := e.svc.StartDownload(e.ctx, tok, g.Token, f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("download with half a grant: %v", err)
	}
	code, err := e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := e.svc.CheckEmailCode(e.ctx, tok, g.Token, code.Code, "")
	if err != nil || !g2.Complete || g2.Token != g.Token {
		t.Fatalf("after the code: %+v, %v", g2, err)
	}
	e.download(tok, g2.Token, f, true)
}

func TestDownloadLimit(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	g := e.upload("u1", "b.bin", randomData(400, 2), VerdictClean)
	c := e.send("u1", []File{f, g}, []string{"bob@example.org", "carol@example.org"}, Options{DownloadLimit: 2})
	bob, carol := c.Invitations[0].Token, c.Invitations[1].Token

	if out := e.download(bob, "", f, false); out.SendFinished {
		t.Fatal("an incomplete download finished the send")
	}
	e.download(bob, "", f, true)
	e.download(carol, "", f, true)
	if _, err := e.svc.StartDownload(e.ctx, bob, "", f.ID, "192.0.2.1", true); !errors.Is(err, ErrDownloadLimit) {
		t.Fatalf("third complete download of a.bin: %v", err)
	}
	v, err := e.svc.OpenLink(e.ctx, carol, "", "192.0.2.2")
	if err != nil || v.Files[0].Available || !v.Files[1].Available {
		t.Fatalf("view = %+v, %v", v, err)
	}
	e.download(carol, "", g, true)
	if out := e.download(carol, "", g, true); !out.SendFinished {
		t.Fatal("the last allowed download did not finish the send")
	}
	if _, err := e.svc.OpenLink(e.ctx, bob, "", "192.0.2.1"); err != ErrLinkNotFound {
		t.Fatalf("exhausted link: %v", err)
	}
	s, _ := e.svc.GetSend(e.ctx, "u1", c.Send.ID)
	if s.Status(e.clock.Now()) != StatusExhausted || s.Files[0].Downloads != 2 || s.Files[1].Downloads != 2 {
		t.Fatalf("send = %+v", s)
	}
}

// Delete after download: once every file was downloaded completely once, by any recipient,
// the send is consumed and the sweep destroys the files.
func TestDeleteAfterDownload(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	g := e.upload("u1", "b.bin", randomData(400, 2), VerdictClean)
	c := e.send("u1", []File{f, g}, []string{"bob@example.org", "carol@example.org"}, Options{DeleteAfterDownload: true})
	e.download(c.Invitations[0].Token, "", f, true)
	if rep, err := e.svc.Sweep(e.ctx); err != nil || rep.FilesShredded != 0 {
		t.Fatalf("sweep before the end: %+v, %v", rep, err)
	}
	if out := e.download(c.Invitations[1].Token, "", g, true); !out.SendFinished {
		t.Fatal("the send is not finished after each file was downloaded once")
	}
	rep, err := e.svc.Sweep(e.ctx)
	if err != nil || rep.FilesShredded != 2 || rep.ShardsDeleted != 2 || rep.LinksClosed != 1 {
		t.Fatalf("sweep = %+v, %v", rep, err)
	}
	for _, file := range []File{f, g} {
		if _, err := e.svc.GetFile(e.ctx, "u1", file.ID); !errors.Is(err, ErrFileNotFound) {
			t.Fatalf("file %s after the sweep: %v", file.Name, err)
		}
		if n := countFiles(t, e.dirs, file.ID); n != 0 {
			t.Fatalf("%d shard files of %s left", n, file.Name)
		}
	}
	if u, _ := e.svc.Usage(e.ctx, "u1"); u != 0 {
		t.Fatalf("usage after deletion = %d", u)
	}
	s, err := e.svc.GetSend(e.ctx, "u1", c.Send.ID)
	if err != nil || s.Status(e.clock.Now()) != StatusConsumed || !s.LinksClosed {
		t.Fatalf("send after the sweep: %+v, %v", s, err)
	}
}

// Resend mints a new token: the old one (and its grants) stop working at once.
func TestResendInvalidatesOldToken(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	c := e.send("u1", []File{f}, []string{"bob@example.org", "carol@example.org"}, Options{Password: "open sesame!"})
	old := c.Invitations[0].Token
	g, err := e.svc.CheckLinkPassword(e.ctx, old, "", "open sesame!", "")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := e.svc.Resend(e.ctx, "u1", c.Send.ID, "BOB@example.org")
	if err != nil || inv.Token == old || inv.Recipient != "bob@example.org" {
		t.Fatalf("Resend = %+v, %v", inv, err)
	}
	if _, err := e.svc.OpenLink(e.ctx, old, "", "192.0.2.1"); err != ErrLinkNotFound {
		t.Fatalf("old token after resend: %v", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, inv.Token, "", "192.0.2.1"); err != nil {
		t.Fatalf("new token: %v", err)
	}
	if _, err := e.svc.StartDownload(e.ctx, inv.Token, g.Token, f.ID, "192.0.2.1", false); !errors.Is(err, ErrChallengeRequired) {
		t.Fatalf("the old link's grant on the new link: %v", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, c.Invitations[1].Token, "", "192.0.2.1"); err != nil {
		t.Fatalf("the other recipient's link: %v", err)
	}
	if _, err := e.svc.Resend(e.ctx, "u1", c.Send.ID, "nobody@example.org"); !errors.Is(err, ErrRecipientNotFound) {
		t.Fatalf("resend to a stranger: %v", err)
	}
	if err := e.svc.Revoke(e.ctx, "u1", c.Send.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Revoke(e.ctx, "u1", c.Send.ID); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	if _, err := e.svc.Resend(e.ctx, "u1", c.Send.ID, "bob@example.org"); !errors.Is(err, ErrSendNotActive) {
		t.Fatalf("resend of a revoked send: %v", err)
	}
	if _, err := e.svc.OpenLink(e.ctx, inv.Token, "", "192.0.2.1"); err != ErrLinkNotFound {
		t.Fatalf("new token after revoke: %v", err)
	}
}

// A file found infected after it was sent (a rescan) is never served.
func TestInfectedAfterSendNotServed(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{}).Invitations[0].Token
	if err := e.svc.SetVerdict(e.ctx, f.ID, VerdictInfected, "Eicar-Test-Signature"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartDownload(e.ctx, tok, "", f.ID, "192.0.2.1", false); !errors.Is(err, ErrFileNotFound) {
		t.Fatalf("download of a file found infected: %v", err)
	}
	v, err := e.svc.OpenLink(e.ctx, tok, "", "192.0.2.1")
	if err != nil || v.Files[0].Available || v.Files[0].Verdict != VerdictInfected {
		t.Fatalf("view of a file found infected: %+v, %v", v, err)
	}
}

// Concurrent wrong guesses are all counted: the cap holds however they interleave, and the
// right code from the guessing address is refused once the code is locked.
func TestEmailCodeConcurrentGuesses(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{EmailCode: true}).Invitations[0].Token
	code, err := e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	const guesses = 10 // under maxAttempts: each conflict means another guess committed
	errs := make(chan error, guesses)
	for i := range guesses {
		go func() {
			wrong := strings.Repeat(string(rune('0'+i%10)), 8)
			if wrong == code.Code {
				wrong = "x"
			}
			_, err := e.svc.CheckEmailCode(e.ctx, tok, "", wrong, "")
			errs <- err
		}()
	}
	counts := map[error]int{}
	for range guesses {
		err := <-errs
		switch {
		case errors.Is(err, ErrWrongCode):
			counts[ErrWrongCode]++
		case errors.Is(err, ErrTooManyAttempts):
			counts[ErrTooManyAttempts]++
		case errors.Is(err, ErrCodeExpired):
			counts[ErrCodeExpired]++
		default:
			t.Fatalf("guess: %v", err)
		}
	}
	// The guesses beyond the attempts left are refused unchecked (too many attempts) or
	// find the code burnt (expired).
	if counts[ErrWrongCode] != 4 || counts[ErrTooManyAttempts] < 1 || counts[ErrTooManyAttempts]+counts[ErrCodeExpired] != guesses-4 {
		t.Fatalf("outcomes = %v, want 4 wrong, 1 burning, the rest refused or expired", counts)
	}
	if _, err := e.svc.CheckEmailCode(e.ctx, tok, "", code.Code, ""); !errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right code after the lock: %v", err)
	}
}
