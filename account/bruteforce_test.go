package account

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/internal/checkgate"
	"valise/raftfsm"
)

// TestConcurrentGuessesGetThresholdChecks guards against the lockout race of issue 16 item 4:
// 300 concurrent guesses for one account (299 wrong, 1 right) used to be hashed all, since
// each read the failure count before any was recorded. Now a check is reserved before it is
// hashed: at most Lockout.Threshold hashes run, the rest are refused unhashed, and the right
// password, when it is refused, gets the very error the wrong ones get.
func TestConcurrentGuessesGetThresholdChecks(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, func(c *Config) {
		c.OnHash = gate.Pass
		c.Password.MaxConcurrent = 16 // every admitted check reaches the gate
	})
	ctx := ctxT(t)
	e.addUser(t, "target@example.org", goodPassword)
	gate.Arm()

	const n, right = 300, 137
	errs := make([]error, n)
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			pw := fmt.Sprintf("wrong guess number %d", i)
			if i == right {
				pw = goodPassword
			}
			cctx := WithClientIP(ctx, fmt.Sprintf("10.1.%d.%d", i/250, i%250))
			_, errs[i] = e.svc.CheckPassword(cctx, "target@example.org", pw)
		})
	}
	// Every guess is answered or held at the gate: only then may the checks finish.
	checkgate.Poll(t, "every guess answered or hashing", func() bool { return done.Load()+gate.Held() == n })
	gate.Open()
	wg.Wait()

	threshold := int64(e.svc.cfg.Lockout.Threshold)
	if runs := gate.Runs(); runs > threshold {
		t.Fatalf("%d password hashes for one burst, want at most %d", runs, threshold)
	}
	refusedAs := func(err error) string {
		var ue *UserError
		if !errors.As(err, &ue) {
			t.Fatalf("not a *UserError: %v", err)
		}
		return ue.Key + "|" + ue.Message(LangFR) + "|" + ue.Message(LangEN)
	}
	answers := map[string]int{}
	for i, err := range errs {
		if i == right {
			continue
		}
		if err == nil {
			t.Fatalf("wrong guess %d accepted", i)
		}
		if !errors.Is(err, ErrLocked) && !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v", i, err)
		}
		answers[refusedAs(err)]++
	}
	if errs[right] != nil {
		if answers[refusedAs(errs[right])] == 0 {
			t.Fatalf("the right password got an answer no wrong one got: %v", errs[right])
		}
	}

	// Locked now (or soon, below): a right password gets exactly a wrong one's answer, and
	// neither is hashed.
	for range threshold {
		if _, err := e.svc.CheckPassword(ctx, "target@example.org", "yet another wrong one"); errors.Is(err, ErrLocked) {
			break
		}
	}
	before := gate.Runs()
	_, wrongErr := e.svc.CheckPassword(ctx, "target@example.org", "still wrong here")
	_, rightErr := e.svc.CheckPassword(ctx, "target@example.org", goodPassword)
	if !errors.Is(wrongErr, ErrLocked) || !errors.Is(rightErr, ErrLocked) {
		t.Fatalf("while locked: wrong %v, right %v; want ErrLocked for both", wrongErr, rightErr)
	}
	if refusedAs(wrongErr) != refusedAs(rightErr) {
		t.Fatalf("while locked the right password reads %q, a wrong one %q", refusedAs(rightErr), refusedAs(wrongErr))
	}
	if got := gate.Runs() - before; got != 0 {
		t.Fatalf("%d hashes run while locked", got)
	}
}

// TestUnknownAddressLockedLikeKnown guards against lockout revealing which addresses have
// accounts (issue 16 item 4): a guesser hammering an address no user has sees the same
// answers, after the same number of hashes, as one hammering a real user.
func TestUnknownAddressLockedLikeKnown(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, func(c *Config) { c.OnHash = gate.Pass })
	gate.Open()
	ctx := WithClientIP(ctxT(t), "192.0.2.7")
	e.addUser(t, "real@example.org", goodPassword)
	gate.Arm()
	trace := func(email string) []string {
		var out []string
		for range e.svc.cfg.Lockout.Threshold + 3 {
			before := gate.Runs()
			_, err := e.svc.CheckPassword(ctx, email, "not the password at all")
			var ue *UserError
			if !errors.As(err, &ue) {
				t.Fatalf("%s: %v", email, err)
			}
			out = append(out, fmt.Sprintf("%s hashes=%d", ue.Key, gate.Runs()-before))
		}
		return out
	}
	known, unknown := trace("real@example.org"), trace("ghost@example.org")
	if fmt.Sprint(known) != fmt.Sprint(unknown) {
		t.Fatalf("a real user's lockout reads\n%v\nan unknown address's\n%v", known, unknown)
	}
	if last := known[len(known)-1]; last != "account.locked hashes=0" {
		t.Fatalf("after the threshold: %q, want a lock without hashing", last)
	}
}

