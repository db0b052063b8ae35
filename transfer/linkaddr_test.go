package transfer

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/internal/checkgate"
)

// challengeCase is one of a link's challenges, as the tests below drive it.
type challengeCase struct {
	name string
	slot string // its name in linkRecord.Addrs
	// setup makes a send asking for the challenge and returns its link and right answer.
	setup func(e *env) (token, right string)
	check func(e *env, token, answer, ip string) (Grant, error)
	max   func(e *env) int
	// wrongErr is what a checked wrong answer gets; lockErr what the failure that locks
	// gets, and lockedErr a checked wrong one while the link is locked.
	wrongErr, lockErr, lockedErr error
}

func challengeCases() []challengeCase {
	return []challengeCase{
		{
			name: "password", slot: "password",
			setup: func(e *env) (string, string) {
				f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
				return e.send("u1", []File{f}, []string{"bob@example.org"}, Options{Password: "open sesame!"}).Invitations[0].Token, "open sesame!"
			},
			check: func(e *env, token, answer, ip string) (Grant, error) {
				return e.svc.CheckLinkPassword(e.ctx, token, "", answer, ip)
			},
			max:      func(e *env) int { return e.svc.cfg.Challenge.PasswordMaxFailures },
			wrongErr: ErrWrongPassword, lockErr: ErrWrongPassword, lockedErr: ErrWrongPassword,
		},
		{
			name: "email code", slot: "code",
			setup: func(e *env) (string, string) {
				f := e.upload("u1", "a.bin", randomData(400, 1), VerdictClean)
				tok := e.send("u1", []File{f}, []string{"bob@example.org"}, Options{EmailCode: true}).Invitations[0].Token
				code, err := e.svc.IssueEmailCode(e.ctx, tok)
				if err != nil {
					e.t.Fatal(err)
				}
				return tok, code.Code
			},
			check: func(e *env, token, answer, ip string) (Grant, error) {
				return e.svc.CheckEmailCode(e.ctx, token, "", answer, ip)
			},
			max:      func(e *env) int { return e.svc.cfg.Challenge.CodeMaxAttempts },
			wrongErr: ErrWrongCode, lockErr: ErrTooManyAttempts, lockedErr: ErrTooManyAttempts,
		},
	}
}

const (
	guesserIP   = "127.0.0.2"
	recipientIP = "127.0.0.3"
)

// lockByGuesser has guesserIP lock the link's challenge with wrong answers.
func lockByGuesser(t *testing.T, e *env, tc challengeCase, token string) {
	t.Helper()
	for i := range tc.max(e) {
		_, err := tc.check(e, token, "a wrong guess", guesserIP)
		want := tc.wrongErr
		if i == tc.max(e)-1 {
			want = tc.lockErr
		}
		if !errors.Is(err, want) {
			t.Fatalf("guess %d from %s: %v, want %v", i, guesserIP, err, want)
		}
	}
}

// TestLinkGuesserCannotLockRecipientOut guards against the lock-out of issue 16 item 4: a
// link's failures were counted per link only, so one guesser from one address locked the
// recipient out of their link (password or e-mail code) for the lock's whole length, again
// and again. Failures are now counted per (link, address) too: past the lock's floor, the
// right answer from an address with no failures gets a grant, while the guesser's address
// stays locked; refused, right and wrong answers get the same error.
func TestLinkGuesserCannotLockRecipientOut(t *testing.T) {
	for _, tc := range challengeCases() {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			token, right := tc.setup(e)
			lockByGuesser(t, e, tc, token)

			// During the floor the lock holds every address, right answer or wrong alike.
			for _, answer := range []string{right, "another guess"} {
				if _, err := tc.check(e, token, answer, recipientIP); !errors.Is(err, ErrTooManyAttempts) {
					t.Fatalf("%q from %s during the floor: %v, want ErrTooManyAttempts", answer, recipientIP, err)
				}
			}

			e.clock.Advance(e.svc.cfg.Challenge.LockFloor)
			for _, answer := range []string{right, "another guess"} {
				if _, err := tc.check(e, token, answer, guesserIP); !errors.Is(err, ErrTooManyAttempts) {
					t.Fatalf("%q from the guesser past the floor: %v, want ErrTooManyAttempts for both", answer, err)
				}
			}
			g, err := tc.check(e, token, right, recipientIP)
			if err != nil || !g.Complete {
				t.Fatalf("right answer from %s past the floor: %+v, %v; want a complete grant", recipientIP, g, err)
			}
			if tc.name == "password" { // the code is used up; the password stays locked for the guesser
				if _, err := tc.check(e, token, right, guesserIP); !errors.Is(err, ErrTooManyAttempts) {
					t.Fatalf("right password from the guesser after the recipient's grant: %v", err)
				}
			}
		})
	}
}

