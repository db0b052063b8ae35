package web

import (
	"strings"
	"valise/internal/keyrate"
)

// Rate is a token bucket: PerMinute sustained, Burst at once.
type Rate struct {
	// PerMinute is the sustained rate of attempts.
	PerMinute float64 `toml:"per_minute"`
	// Burst is how many attempts may come at once.
	Burst int `toml:"burst"`
}

func (r Rate) valid() bool { return r.PerMinute > 0 && r.Burst >= 1 }

// maxLimiterKeys bounds the keys a limiter tracks; idle ones are forgotten first.
const maxLimiterKeys = 100000

// newLimiter returns a token bucket per key (a client address, an e-mail address typed), in
// memory on this node: the lockout in account is what holds across the cluster; this only
// keeps one node's Argon2 slots from being spent on one source.
func newLimiter(r Rate) *keyrate.Limiter { return keyrate.New(r.PerMinute, r.Burst, maxLimiterKeys) }

// accountKey maps the e-mail address typed to its bucket, whether a user has it or not.
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
