package transfer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"valise/internal/checkgate"
)

// gatedHasher is the test hasher with its checks counted and, once armed, held until the
// gate opens: a test sees how many checks a burst got before any could finish.
type gatedHasher struct {
	testHasher
	*checkgate.Gate
}

func newGatedHasher() *gatedHasher { return &gatedHasher{Gate: checkgate.New()} }

func (g *gatedHasher) VerifyPassword(ctx context.Context, pw, hash string) (bool, error) {
	g.Pass()
	return g.testHasher.VerifyPassword(ctx, pw, hash)
}

func withHasher(h PasswordHasher) envOption { return func(_ *Config, d *Deps) { d.Hasher = h } }

// TestLinkPasswordBurst guards against the link-password race of issue 16 item 4: 300
// concurrent guesses (299 wrong, 1 right) used to be checked all before the lock. Now at most
// PasswordMaxFailures are checked; the rest are refused unchecked, and the right password,
// when refused, gets an answer the wrong ones get too.
func TestLinkPasswordBurst(t *testing.T) {
	h := newGatedHasher()
	e := newEnv(t, withHasher(h))
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{Password: "open sesame!"}).Invitations[0].Token
	h.Arm()

	const n, right = 300, 42
	errs := make([]error, n)
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			pw := fmt.Sprintf("guess %d", i)
			if i == right {
				pw = "open sesame!"
			}
			_, errs[i] = e.svc.CheckLinkPassword(e.ctx, tok, "", pw, "")
		})
	}
	checkgate.Poll(t, "every guess answered or being checked", func() bool { return done.Load()+h.Held() == n })
	h.Open()
	wg.Wait()

	maxFail := int64(e.svc.cfg.Challenge.PasswordMaxFailures)
	if runs := h.Runs(); runs > maxFail {
		t.Fatalf("%d passwords checked for the burst, want at most %d", runs, maxFail)
	}
	kinds := map[error]int{}
	kind := func(err error) error {
		switch {
		case errors.Is(err, ErrWrongPassword):
			return ErrWrongPassword
		case errors.Is(err, ErrTooManyAttempts):
			return ErrTooManyAttempts
		}
		t.Fatalf("unexpected: %v", err)
		return nil
	}
	for i, err := range errs {
		if i != right {
			kinds[kind(err)]++
		}
	}
	if err := errs[right]; err != nil && kinds[kind(err)] == 0 {
		t.Fatalf("the right password got %v, which no wrong one got", err)
	}

	// Locked now: right and wrong alike, neither checked.
	for range maxFail {
		e.svc.CheckLinkPassword(e.ctx, tok, "", "yet another guess", "")
	}
	before := h.Runs()
	_, wrongErr := e.svc.CheckLinkPassword(e.ctx, tok, "", "still a guess", "")
	_, rightErr := e.svc.CheckLinkPassword(e.ctx, tok, "", "open sesame!", "")
	if !errors.Is(wrongErr, ErrTooManyAttempts) || !errors.Is(rightErr, ErrTooManyAttempts) {
		t.Fatalf("while locked: wrong %v, right %v; want ErrTooManyAttempts for both", wrongErr, rightErr)
	}
	if got := h.Runs() - before; got != 0 {
		t.Fatalf("%d passwords checked while locked", got)
	}
}

// TestLinkPasswordLockedDuringCheck guards against the tell measured in issue 16 item 4: a
// right password whose check ended after guesses on another node had locked the link
// answered 429 where the wrong ones answered 403. It now gets the wrong password's answer.
func TestLinkPasswordLockedDuringCheck(t *testing.T) {
	h := newGatedHasher()
	e := newEnv(t, withHasher(h))
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{Password: "open sesame!"}).Invitations[0].Token
	// Another node: a second service on the same replicated metadata, with its own checks.
	other, err := New(e.svc.cfg, Deps{Store: e.meta, Blobs: e.blobs, Hasher: testHasher{}, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.Arm()
	rightErr := make(chan error, 1)
	go func() {
		_, err := e.svc.CheckLinkPassword(e.ctx, tok, "", "open sesame!", "")
		rightErr <- err
	}()
	checkgate.Poll(t, "the right password being checked", func() bool { return h.Held() == 1 })
	var lastWrong error
	for range e.svc.cfg.Challenge.PasswordMaxFailures {
		_, lastWrong = other.CheckLinkPassword(e.ctx, tok, "", "a wrong guess", "")
	}
	if !errors.Is(lastWrong, ErrWrongPassword) {
		t.Fatalf("the guess that locked the link: %v", lastWrong)
	}
	h.Open()
	if err := <-rightErr; !errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrTooManyAttempts) {
		t.Fatalf("right password locked out during its check: %v, want ErrWrongPassword as a wrong one", err)
	}
}

// TestEmailCodeBurst guards the e-mail code the same way (issue 16 item 4): 300 concurrent
// guesses with the right code among them are checked at most CodeMaxAttempts times in all,
// and the code is burnt for everyone after.
func TestEmailCodeBurst(t *testing.T) {
	e := newEnv(t)
	f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
	tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{EmailCode: true}).Invitations[0].Token
	code, err := e.svc.IssueEmailCode(e.ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	const n, right = 300, 77
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			guess := fmt.Sprintf("%08d", i)
			if guess == code.Code {
				guess = "x"
			}
			if i == right {
				guess = code.Code
			}
			_, errs[i] = e.svc.CheckEmailCode(e.ctx, tok, "", guess, "")
		})
	}
	wg.Wait()
	wrong := 0
	for i, err := range errs {
		switch {
		case i == right:
		case errors.Is(err, ErrWrongCode):
			wrong++
		case errors.Is(err, ErrTooManyAttempts), errors.Is(err, ErrCodeExpired):
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
	}
	if maxFail := e.svc.cfg.Challenge.CodeMaxAttempts; wrong >= maxFail {
		t.Fatalf("%d wrong codes checked, want fewer than %d", wrong, maxFail)
	}
	if err := errs[right]; err != nil && !errors.Is(err, ErrTooManyAttempts) && !errors.Is(err, ErrCodeExpired) {
		t.Fatalf("the right code got %v, which no wrong one gets", err)
	}
}