// TestOneAddressCannotLockOthersOut guards against a guesser locking a user out for an hour
// from one address (issue 16 item 4): failures count per (user, address) too; the lock of
// the user holds another address, one with no failure, only for Lockout.Floor, while the
// guesser's own address stays locked.
func TestOneAddressCannotLockOthersOut(t *testing.T) {
	e := newEnv(t)
	base := ctxT(t)
	e.addUser(t, "victim@example.org", goodPassword)
	attacker := WithClientIP(base, "203.0.113.66")
	victim := WithClientIP(base, "198.51.100.10")
	third := WithClientIP(base, "2001:db8:1:2::99")
	lk := e.svc.cfg.Lockout
	check := func(ctx context.Context, pw string) error {
		t.Helper()
		_, err := e.svc.CheckPassword(ctx, "victim@example.org", pw)
		return err
	}
	// The guesser fails until the user's lock is longer than the floor: 5 failures (1 min),
	// then one after each lock (2, 4, 8 min).
	for range lk.Threshold {
		if err := check(attacker, "guess guess guess"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		e.clk.Advance(d)
		if err := check(attacker, "guess guess guess"); !errors.Is(err, ErrBadCredentials) {
			t.Fatal(err)
		}
	}
	// Now locked for 8 min. Before the floor the victim is held too…
	if err := check(victim, goodPassword); !errors.Is(err, ErrLocked) {
		t.Fatalf("right password from a clean address within the floor: %v, want ErrLocked", err)
	}
	e.clk.Advance(lk.Floor)
	// …after it, a wrong guess from a third clean address is checked and counted…
	if err := check(third, "another guess entirely"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password from a clean address after the floor: %v", err)
	}
	if err := check(third, goodPassword); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second try from an address that failed during the lock: %v, want ErrLocked", err)
	}
	// …and the victim's right password goes through,
	if err := check(victim, goodPassword); err != nil {
		t.Fatalf("right password from a clean address after the floor: %v", err)
	}
	// while the guesser's own address stays locked, even with the right password.
	if err := check(attacker, goodPassword); !errors.Is(err, ErrLocked) {
		t.Fatalf("the guesser's address after the victim's login: %v, want ErrLocked", err)
	}
}

// TestHashQueueBounded guards against a flood of logins for random addresses stalling
// everyone's (issue 16 item 4): beyond MaxQueue waiting hashes a check is refused at once
// with ErrBusy instead of queueing without bound.
func TestHashQueueBounded(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, func(c *Config) {
		c.OnHash = gate.Pass
		c.Password.MaxConcurrent = 2
		c.Password.MaxQueue = 3
		c.Password.MaxWait = time.Hour // only the queue's length may refuse here
	})
	ctx := ctxT(t)
	gate.Arm()
	const n = 40
	errs := make([]error, n)
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			_, errs[i] = e.svc.CheckPassword(WithClientIP(ctx, fmt.Sprintf("10.9.0.%d", i)), fmt.Sprintf("random%d@example.org", i), "whatever password")
		})
	}
	// 2 hashing and 3 waiting; the other 35 must be answered while those are still held.
	checkgate.Poll(t, "the flood beyond the queue answered", func() bool { return done.Load() == n-5 && gate.Held() == 2 })
	gate.Open()
	wg.Wait()
	busy := 0
	for _, err := range errs {
		if errors.Is(err, ErrBusy) {
			busy++
			var ue *UserError
			if !errors.As(err, &ue) || ue.Key != "account.busy" {
				t.Fatalf("ErrBusy not a user error: %v", err)
			}
		} else if !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("unexpected: %v", err)
		}
	}
	if busy != n-5 {
		t.Fatalf("%d refused as busy, want %d", busy, n-5)
	}
}

