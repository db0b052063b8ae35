package transfer

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is a token bucket per client address, in memory on this node (see the package
// doc). IPv6 addresses share a bucket per /64, since one host commonly holds a whole /64.
type ipLimiter struct {
	limit rate.Limit
	burst int
	max   int
	now   func() time.Time

	mu      sync.Mutex // guards buckets
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newIPLimiter(c RateConfig, now func() time.Time) *ipLimiter {
	return &ipLimiter{
		limit:   rate.Limit(c.PerMinute / 60),
		burst:   c.Burst,
		max:     c.MaxClients,
		now:     now,
		buckets: make(map[netip.Addr]*bucket),
	}
}

// clientKey maps an address to its bucket's key: the IPv4 address, or the IPv6 /64. An
// unparsable address shares one bucket with every other unparsable one.
func clientKey(ip string) netip.Addr {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64) // cannot fail for a valid IPv6 address
		return p.Addr()
	}
	return a
}

func (l *ipLimiter) allow(ip string) bool {
	key := clientKey(ip)
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.evict(now)
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	return b.lim.AllowN(now, 1)
}

// evict forgets the buckets that are full again (idle long enough to have refilled), and
// if none is, the least recently seen half. Called with mu held.
func (l *ipLimiter) evict(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= refill {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) < l.max {
		return
	}
	var total time.Duration
	for _, b := range l.buckets {
		total += now.Sub(b.seen)
	}
	mean := total / time.Duration(len(l.buckets))
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= mean {
			delete(l.buckets, k)
		}
	}
}

// AllowLinkAttempt reports whether a public link request (opening a link, a password or
// code attempt, a download) from client address ip may go ahead now; the HTTP layer answers
// 429 otherwise. The limit is per node (see the package doc).
func (s *Service) AllowLinkAttempt(ip string) bool { return s.limiter.allow(ip) }
