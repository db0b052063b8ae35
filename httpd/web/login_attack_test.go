package web

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"valise/account"
	"valise/internal/checkgate"
)

// answer is what a login POST got, read whole; safe to build off the test goroutine.
type answer struct {
	status     int
	retryAfter string
	body       string
	err        error
}

// loginFrom signs in with a fresh browser connecting from the loopback address src
// ("127.0.0.2"; "" for the default), its CSRF token fetched first.
func (e *env) loginFrom(ctx context.Context, src, email, password string) answer {
	jar, _ := cookiejar.New(nil)
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	hc := &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.pool}, DialContext: d.DialContext},
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer hc.CloseIdleConnections()
	get, err := http.NewRequestWithContext(ctx, "GET", e.base+"/login", nil)
	if err != nil {
		return answer{err: err}
	}
	resp, err := hc.Do(get)
	if err != nil {
		return answer{err: err}
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfRe.FindStringSubmatch(string(b))
	if m == nil {
		return answer{err: fmt.Errorf("no CSRF token on /login (status %d)", resp.StatusCode)}
	}
	return postLogin(ctx, hc, e.base, m[1], email, password)
}

func postLogin(ctx context.Context, hc *http.Client, base, csrf, email, password string) answer {
	form := url.Values{"csrf": {csrf}, "email": {email}, "password": {password}}
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/login", strings.NewReader(form.Encode()))
	if err != nil {
		return answer{err: err}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b), err: err}
}

// highLimits lifts the sign-in rate limits, so that a test reaches the account's own rules.
func highLimits(_ *env, c *Config, _ *Deps) {
	c.LoginPerAddress = Rate{PerMinute: 1e6, Burst: 1e6}
	c.LoginPerAccount = Rate{PerMinute: 1e6, Burst: 1e6}
}

// TestLoginBurstOneAccount guards against the lockout race measured in issue 16 item 4: 300
// concurrent POST /login for one account, 299 wrong and 1 right, gave 299 × 401 and a
// working session for the right one, every password hashed. Now at most the lockout
// threshold of passwords are checked; every refusal made before a check is the same page,
// and the right password, when refused, gets exactly the answer of a wrong one.
func TestLoginBurstOneAccount(t *testing.T) {
	gate := checkgate.New()
	const threshold = 3
	e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
		c.OnHash = gate.Pass
		c.Lockout.Threshold = threshold
		c.Password.MaxConcurrent = 16 // every admitted check reaches the gate
	}, highLimits)
	e.addUser("target@example.org", testPassword, account.LangFR)
	c := e.newClient()
	csrf := c.csrf("/login")
	gate.Arm()

	const n, right = 300, 211
	answers := make([]answer, n)
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			pw := fmt.Sprintf("wrong guess %03d", i)
			if i == right {
				pw = testPassword
			}
			answers[i] = postLogin(e.ctx, c.hc, e.base, csrf, "target@example.org", pw)
		})
	}
	checkgate.Poll(t, "every login answered or being checked", func() bool { return done.Load()+gate.Held() == n })
	gate.Open()
	wg.Wait()

	if runs := gate.Runs(); runs > threshold {
		t.Fatalf("%d passwords checked for the burst, want at most %d", runs, threshold)
	}
	seen := map[string]int{}
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("login %d: %v", i, a.err)
		}
		if i == right {
			continue
		}
		if a.status != http.StatusUnauthorized && a.status != http.StatusTooManyRequests {
			t.Fatalf("wrong password %d: status %d", i, a.status)
		}
		seen[fmt.Sprint(a.status, a.retryAfter, a.body)]++
	}
	if len(seen) > 2 {
		t.Fatalf("%d different answers to wrong passwords, want at most 2 (checked, refused)", len(seen))
	}
	if r := answers[right]; r.status != http.StatusSeeOther && seen[fmt.Sprint(r.status, r.retryAfter, r.body)] == 0 {
		t.Fatalf("the right password got status %d and an answer no wrong one got", r.status)
	}

	// Locked now: a right and a wrong password read exactly alike, and neither is checked.
	for range threshold {
		postLogin(e.ctx, c.hc, e.base, csrf, "target@example.org", "one more wrong guess")
	}
	before := gate.Runs()
	wrong := postLogin(e.ctx, c.hc, e.base, csrf, "target@example.org", "still not it")
	good := postLogin(e.ctx, c.hc, e.base, csrf, "target@example.org", testPassword)
	if wrong.status != http.StatusTooManyRequests || good.status != wrong.status || good.retryAfter != wrong.retryAfter || good.body != wrong.body {
		t.Fatalf("while locked: wrong %d %q, right %d %q; want the same 429", wrong.status, wrong.retryAfter, good.status, good.retryAfter)
	}
	if got := gate.Runs() - before; got != 0 {
		t.Fatalf("%d passwords checked while locked", got)
	}
}