// TestRightPasswordLockedDuringCheck guards the check after hashing (issue 16 item 4): a
// right password whose hash ran while guesses on another node locked the user is refused,
// with exactly the answer of a wrong password that was checked.
func TestRightPasswordLockedDuringCheck(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, func(c *Config) { c.OnHash = gate.Pass })
	ctx := ctxT(t)
	e.addUser(t, "busy@example.org", goodPassword)
	// Another node: a second service on the same replicated metadata, with its own checks
	// in flight.
	other, err := New(testConfig(e.clk), e.store, nil)
	if err != nil {
		t.Fatal(err)
	}
	gate.Arm()
	rightErr := make(chan error, 1)
	go func() {
		_, err := e.svc.CheckPassword(WithClientIP(ctx, "198.51.100.20"), "busy@example.org", goodPassword)
		rightErr <- err
	}()
	checkgate.Poll(t, "the right password being hashed", func() bool { return gate.Held() == 1 })
	var wrongErr error
	for range e.svc.cfg.Lockout.Threshold {
		_, wrongErr = other.CheckPassword(WithClientIP(ctx, "203.0.113.5"), "busy@example.org", "a wrong guess here")
	}
	if !errors.Is(wrongErr, ErrBadCredentials) {
		t.Fatalf("the guess that locked the user: %v", wrongErr)
	}
	gate.Open()
	err = <-rightErr
	var got, want *UserError
	if !errors.As(err, &got) || !errors.As(wrongErr, &want) {
		t.Fatalf("not user errors: %v, %v", err, wrongErr)
	}
	if !errors.Is(err, ErrBadCredentials) || got.Key != want.Key || got.Message(LangFR) != want.Message(LangFR) {
		t.Fatalf("right password locked during its check: %v, want the wrong password's answer", err)
	}
}

// TestPurgeLocks checks that the lock records guessing leaves behind (one per address tried,
// one per unknown address) are deleted once they no longer count, and only then.
func TestPurgeLocks(t *testing.T) {
	e := newEnv(t)
	ctx := ctxT(t)
	e.addUser(t, "kept@example.org", goodPassword)
	for i := range 3 {
		e.svc.CheckPassword(WithClientIP(ctx, fmt.Sprintf("192.0.2.%d", i)), "kept@example.org", "wrong password here")
		e.svc.CheckPassword(WithClientIP(ctx, fmt.Sprintf("192.0.2.%d", i)), fmt.Sprintf("nobody%d@example.org", i), "wrong password here")
	}
	count := func() int {
		n := 0
		for _, p := range []string{lockPrefix, lockIPPrefix} {
			e.store.Scan([]byte(p), func(raftfsm.Item) error { n++; return nil })
		}
		return n
	}
	if got := count(); got != 1+3+3+3 {
		t.Fatalf("%d lock records, want 10", got)
	}
	if n, err := e.svc.PurgeLocks(ctx); err != nil || n != 0 {
		t.Fatalf("PurgeLocks of fresh records = %d, %v; want 0", n, err)
	}
	e.clk.Advance(e.svc.cfg.Lockout.Window + time.Second)
	if n, err := e.svc.PurgeLocks(ctx); err != nil || n != 10 {
		t.Fatalf("PurgeLocks of stale records = %d, %v; want 10", n, err)
	}
	if got := count(); got != 0 {
		t.Fatalf("%d lock records left", got)
	}
}

// TestGuesserAddressOneCheckAtATime guards against a guesser regaining a full round of
// concurrent checks when the user's own login resets the user's count (issue 16 item 4): the
// guesser's address keeps its failures, so once its lock ends it gets one check at a time.
func TestGuesserAddressOneCheckAtATime(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, func(c *Config) {
		c.OnHash = gate.Pass
		c.Password.MaxConcurrent = 16
	})
	ctx := ctxT(t)
	e.addUser(t, "user@example.org", goodPassword)
	attacker := WithClientIP(ctx, "203.0.113.77")
	for range e.svc.cfg.Lockout.Threshold {
		e.svc.CheckPassword(attacker, "user@example.org", "a guess at it")
	}
	e.clk.Advance(e.svc.cfg.Lockout.Base)
	if _, err := e.svc.CheckPassword(WithClientIP(ctx, "198.51.100.3"), "user@example.org", goodPassword); err != nil {
		t.Fatalf("the user's login after the lock: %v", err)
	}
	gate.Arm()
	const n = 20
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			e.svc.CheckPassword(attacker, "user@example.org", fmt.Sprintf("burst guess %d", i))
		})
	}
	checkgate.Poll(t, "the burst answered or hashing", func() bool { return done.Load()+gate.Held() == n })
	gate.Open()
	wg.Wait()
	if runs := gate.Runs(); runs != 1 {
		t.Fatalf("%d checks for the guesser's burst after its lock, want 1", runs)
	}
}
