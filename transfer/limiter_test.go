package transfer

import (
	"fmt"
	"testing"
	"time"

	"valise/raftfsm"
	"valise/transfer/transfertest"
)

// Token guessing is rate-limited per client address (issue 11).
func TestAllowLinkAttempt(t *testing.T) {
	clock := transfertest.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	l := newIPLimiter(RateConfig{PerMinute: 6, Burst: 3, MaxClients: 4}, clock.Now)
	for i := range 3 {
		if !l.allow("198.51.100.7") {
			t.Fatalf("attempt %d within the burst refused", i)
		}
	}
	for _, tc := range []struct {
		name string
		ip   string
		want bool
	}{
		{"same address over the burst", "198.51.100.7", false},
		{"another address", "198.51.100.8", true},
		{"IPv4-mapped IPv6 is the same host", "::ffff:198.51.100.7", false},
		{"IPv6 host", "2001:db8:1:2::1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.allow(tc.ip); got != tc.want {
				t.Fatalf("allow(%s) = %v, want %v", tc.ip, got, tc.want)
			}
		})
	}
	// One IPv6 /64 is one client: the other addresses of it share the bucket.
	l.allow("2001:db8:1:2::2")
	l.allow("2001:db8:1:2::3")
	if l.allow("2001:db8:1:2:ffff::9") {
		t.Fatal("a fourth address of the same /64 got past the burst")
	}
	clock.Advance(10 * time.Second) // one token back at 6 per minute
	if !l.allow("198.51.100.7") {
		t.Fatal("no attempt allowed after the refill")
	}
	// The table stays bounded.
	for i := range 100 {
		l.allow("203.0.113." + itoa(i))
	}
	if n := l.lim.Len(); n > 4 {
		t.Fatalf("%d buckets kept, at most 4", n)
	}
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"zero max file size", func(c *Config) { c.Policy.MaxFileSize = 0 }, false},
		{"default expiry beyond max", func(c *Config) { c.Policy.DefaultExpiry = 40 * 24 * time.Hour }, false},
		{"five-digit codes", func(c *Config) { c.Challenge.CodeDigits = 5 }, false},
		{"no recipients", func(c *Config) { c.MaxRecipients = 0 }, false},
		{"no rate", func(c *Config) { c.LinkRate.PerMinute = 0 }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestCodeIsStable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{ErrLinkNotFound, "link_not_found"},
		{&FileNameError{Problem: NameNUL}, "file_name_invalid"},
		{&RecipientError{Address: "x"}, "recipient_invalid"},
		{&FileNotSendableError{Verdict: VerdictInfected}, "file_not_sendable"},
		{&FileNotSendableError{Verdict: VerdictPending}, "file_scanning"},
		// issue 17 item 2: one code for a file too large, and "not now" answered alike.
		{ErrTooLarge, "upload_too_large"},
		{ErrBusy, "unavailable"},
		{fmt.Errorf("create send: %w", raftfsm.ErrNotLeader), "unavailable"}, // the store's own kind, through the wrapping
		{fmt.Errorf("read: %w", raftfsm.ErrNoLeader), "unavailable"},
		{errString("other"), "internal"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			if got := Code(tc.err); got != tc.code {
				t.Fatalf("Code(%v) = %q, want %q", tc.err, got, tc.code)
			}
		})
	}
}

type errString string

func (e errString) Error() string { return string(e) }