// TestLoginRateLimits guards the per-address and per-account limits on POST /login (issue 16
// item 4): past either, the answer is 429 with Retry-After, the same for a user's address and
// an unknown one, and no password is checked.
func TestLoginRateLimits(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit func(*Config)
		// source address and e-mail of the i-th attempt
		attempt func(i int) (string, string)
	}{
		{"per client address", func(c *Config) { c.LoginPerAddress = Rate{PerMinute: 1, Burst: 4} },
			func(i int) (string, string) { return "127.0.0.7", fmt.Sprintf("user%d@example.org", i%2) }},
		{"per account", func(c *Config) { c.LoginPerAccount = Rate{PerMinute: 1, Burst: 4} },
			func(i int) (string, string) { return fmt.Sprintf("127.0.0.%d", 10+i), "user0@example.org" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gate := checkgate.New()
			gate.Open()
			e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
				c.OnHash = gate.Pass
				c.Lockout.Threshold = 100
			}, highLimits, func(_ *env, c *Config, _ *Deps) { tc.limit(c) })
			e.addUser("user0@example.org", testPassword, account.LangFR)
			gate.Arm()
			var limited []answer
			for i := range 8 {
				src, email := tc.attempt(i)
				a := e.loginFrom(e.ctx, src, email, "a wrong password")
				if a.err != nil {
					t.Fatal(a.err)
				}
				if i < 4 && a.status != http.StatusUnauthorized {
					t.Fatalf("attempt %d within the limit: status %d", i, a.status)
				}
				if i >= 4 {
					if a.status != http.StatusTooManyRequests || a.retryAfter == "" {
						t.Fatalf("attempt %d past the limit: status %d, Retry-After %q", i, a.status, a.retryAfter)
					}
					// Each browser has its own CSRF token, and the page repeats the address typed.
					a.body = strings.ReplaceAll(csrfRe.ReplaceAllString(a.body, ""), email, "EMAIL")
					limited = append(limited, a)
				}
			}
			if runs := gate.Runs(); runs != 4 {
				t.Fatalf("%d passwords checked, want the 4 within the limit", runs)
			}
			for _, a := range limited[1:] {
				if a.body != limited[0].body {
					t.Fatalf("refusals differ between a user's address and an unknown one")
				}
			}
		})
	}
}