// TestLinkBurstPastFloorOneAddress guards the floor of issue 16 item 4 against a burst: past
// the floor of a link's lock, 100 concurrent wrong answers from one new address get one check
// in all (then that address has a failure of its own and is held), and the recipient's
// address, with none, still gets through: the failure extends the lock but not its floor.
func TestLinkBurstPastFloorOneAddress(t *testing.T) {
	const burstIP, n = "127.0.0.4", 100
	for _, tc := range challengeCases() {
		t.Run(tc.name, func(t *testing.T) {
			h := newGatedHasher()
			e := newEnv(t, withHasher(h))
			token, right := tc.setup(e)
			lockByGuesser(t, e, tc, token)
			e.clock.Advance(e.svc.cfg.Challenge.LockFloor)

			h.Arm()
			errs := make([]error, n)
			var done atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					defer done.Add(1)
					_, errs[i] = tc.check(e, token, fmt.Sprintf("burst guess %d", i), burstIP)
				})
			}
			checkgate.Poll(t, "every guess answered or being checked", func() bool { return done.Load()+h.Held() == n })
			h.Open()
			wg.Wait()
			if runs := h.Runs(); runs > 1 {
				t.Fatalf("%d passwords checked for the burst past the floor, want at most 1", runs)
			}
			for i, err := range errs {
				if !errors.Is(err, tc.lockedErr) && !errors.Is(err, ErrTooManyAttempts) {
					t.Fatalf("burst guess %d: %v", i, err)
				}
			}
			// The failures recorded for the address tell how many answers were checked.
			hash, _ := ParseToken(token)
			var rec linkRecord
			if _, err := e.svc.getJSON(linkKey(hash), &rec); err != nil {
				t.Fatal(err)
			}
			if got := rec.Addrs[addrSlot(tc.slot, burstIP)].Failures; got != 1 {
				t.Fatalf("%d failures recorded for the burst's address, want 1 (one answer checked)", got)
			}
			if _, err := tc.check(e, token, right, burstIP); !errors.Is(err, ErrTooManyAttempts) {
				t.Fatalf("right answer from the bursting address: %v, want ErrTooManyAttempts", err)
			}
			g, err := tc.check(e, token, right, recipientIP)
			if err != nil || !g.Complete {
				t.Fatalf("right answer from %s after the burst: %+v, %v; want a complete grant", recipientIP, g, err)
			}
		})
	}
}

// TestLinkAddrRecordsBounded guards the per-address counts of issue 16 item 4 against growing
// without end: failures from ever new addresses keep at most maxAddrRecords records in the
// link, forgetting the stalest, and a served lock is forgotten.
func TestLinkAddrRecordsBounded(t *testing.T) {
	ch := DefaultConfig().Challenge
	e := newEnv(t)
	var link linkRecord
	for i := range maxAddrRecords + 10 {
		e.clock.Advance(time.Second)
		ch.failAddr(&link, addrSlot("password", fmt.Sprintf("10.0.%d.%d", i/256, i%256)), ch.PasswordMaxFailures, e.clock.Now())
	}
	if len(link.Addrs) != maxAddrRecords {
		t.Fatalf("%d address records, want %d", len(link.Addrs), maxAddrRecords)
	}
	if _, ok := link.Addrs[addrSlot("password", "10.0.0.0")]; ok {
		t.Fatal("the stalest address was kept")
	}
	last := addrSlot("password", fmt.Sprintf("10.0.0.%d", maxAddrRecords+9))
	if link.Addrs[last].Failures != 1 {
		t.Fatalf("the newest address: %+v", link.Addrs[last])
	}
	for range ch.PasswordMaxFailures - 1 {
		ch.failAddr(&link, last, ch.PasswordMaxFailures, e.clock.Now())
	}
	if !ch.addrBlocked(&link, last, false, time.Time{}, e.clock.Now()) {
		t.Fatal("an address with the maximum failures is not locked")
	}
	e.clock.Advance(ch.PasswordLockout)
	if got := ch.freshAddr(link.Addrs[last], e.clock.Now()); got != (addrRecord{}) {
		t.Fatalf("a served lock is remembered: %+v", got)
	}
}
