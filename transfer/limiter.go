package transfer

import (
	"time"

	"valise/internal/clientaddr"
	"valise/internal/keyrate"
)

// ipLimiter is a token bucket per client address, in memory on this node (see the package
// doc). IPv6 addresses share a bucket per /64, since one host commonly holds a whole /64
// (clientaddr.Key).
type ipLimiter struct {
	lim *keyrate.Limiter
	now func() time.Time
}

func newIPLimiter(c RateConfig, now func() time.Time) *ipLimiter {
	return &ipLimiter{lim: keyrate.New(c.PerMinute, c.Burst, c.MaxClients), now: now}
}

func (l *ipLimiter) allow(ip string) bool { return l.lim.Allow(clientaddr.Key(ip), l.now()) }

// AllowLinkAttempt reports whether a public link request (opening a link, a password or
// code attempt, a download) from client address ip may go ahead now; the HTTP layer answers
// 429 otherwise. The limit is per node (see the package doc).
func (s *Service) AllowLinkAttempt(ip string) bool { return s.limiter.allow(ip) }