// TestLoginFloodCannotStall guards against a flood of logins for random addresses stalling
// everyone else's (issue 16 item 4, measured 0.05 s → 14–25 s): once the Argon2 queue is full
// a login is answered at once with 429 and Retry-After, and once the flood ebbs a user's
// login works.
func TestLoginFloodCannotStall(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
		c.OnHash = gate.Pass
		c.Password.MaxConcurrent = 1
		c.Password.MaxQueue = 2
		c.Password.MaxWait = time.Hour // only the queue's length may refuse here
	}, highLimits)
	e.addUser("alice@example.org", testPassword, account.LangFR)
	c := e.newClient()
	csrf := c.csrf("/login")
	gate.Arm()
	const n = 30
	answers := make([]answer, n)
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer done.Add(1)
			answers[i] = postLogin(e.ctx, c.hc, e.base, csrf, fmt.Sprintf("random-%d@example.net", i), "some password")
		})
	}
	// One hashing, two waiting: every other login is answered while those are still held.
	checkgate.Poll(t, "the flood beyond the queue answered", func() bool { return done.Load() == n-3 && gate.Held() == 1 })
	busy := 0
	for i, a := range answers {
		if a.status == 0 {
			continue // still waiting for its slot
		}
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.status != http.StatusTooManyRequests || a.retryAfter != retryBusy {
			t.Fatalf("login %d during the flood: status %d, Retry-After %q", i, a.status, a.retryAfter)
		}
		busy++
	}
	if busy != n-3 {
		t.Fatalf("%d answered busy, want %d", busy, n-3)
	}
	gate.Open()
	wg.Wait()
	if a := e.loginFrom(e.ctx, "", "alice@example.org", testPassword); a.status != http.StatusSeeOther {
		t.Fatalf("a user's login after the flood: status %d", a.status)
	}
}

// TestLoginRequestDeadline guards against a request waiting without end for an Argon2 slot
// (issue 16 item 4): every web request has a deadline, past which it is answered.
func TestLoginRequestDeadline(t *testing.T) {
	gate := checkgate.New()
	e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
		c.OnHash = gate.Pass
		c.Password.MaxConcurrent = 1
		c.Password.MaxWait = time.Hour
	}, highLimits, func(_ *env, c *Config, _ *Deps) { c.RequestTimeout = 300 * time.Millisecond })
	e.addUser("alice@example.org", testPassword, account.LangFR)
	gate.Arm()
	first := make(chan answer, 1)
	go func() { first <- e.loginFrom(e.ctx, "", "alice@example.org", "held at the gate") }()
	checkgate.Poll(t, "the first check holding the only slot", func() bool { return gate.Held() == 1 })
	a := e.loginFrom(e.ctx, "", "alice@example.org", testPassword)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if a.status != http.StatusServiceUnavailable || a.retryAfter == "" {
		t.Fatalf("a login that could not get a slot in time: status %d, Retry-After %q", a.status, a.retryAfter)
	}
	if gate.Held() != 1 {
		t.Fatal("the slot was freed before the second login was answered")
	}
	gate.Open()
	<-first
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestLoginGuesserCannotLockOthersOut guards issue 16 item 4 end to end: the sign-in page
// counts failures per client address, so a guesser at 127.0.0.2 locks a user out of other
// addresses only for the lockout floor, while its own address stays locked even with the
// right password.
func TestLoginGuesserCannotLockOthersOut(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)}
	var floor time.Duration
	e := newEnvWith(t, newBlobstore(t), func(c *account.Config) {
		c.Now = clk.Now
		floor = c.Lockout.Floor
	}, highLimits)
	e.addUser("victim@example.org", testPassword, account.LangFR)
	login := func(src, pw string) int {
		t.Helper()
		a := e.loginFrom(e.ctx, src, "victim@example.org", pw)
		if a.err != nil {
			t.Fatal(a.err)
		}
		return a.status
	}
	// 3 failures lock for 1 min; one more after each lock: 2, 4, 8 min.
	for range 3 {
		login("127.0.0.2", "guess guess guess")
	}
	for _, d := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
		clk.Advance(d)
		if s := login("127.0.0.2", "guess guess guess"); s != http.StatusUnauthorized {
			t.Fatalf("guess after a lock: status %d", s)
		}
	}
	if s := login("127.0.0.3", testPassword); s != http.StatusTooManyRequests {
		t.Fatalf("the user within the floor: status %d, want 429", s)
	}
	clk.Advance(floor)
	if s := login("127.0.0.3", testPassword); s != http.StatusSeeOther {
		t.Fatalf("the user from a clean address after the floor: status %d, want 303", s)
	}
	if s := login("127.0.0.2", testPassword); s != http.StatusTooManyRequests {
		t.Fatalf("the guesser's address with the right password: status %d, want 429", s)
	}
}
